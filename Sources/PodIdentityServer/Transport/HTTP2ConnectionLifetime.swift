import NIOCore
import NIOHTTP2

/// The lifetime of one HTTP/2 connection: closed after `idleTimeout` without a stream, and on
/// graceful shutdown (or idleness) told GOAWAY and then closed as soon as its streams are done,
/// or after `gracefulCloseTimeout` whatever the client does: no PING round trip is waited for,
/// so a client that never answers cannot keep the connection. Sits right after the HTTP/2
/// handler; NIO calls `streamDelegate` as streams open and close.
final class HTTP2ConnectionLifetime: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let idleTimeout: TimeAmount
    private let gracefulCloseTimeout: TimeAmount
    private let registry: ConnectionRegistry
    private let metrics: TransportMetrics
    private let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    private var openStreams = 0
    private var lastStreamID = HTTP2StreamID.rootStream
    private var idleTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    private var goingAway = false

    init(
        eventLoop: any EventLoop, idleTimeout: TimeAmount, gracefulCloseTimeout: TimeAmount,
        registry: ConnectionRegistry, metrics: TransportMetrics
    ) {
        self.eventLoop = eventLoop
        self.idleTimeout = idleTimeout
        self.gracefulCloseTimeout = gracefulCloseTimeout
        self.registry = registry
        self.metrics = metrics
    }

    /// What NIO calls as streams open and close (always on the connection's event loop).
    var streamDelegate: any NIOHTTP2StreamDelegate { StreamDelegate(handler: .init(self, eventLoop: eventLoop)) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        closeTimer?.cancel()
        idleTimer = nil
        closeTimer = nil
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            goAway()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        closeTimer?.cancel()
        context.fireChannelInactive()
    }

    fileprivate func streamCreated(_ id: HTTP2StreamID) {
        openStreams += 1
        if id > lastStreamID { lastStreamID = id }
        idleTimer?.cancel()
        idleTimer = nil
        if openStreams == 1, let context { registry.set(context.channel, .busy) }
    }

    fileprivate func streamClosed(_ id: HTTP2StreamID) {
        openStreams = max(0, openStreams - 1)
        guard openStreams == 0, let context else { return }
        registry.set(context.channel, .idle)
        if goingAway {
            // NIO reports a stream closed when its last frame is written, before that write is
            // flushed: closing now would drop the answer. Close once this event-loop turn, and
            // its flush, are done.
            context.eventLoop.assumeIsolated().execute { context.close(promise: nil) }
        } else {
            armIdleTimer()
        }
    }

    private func armIdleTimer() {
        guard let context, !goingAway, openStreams == 0 else { return }
        idleTimer?.cancel()
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { [weak self] in
            self?.idleTimer = nil
            self?.goAway()
        }
    }

    /// Sends GOAWAY naming the last stream this connection will serve, then closes once the
    /// open streams are done, or when `gracefulCloseTimeout` runs out.
    private func goAway() {
        guard let context, !goingAway else { return }
        goingAway = true
        idleTimer?.cancel()
        idleTimer = nil
        let frame = HTTP2Frame(
            streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        if openStreams == 0 {
            context.close(promise: nil)
            return
        }
        let metrics = self.metrics, listener = registry.listener
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: gracefulCloseTimeout) { [weak self] in
            guard let self, let context = self.context else { return }
            metrics.recordClosed(listener: listener, reason: .goAwayTimeout)
            context.close(promise: nil)
        }
    }

    private struct StreamDelegate: NIOHTTP2StreamDelegate {
        let handler: NIOLoopBound<HTTP2ConnectionLifetime>

        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
            handler.value.streamCreated(id)
        }

        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
            handler.value.streamClosed(id)
        }
    }
}

/// Resets an HTTP/2 stream still open `lifetime` after it began: its body never came, or its
/// answer sits undelivered in a flow-control window the client never opens.
final class StreamDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let lifetime: TimeAmount
    private let listener: String
    private let metrics: TransportMetrics
    private var deadline: Scheduled<Void>?

    init(lifetime: TimeAmount, listener: String, metrics: TransportMetrics) {
        self.lifetime = lifetime
        self.listener = listener
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let metrics = self.metrics, listener = self.listener
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: lifetime) {
            metrics.recordClosed(listener: listener, reason: .streamTimeout)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }
}
