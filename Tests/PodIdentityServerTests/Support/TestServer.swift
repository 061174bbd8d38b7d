import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
import PodIdentityCore
import PodIdentityServer
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
            certificates: certificates, random: random, logger: logger)
        let (ports, continuation) = AsyncStream.makeStream(of: (WebhookServer.Listener, Int).self)
        let group = try server.makeServiceGroup(gracefulShutdownSignals: []) { listener, port in
            continuation.yield((listener, port))
        }
        return try await LoopbackServer.withRunning(group) {
            var webhookPort = 0, metricsPort = 0
            for await (listener, port) in ports {
                switch listener {
                case .webhook: webhookPort = port
                case .metrics: metricsPort = port
                }
                if webhookPort != 0 && metricsPort != 0 { break }
            }
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

/// Collects every log line the server writes, for assertions.
final class LogCapture: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        /// Everything in the entry, for "never logged" checks.
        var text: String { "\(message) \(metadata)" }
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    fileprivate func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append(
                Entry(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
        }
    }
}

/// Review bodies for the tests.
enum Reviews {
    static func pod(
        name: String = "web-1", serviceAccount: String = "app", secret: String = "s3cr3t-value", containers: Int = 1
    ) -> JSONValue {
        .object([
            "apiVersion": "v1", "kind": "Pod",
            "metadata": .object(["name": .string(name), "namespace": "default"]),
            "spec": .object([
                "serviceAccountName": .string(serviceAccount),
                "containers": .array(
                    (0..<containers).map { index in
                        .object([
                            "name": .string("c\(index)"), "image": "nginx",
                            "env": .array([.object(["name": "DB_PASSWORD", "value": .string(secret)])]),
                        ])
                    }),
            ]),
        ])
    }

    static func body(
        apiVersion: String = "admission.k8s.io/v1", uid: String = "uid-1", kind: String = "Pod",
        operation: String = "CREATE", object: JSONValue = pod()
    ) -> Data {
        JSONValue.object([
            "apiVersion": .string(apiVersion), "kind": "AdmissionReview",
            "request": .object([
                "uid": .string(uid), "kind": .object(["group": "", "version": "v1", "kind": .string(kind)]),
                "resource": .object(["group": "", "version": "v1", "resource": "pods"]),
                "namespace": "default", "operation": .string(operation), "object": object,
            ]),
        ]).jsonData
    }
}

extension HTTPClient {
    /// Starts the client's shutdown from synchronous code (a `defer`).
    func shutdownInBackground() {
        let done: EventLoopFuture<Void> = shutdown()
        _ = done
    }
}
