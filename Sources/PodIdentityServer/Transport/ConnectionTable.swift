/// The open connections of one listener as its cap sees them, and which one gives way when a
/// new connection arrives at the cap. Pure: the registry keeps it under a lock and does the
/// closing.
///
/// At the cap a new connection is still accepted, and the connection that matters least is
/// closed for it: the one that has waited longest without finishing its TLS handshake, else
/// the one idle longest. A connection in the middle of a request is never chosen. This keeps
/// the file descriptors and memory of a listener bounded, while a flood of connections that
/// do nothing cannot lock out the API server's next one: they are what gets closed.
struct ConnectionTable<ID: Hashable> {
    enum Phase: Equatable {
        /// Accepted; the TLS handshake has not finished.
        case handshaking
        /// Established, no request in progress.
        case idle
        /// Serving a request (HTTP/1.1) or at least one stream (HTTP/2).
        case busy
    }

    private struct Entry {
        var phase: Phase
        /// When the connection entered `phase`, on the table's own event counter.
        var since: UInt64
    }

    let limit: Int
    private var entries: [ID: Entry] = [:]
    private var events: UInt64 = 0

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    var count: Int { entries.count }

    func phase(of id: ID) -> Phase? { entries[id]?.phase }

    /// Adds `id`; past the limit, removes and returns the connection to close for it, or nil
    /// when every other connection is busy.
    mutating func open(_ id: ID) -> ID? {
        events += 1
        entries[id] = Entry(phase: .handshaking, since: events)
        guard entries.count > limit else { return nil }
        var victim: (id: ID, rank: Int, since: UInt64)?
        for (other, entry) in entries where other != id {
            let rank: Int
            switch entry.phase {
            case .handshaking: rank = 0
            case .idle: rank = 1
            case .busy: continue
            }
            if let current = victim, (current.rank, current.since) <= (rank, entry.since) { continue }
            victim = (other, rank, entry.since)
        }
        guard let victim else { return nil }
        entries[victim.id] = nil
        return victim.id
    }

    mutating func set(_ id: ID, _ phase: Phase) {
        guard var entry = entries[id], entry.phase != phase else { return }
        events += 1
        entry.phase = phase
        entry.since = events
        entries[id] = entry
    }

    mutating func close(_ id: ID) {
        entries[id] = nil
    }
}
