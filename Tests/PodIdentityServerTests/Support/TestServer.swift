import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
import PodIdentityCore
import PodIdentityServer
import PodIdentitySources
import PodIdentityTestSupport


import ServiceLifecycle
import Synchronization

/// The production `WebhookServer`, on loopback with ports picked by the kernel, plus an
/// HTTP client that trusts its certificate.
struct TestServer {
    var webhookPort: Int
    var metricsPort: Int
    var server: WebhookServer
    var logs: LogCapture

    var base: String { "https://localhost:\(webhookPort)" }
    var metricsBase: String { "http://127.0.0.1:\(metricsPort)" }

    /// Runs `body` against a fresh server, then shuts the server down gracefully.
    static func with<T>(
        configure: (inout WebhookConfiguration) -> Void = { _ in },
        source: (any AssociationSource)? = nil,
        serviceAccounts: (any ServiceAccountLookup & Service)? = nil,
        certificates: CertificateStore? = nil,
        random: any RandomSource = SystemRandomSource(),
        _ body: (TestServer) async throws -> T
    ) async throws -> T {
        var configuration = WebhookConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.metricsPort = 0
        configure(&configuration)
        let logs = LogCapture()
        let logger = logs.logger
        let certificates = try certificates ?? TestCertificates.devStore(logger: logger)
        let server = WebhookServer(
            configuration: configuration,
            source: source ?? StaticAssociationSource([ServiceAccountRef(namespace: "default", name: "app")]),
            serviceAccounts: serviceAccounts, certificates: certificates, random: random, logger: logger)
        let (ports, continuation) = AsyncStream.makeStream(of: (WebhookServer.Listener, Int).self)
        let group = try server.makeServiceGroup(gracefulShutdownSignals: []) { listener, port in
            continuation.yield((listener, port))
        }
        return try await LoopbackServer.withRunning(group, onExit: { continuation.finish() }) {
            var webhookPort = 0, metricsPort = 0
            for await (listener, port) in ports {
                switch listener {
                case .webhook: webhookPort = port
                case .metrics: metricsPort = port
                }
                if webhookPort != 0 && metricsPort != 0 { break }
            }
            guard webhookPort != 0 && metricsPort != 0 else { throw ServerDidNotStart() }
            return try await body(
                TestServer(webhookPort: webhookPort, metricsPort: metricsPort, server: server, logs: logs))
        }
    }
}

enum TestCertificates {
    /// A fresh in-memory self-signed pair for localhost.
    static func devStore(logger: Logger) throws -> CertificateStore {
        let pair = try DevCertificate.make()
        return try CertificateStore(certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM, logger: logger)
    }

    /// An HTTP client that trusts exactly `certificatePEM` and speaks `version`.
    static func client(trusting certificatePEM: String, version: HTTPClient.Configuration.HTTPVersion = .automatic)
        throws -> HTTPClient
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)))
        tls.certificateVerification = .fullVerification
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, timeout: .init(connect: .seconds(1), read: .seconds(20)))
        configuration.httpVersion = version
        // Each test request on a new connection, so certificate rotation is observable.
        configuration.connectionPool = .init(idleTimeout: .milliseconds(1))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

extension HTTPClient {
    /// Starts the client's shutdown from synchronous code (a `defer`).
    func shutdownInBackground() {
        let done: EventLoopFuture<Void> = shutdown()
        _ = done
    }
}
