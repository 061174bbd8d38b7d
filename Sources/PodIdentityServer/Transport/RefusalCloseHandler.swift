import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes the connection (HTTP/1.1) or resets the stream (HTTP/2) once an answer that refused
/// the request's body has been written: 408 (too slow), 413 (too large) and 503 (body budget
/// full). The rest of that body is then never read, and its buffers go with the connection.
/// Over HTTP/1.1 the answer says `Connection: close`; HTTP/2 forbids that header, and the
/// stream reset says it instead.
final class RefusalCloseHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let refusals: Set<HTTPResponse.Status> = [.requestTimeout, .contentTooLarge, .serviceUnavailable]

    private let announce: Bool
    private var closing = false

    /// `announce`: add `Connection: close` to the answer (HTTP/1.1 only).
    init(announce: Bool) {
        self.announce = announce
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where Self.refusals.contains(head.status):
            closing = true
            if announce {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
            context.write(data, promise: promise)
        case .end where closing:
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}
