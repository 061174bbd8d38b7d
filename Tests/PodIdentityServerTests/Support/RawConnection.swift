import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// A client connection that does only what a test tells it: connect (with or without TLS),
/// send bytes, and watch what comes back and whether the server closed it. The hostile
/// clients of the connection-lifetime tests.
final class RawConnection: Sendable {
    let channel: any Channel
    private let recorder: Recorder

    private init(channel: any Channel, recorder: Recorder) {
        self.channel = channel
        self.recorder = recorder
    }

    /// Connects to 127.0.0.1:`port`; with `trusting`, over TLS to "localhost" trusting that PEM
    /// (the handshake is done when this returns).
    static func connect(port: Int, trusting certificatePEM: String? = nil, alpn: [String] = ["http/1.1"])
        async throws -> RawConnection
    {
        let box = Recorder()
        let tlsContext = try certificatePEM.map { pem -> NIOSSLContext in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            tls.applicationProtocols = alpn
            return try NIOSSLContext(configuration: tls)
        }
        let handshake = Mutex<EventLoopPromise<Void>?>(nil)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let promise = channel.eventLoop.makePromise(of: Void.self)
                        handshake.withLock { $0 = promise }
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tlsContext, serverHostname: "localhost"))
                        try channel.pipeline.syncOperations.addHandler(HandshakeWaiter(promise: promise))
                    }
                    try channel.pipeline.syncOperations.addHandler(box)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        if let promise = handshake.withLock({ $0 }) { try await promise.futureResult.get() }
        return RawConnection(channel: channel, recorder: box)
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    var receivedBytes: [UInt8] { recorder.bytes.withLock { $0 } }

    var receivedText: String { String(decoding: recorder.bytes.withLock { $0 }, as: UTF8.self) }

    var isOpen: Bool { channel.isActive }

    /// True when the server closed the connection within `timeout`.
    func closed(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !channel.isActive { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !channel.isActive
    }

    func close() {
        channel.close(promise: nil)
    }

    private final class Recorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<[UInt8]>([])

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }
    }

    private final class HandshakeWaiter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let promise: EventLoopPromise<Void>

        init(promise: EventLoopPromise<Void>) {
            self.promise = promise
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event { promise.succeed() }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.ioOnClosedChannel)
            context.fireChannelInactive()
        }
    }
}
