import NIOCore
import NIOHTTPTypes

/// Tells the connection registry when an HTTP/1.1 connection is serving a request and when it
/// is idle again, so that the cap never closes a connection in the middle of a review.
final class HTTP1ActivityHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let registry: ConnectionRegistry
    private var inProgress = 0

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            inProgress += 1
            if inProgress == 1 { registry.set(context.channel, .busy) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), inProgress > 0 {
            inProgress -= 1
            if inProgress == 0 { registry.set(context.channel, .idle) }
        }
        context.write(data, promise: promise)
    }
}
