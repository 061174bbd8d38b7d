import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import PodIdentityCore
import PodIdentityServer
import PodIdentitySources
import PodIdentityTestSupport
import Synchronization
import Testing

@Suite("Logs, TLS versions and debugging handlers", .serialized, .timeLimit(.minutes(5)))
struct ObservabilityTests {
    @Test("--log-format json writes one JSON object per line with the message, level and metadata")
    func jsonLogs() throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "piw") { label in
            JSONLogHandler(label: label) { line in lines.withLock { $0.append(line) } }
        }
        logger[metadataKey: "request"] = "r-1"
        logger.info("review", metadata: ["k8s.namespace": "shop", "quote": "a \"b\"\n"])
        logger.debug("hidden at info level")
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false, "exactly one line")
        let object = try JSONValue.parse(Data(line.utf8))
        #expect(object["message"] == "review")
        #expect(object["level"] == "info")
        #expect(object["logger"] == "piw")
        #expect(object["k8s.namespace"] == "shop")
        #expect(object["request"] == "r-1")
        #expect(object["quote"] == "a \"b\"\n")
        #expect(object["time"]?.stringValue?.contains("T") == true)
    }

    static func client(maximum: TLSVersion, trusting pem: String) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        tls.maximumTLSVersion = maximum
        tls.minimumTLSVersion = .tlsv1
        return HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: tls, timeout: .init(connect: .seconds(1), read: .seconds(5))))
    }

    @Test("TLS 1.2 is the minimum by default; --tls-min-version 1.3 refuses TLS 1.2")
    func tlsMinimum() async throws {
        let pair = try DevCertificate.make()
        let store = try CertificateStore(
            certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM, logger: LogCapture().logger)
        try await TestServer.with(certificates: store) { server in
            let old = try Self.client(maximum: .tlsv11, trusting: pair.certificatePEM)
            let current = try Self.client(maximum: .tlsv12, trusting: pair.certificatePEM)
            defer {
                old.shutdownInBackground()
                current.shutdownInBackground()
            }
            await #expect(throws: (any Error).self) {
                _ = try await old.execute(HTTPClientRequest(url: server.base + "/healthz"), timeout: .seconds(5))
            }
            let response = try await current.execute(
                HTTPClientRequest(url: server.base + "/healthz"), timeout: .seconds(5))
            #expect(response.status.code == 200)
        }
        try await TestServer.with(configure: { $0.tlsMinimumVersion = .tlsv13 }, certificates: store) { server in
            let tls12 = try Self.client(maximum: .tlsv12, trusting: pair.certificatePEM)
            let tls13 = try Self.client(maximum: .tlsv13, trusting: pair.certificatePEM)
            defer {
                tls12.shutdownInBackground()
                tls13.shutdownInBackground()
            }
            await #expect(throws: (any Error).self) {
                _ = try await tls12.execute(HTTPClientRequest(url: server.base + "/healthz"), timeout: .seconds(5))
            }
            let response = try await tls13.execute(
                HTTPClientRequest(url: server.base + "/healthz"), timeout: .seconds(5))
            #expect(response.status.code == 200)
        }
    }

    @Test("/debug/associations lists the cached pairs, only with --enable-debugging-handlers")
    func debugAssociations() async throws {
        let source = StaticAssociationSource([
            ServiceAccountRef(namespace: "b", name: "y"), ServiceAccountRef(namespace: "a", name: "x"),
        ])
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { client.shutdownInBackground() }
        try await TestServer.with(configure: { $0.debuggingHandlers = true }, source: source) { server in
            let response = try await client.execute(
                HTTPClientRequest(url: server.metricsBase + "/debug/associations"), timeout: .seconds(5))
            #expect(response.status.code == 200)
            let body = try JSONValue.parse(Data(buffer: try await response.body.collect(upTo: 1 << 20)))
            #expect(body["source"] == "flags")
            #expect(body["count"] == 2)
            #expect(body["ready"] == true)
            #expect(
                body["associations"]
                    == .array([
                        .object(["namespace": "a", "serviceAccount": "x"]),
                        .object(["namespace": "b", "serviceAccount": "y"]),
                    ]))
        }
        try await TestServer.with(source: source) { server in
            let response = try await client.execute(
                HTTPClientRequest(url: server.metricsBase + "/debug/associations"), timeout: .seconds(5))
            #expect(response.status.code == 404)
        }
    }
}
