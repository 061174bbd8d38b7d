import NIOCore
import Synchronization

/// The connections of one listener: counts them, caps them, and closes the one that gives way
/// (see `ConnectionTable`). Handlers of the connection's pipeline report its phase.
final class ConnectionRegistry: Sendable {
    let listener: String
    private let metrics: TransportMetrics
    typealias Table = ConnectionTable<ObjectIdentifier, ContinuousClock.Instant>
    private let state: Mutex<(table: Table, channels: [ObjectIdentifier: any Channel])>

    /// `patience`: how long a handshake may take before its connection is the first to give way.
    init(listener: String, limit: Int, patience: Duration = .seconds(1), metrics: TransportMetrics) {
        self.listener = listener
        self.metrics = metrics
        self.state = Mutex((Table(limit: limit, patience: patience), [:]))
    }

    var count: Int { state.withLock { $0.table.count } }

    func opened(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let (victim, count): ((any Channel)?, Int) = state.withLock { state in
            state.channels[id] = channel
            let victim = state.table.open(id, now: .now).flatMap { state.channels.removeValue(forKey: $0) }
            return (victim, state.table.count)
        }
        metrics.setOpenConnections(count, listener: listener)
        if let victim {
            metrics.recordClosed(listener: listener, reason: .evicted)
            victim.close(promise: nil)
        }
    }

    func set(_ channel: any Channel, _ phase: Table.Phase) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.table.set(id, phase, now: .now) }
    }

    func closed(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let count = state.withLock { state in
            state.table.close(id)
            state.channels[id] = nil
            return state.table.count
        }
        metrics.setOpenConnections(count, listener: listener)
    }
}

/// First in every accepted connection's pipeline: tells the registry it opened and closed.
final class ConnectionTrackingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let registry: ConnectionRegistry
    private var registered = false

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard !registered else { return }
        registered = true
        registry.opened(context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if registered {
            registered = false
            registry.closed(context.channel)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if registered {
            registered = false
            registry.closed(context.channel)
        }
    }
}
