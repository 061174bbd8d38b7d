import NIOCore
import Synchronization

/// The connections of one listener: counts them, caps them, and closes the one that gives way
/// (see `ConnectionTable`). Handlers of the connection's pipeline report its phase.
final class ConnectionRegistry: Sendable {
    let listener: String
    private let metrics: TransportMetrics
    typealias Table = ConnectionTable<ObjectIdentifier, ContinuousClock.Instant>
    /// Closes one connection at once, from the front of its pipeline: no TLS close_notify, no
    /// wait for a client that is not listening (NIO's TLS handler would wait for its answer).
    struct Closer: Sendable {
        let close: @Sendable () -> Void
    }

    private let state: Mutex<(table: Table, closers: [ObjectIdentifier: Closer])>

    /// `patience`: how long a handshake may take before its connection is the first to give way;
    /// `requestPatience`: how long after its handshake a connection may take to send a request.
    init(
        listener: String, limit: Int, patience: Duration = .seconds(1),
        requestPatience: Duration = .milliseconds(100), metrics: TransportMetrics
    ) {
        self.listener = listener
        self.metrics = metrics
        self.state = Mutex((Table(limit: limit, patience: patience, requestPatience: requestPatience), [:]))
    }

    var count: Int { state.withLock { $0.table.count } }

    func opened(_ channel: any Channel, closer: Closer) {
        let id = ObjectIdentifier(channel)
        let (victim, count): (Closer?, Int) = state.withLock { state in
            state.closers[id] = closer
            let victim = state.table.open(id, now: .now).flatMap { state.closers.removeValue(forKey: $0) }
            return (victim, state.table.count)
        }
        metrics.setOpenConnections(count, listener: listener)
        if let victim {
            metrics.recordClosed(listener: listener, reason: .evicted)
            victim.close()
        }
    }

    /// Closes `channel` at once (see `Closer`).
    func closeNow(_ channel: any Channel) {
        let closer = state.withLock { $0.closers[ObjectIdentifier(channel)] }
        if let closer { closer.close() } else { channel.close(promise: nil) }
    }

    func set(_ channel: any Channel, _ phase: Table.Phase) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.table.set(id, phase, now: .now) }
    }

    func closed(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let count = state.withLock { state in
            state.table.close(id)
            state.closers[id] = nil
            return state.table.count
        }
        metrics.setOpenConnections(count, listener: listener)
    }
}

/// First in every accepted connection's pipeline: tells the registry it opened and closed,
/// and closes it from here when the registry says so.
final class ConnectionTrackingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let registry: ConnectionRegistry
    private var registered = false
    private var context: ChannelHandlerContext?

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard !registered else { return }
        registered = true
        self.context = context
        let eventLoop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        registry.opened(
            context.channel,
            closer: .init(close: {
                eventLoop.execute { handler.value.context?.close(promise: nil) }
            }))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        if registered {
            registered = false
            registry.closed(context.channel)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        if registered {
            registered = false
            registry.closed(context.channel)
        }
    }
}
