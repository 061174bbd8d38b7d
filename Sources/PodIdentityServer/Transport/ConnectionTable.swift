/// The open connections of one listener as its cap sees them, and which one gives way when a
/// new connection arrives at the cap. Pure: the registry keeps it under a lock and does the
/// closing.
///
/// At the cap a new connection is still accepted, and the connection that matters least is
/// closed for it, in this order (the oldest first within each):
/// 1. one that has had `patience` to finish its TLS handshake and has not (a client on a
///    working network needs milliseconds);
/// 2. one that finished its handshake `requestPatience` ago or more and has sent no request
///    since (a client sends its request right after its handshake);
/// 3. one still within its handshake's patience;
/// 4. one that finished its handshake less than `requestPatience` ago (its request is on the way);
/// 5. one idle after serving requests, the one idle longest.
/// A connection in the middle of a request is never chosen. This keeps the file descriptors
/// and memory of a listener bounded, while a flood of connections that do nothing cannot lock
/// out the API server: silent connections go first, a client handshaking right now goes
/// before the kept-alive connections that are actually used, and those go last.
struct ConnectionTable<ID: Hashable, Instant: InstantProtocol> {
    enum Phase: Equatable {
        /// Accepted; the TLS handshake has not finished.
        case handshaking
        /// Established; no request yet.
        case fresh
        /// Established, has served requests, none in progress.
        case idle
        /// Serving a request (HTTP/1.1) or at least one stream (HTTP/2).
        case busy
    }

    private struct Entry {
        var phase: Phase
        /// When the connection entered `phase`, on the table's own event counter (for order)
        /// and on the clock (for patience).
        var since: UInt64
        var at: Instant
    }

    let limit: Int
    let patience: Instant.Duration
    let requestPatience: Instant.Duration
    private var entries: [ID: Entry] = [:]
    private var events: UInt64 = 0

    init(limit: Int, patience: Instant.Duration, requestPatience: Instant.Duration) {
        self.limit = max(1, limit)
        self.patience = patience
        self.requestPatience = requestPatience
    }

    var count: Int { entries.count }

    func phase(of id: ID) -> Phase? { entries[id]?.phase }

    /// Adds `id`; past the limit, removes and returns the connection to close for it, or nil
    /// when every other connection is busy.
    mutating func open(_ id: ID, now: Instant) -> ID? {
        events += 1
        entries[id] = Entry(phase: .handshaking, since: events, at: now)
        guard entries.count > limit else { return nil }
        var victim: (id: ID, rank: Int, since: UInt64)?
        for (other, entry) in entries where other != id {
            let rank: Int
            switch entry.phase {
            case .handshaking: rank = entry.at.advanced(by: patience) <= now ? 0 : 2
            case .fresh: rank = entry.at.advanced(by: requestPatience) <= now ? 1 : 3
            case .idle: rank = 4
            case .busy: continue
            }
            if let current = victim, (current.rank, current.since) <= (rank, entry.since) { continue }
            victim = (other, rank, entry.since)
        }
        guard let victim else { return nil }
        entries[victim.id] = nil
        return victim.id
    }

    mutating func set(_ id: ID, _ phase: Phase, now: Instant) {
        guard var entry = entries[id], entry.phase != phase else { return }
        events += 1
        entry.phase = phase
        entry.since = events
        entry.at = now
        entries[id] = entry
    }

    mutating func close(_ id: ID) {
        entries[id] = nil
    }
}
