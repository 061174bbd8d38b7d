import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2
import NIOSSL
import NIOTLS

/// The webhook listener's connections, built here rather than taken from Hummingbird's
/// `http2Upgrade` so that every connection has a bounded lifetime and cost:
/// - tracked by the listener's `ConnectionRegistry` (the cap, and who gives way at it);
/// - closed when its TLS handshake is not done within `handshakeTimeout`;
/// - HTTP/1.1 (Hummingbird's own channel, with its idle timeout) or HTTP/2 by ALPN;
/// - HTTP/2 advertising `maxConcurrentStreams` (NIO's default is 100), closed when idle and
///   after GOAWAY whether or not the client answers, every stream reset after `streamLifetime`;
/// - request bodies held to the `BodyBudget` before they are buffered (`BodyBudgetHandler`);
/// - a refused body (408, 413, 503) ends its connection or stream.
struct WebhookChannel: HTTPChannelHandler {
    struct Configuration: Sendable {
        var handshakeTimeout: Duration = .seconds(10)
        var idleTimeout: Duration = .seconds(90)
        var gracefulCloseTimeout: Duration = .seconds(10)
        var streamLifetime: Duration = .seconds(20)
        var maxConcurrentStreams = 16
        var maxBodySize = 4 * 1024 * 1024
    }

    typealias HTTP1Value = HTTP1Channel.Value
    typealias HTTP2Value = NIOHTTP2Handler.AsyncStreamMultiplexer<HTTP1Channel.Value>

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HTTP1Value, HTTP2Value>>
        let channel: any Channel
    }

    let responder: Responder
    private let configuration: Configuration
    private let sslContext: NIOSSLContext
    private let http1: HTTP1Channel
    private let registry: ConnectionRegistry
    private let metrics: TransportMetrics
    private let budget: BodyBudget
    private let refused: @Sendable () -> Void

    /// `refused` counts a request answered 503 for want of room in `budget`.
    init(
        tlsConfiguration: TLSConfiguration, configuration: Configuration, registry: ConnectionRegistry,
        budget: BodyBudget, metrics: TransportMetrics, refused: @escaping @Sendable () -> Void,
        responder: @escaping Responder
    ) throws {
        var tls = tlsConfiguration
        tls.applicationProtocols = NIOHTTP2SupportedALPNProtocols
        // After our close_notify, wait at most this for the client's before closing the socket
        // (NIO's default is 5 s, each one holding a file descriptor).
        tls.shutdownTimeout = .seconds(1)
        self.sslContext = try NIOSSLContext(configuration: tls)
        self.configuration = configuration
        self.registry = registry
        self.metrics = metrics
        self.budget = budget
        self.refused = refused
        self.responder = responder
        let maxBodySize = configuration.maxBodySize
        self.http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(
                additionalChannelHandlers: [
                    HTTP1ActivityHandler(registry: registry), RefusalCloseHandler(announce: true),
                    BodyBudgetHandler(
                        budget: budget, maxBodySize: maxBodySize, refused: refused,
                        changed: metrics.setBodyBytesInFlight),
                ],
                idleTimeout: .init(configuration.idleTimeout)))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(ConnectionTrackingHandler(registry: registry))
            try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
            try pipeline.addHandler(
                HandshakeDeadlineHandler(
                    timeout: .init(configuration.handshakeTimeout), registry: registry, metrics: metrics))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let http1 = self.http1
        return channel.configureHTTP2AsyncSecureUpgrade(
            http1ConnectionInitializer: { channel in http1.setup(channel: channel, logger: logger) },
            http2ConnectionInitializer: { channel in setupHTTP2(channel, logger: logger) }
        ).map { Value(negotiated: $0, channel: channel) }
    }

    private func setupHTTP2(_ channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP2Value> {
        let configuration = self.configuration, registry = self.registry, metrics = self.metrics
        let budget = self.budget, refused = self.refused
        return channel.eventLoop.makeCompletedFuture {
            let lifetime = HTTP2ConnectionLifetime(
                eventLoop: channel.eventLoop, idleTimeout: .init(configuration.idleTimeout),
                gracefulCloseTimeout: .init(configuration.gracefulCloseTimeout), registry: registry, metrics: metrics)
            var http2 = NIOHTTP2Handler.Configuration()
            http2.connection.initialSettings = [
                HTTP2Setting(parameter: .maxConcurrentStreams, value: configuration.maxConcurrentStreams),
                // NIO's default header list limit, restated because the list is replaced whole.
                HTTP2Setting(parameter: .maxHeaderListSize, value: 16 * 1024),
            ]
            let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(
                mode: .server, streamDelegate: lifetime.streamDelegate, configuration: http2
            ) { stream in
                stream.eventLoop.makeCompletedFuture {
                    let pipeline = stream.pipeline.syncOperations
                    try pipeline.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                    try pipeline.addHandler(
                        StreamDeadlineHandler(
                            lifetime: .init(configuration.streamLifetime), listener: registry.listener,
                            metrics: metrics))
                    try pipeline.addHandler(RefusalCloseHandler(announce: false))
                    try pipeline.addHandler(
                        BodyBudgetHandler(
                            budget: budget, maxBodySize: configuration.maxBodySize, refused: refused,
                            changed: metrics.setBodyBytesInFlight))
                    return try HTTP1Channel.Value(wrappingChannelSynchronously: stream)
                }
            }
            try channel.pipeline.syncOperations.addHandler(lifetime)
            return multiplexer
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let connection):
                await http1.handle(value: connection, logger: logger)
            case .http2(let multiplexer):
                try await withThrowingDiscardingTaskGroup { group in
                    for try await stream in multiplexer.inbound {
                        group.addTask { await handleHTTP(asyncChannel: stream, logger: logger) }
                    }
                }
            }
        } catch {
            logger.debug("connection ended before or during negotiation", metadata: ["error": "\(error)"])
        }
    }
}
