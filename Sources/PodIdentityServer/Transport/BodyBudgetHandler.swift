import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Holds each request body to the listener's `BodyBudget`, on the event loop, before a byte
/// of the body is buffered: the declared `Content-Length` is reserved when the request head
/// arrives (a body without one reserves as its parts arrive), and given back once the answer
/// has been written or the connection is gone.
///
/// A request the budget has no room for never reaches the router: it is answered 503 with
/// `Retry-After: 1` from here, the rest of its body is dropped as it arrives, and
/// `RefusalCloseHandler` (before this one) ends the connection or stream. A body that runs past
/// its reservation without a declared length, when there is no room left, ends the connection.
/// Bodies over `maxBodySize` are left to the router's 413.
final class BodyBudgetHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let budget: BodyBudget
    private let maxBodySize: Int
    private let refused: @Sendable () -> Void
    private let changed: @Sendable (Int) -> Void
    private var held = 0
    private var declared: Int?
    private var received = 0
    private var dropping = false

    /// `refused` counts a 503; `changed` is told the budget's bytes in use after each change.
    init(
        budget: BodyBudget, maxBodySize: Int, refused: @escaping @Sendable () -> Void,
        changed: @escaping @Sendable (Int) -> Void
    ) {
        self.budget = budget
        self.maxBodySize = maxBodySize
        self.refused = refused
        self.changed = changed
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !dropping else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            received = 0
            declared = head.headerFields[.contentLength].flatMap { Int($0) }
            if let declared, declared > 0, declared <= maxBodySize {
                guard reserve(declared, bodySize: declared) else { return refuse(context) }
            }
        case .body(let part):
            received += part.readableBytes
            if received > held && received <= maxBodySize
                && !reserve(received - held, bodySize: max(received, declared ?? 0))
            {
                refused()
                dropping = true
                context.close(promise: nil)
                return
            }
        case .end:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { release() }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func reserve(_ bytes: Int, bodySize: Int) -> Bool {
        guard let inUse = budget.reserve(bytes, bodySize: bodySize) else { return false }
        held += bytes
        changed(inUse)
        return true
    }

    private func release() {
        guard held > 0 else { return }
        let inUse = budget.release(held)
        held = 0
        changed(inUse)
    }

    private func refuse(_ context: ChannelHandlerContext) {
        refused()
        dropping = true
        let body = ByteBuffer(string: "too many request bodies in flight (\(budget.capacity) bytes); retry\n")
        var head = HTTPResponse(status: .serviceUnavailable)
        head.headerFields[.retryAfter] = "1"
        head.headerFields[.contentType] = "text/plain; charset=utf-8"
        head.headerFields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
