import NIOCore
import NIOTLS

/// Closes a connection whose TLS handshake has not finished within `timeout` of its accept:
/// a client that connects and sends nothing, half a ClientHello, or a ClientHello a byte at a
/// time would otherwise hold its socket and buffers forever. Sits right after the TLS handler,
/// whose completed handshake it sees, and tells the connection registry the connection is
/// established. On graceful shutdown such a connection is closed at once.
final class HandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let registry: ConnectionRegistry
    private let metrics: TransportMetrics
    private var deadline: Scheduled<Void>?
    private var done = false

    init(timeout: TimeAmount, registry: ConnectionRegistry, metrics: TransportMetrics) {
        self.timeout = timeout
        self.registry = registry
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !done {
            // Shutting down: a connection not yet through its handshake has nothing to finish.
            done = true
            deadline?.cancel()
            deadline = nil
            registry.closeNow(context.channel)
            return
        }
        if case TLSUserEvent.handshakeCompleted = event {
            done = true
            deadline?.cancel()
            deadline = nil
            registry.set(context.channel, .fresh)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done = true
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard !done, deadline == nil else { return }
        let metrics = self.metrics, listener = registry.listener, registry = self.registry
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.done else { return }
            self.done = true
            metrics.recordClosed(listener: listener, reason: .tlsHandshakeTimeout)
            registry.closeNow(context.channel)
        }
    }
}
