import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import PodIdentityCore
import PodIdentityServer
import PodIdentitySources
import PodIdentityTestSupport
import ServiceLifecycle
import Testing

/// End to end: the production server over real TLS on loopback, a real HTTP client.
@Suite("Webhook server over TLS", .serialized, .timeLimit(.minutes(5)))
struct WebhookServerTests {
    static let certificate = try! DevCertificate.make()

    static func store() throws -> CertificateStore {
        try CertificateStore(
            certificatePEM: certificate.certificatePEM, keyPEM: certificate.keyPEM, logger: LogCapture().logger)
    }

    static func post(
        _ client: HTTPClient, _ url: String, body: Data, contentType: String? = "application/json"
    ) async throws -> (status: Int, body: Data, version: HTTPVersion) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        request.body = .bytes(ByteBuffer(data: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return (Int(response.status.code), Data(buffer: bytes), response.version)
    }

    static func get(_ client: HTTPClient, _ url: String) async throws -> (status: Int, body: String) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1024 * 1024)
        return (Int(response.status.code), String(buffer: bytes))
    }

    @Test(
        "reviews in, patches out, over HTTP/1.1 and HTTP/2, echoing uid, apiVersion and kind",
        arguments: [
            (HTTPClient.Configuration.HTTPVersion.http1Only, "admission.k8s.io/v1"),
            (.http1Only, "admission.k8s.io/v1beta1"),
            (.automatic, "admission.k8s.io/v1"),
            (.automatic, "admission.k8s.io/v1beta1"),
        ])
    func reviews(_ version: HTTPClient.Configuration.HTTPVersion, _ apiVersion: String) async throws {
        try await TestServer.with(certificates: try Self.store(), random: FixedRandom(80000)) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM, version: version)
            defer { client.shutdownInBackground() }
            let uid = UUID().uuidString
            let answer = try await Self.post(
                client, server.base + "/mutate", body: Reviews.body(apiVersion: apiVersion, uid: uid))
            #expect(answer.status == 200)
            #expect(answer.version == (version == .http1Only ? .http1_1 : .http2))
            let review = try JSONValue.parse(answer.body)
            #expect(review["apiVersion"] == .string(apiVersion))
            #expect(review["kind"] == "AdmissionReview")
            #expect(review["response"]?["uid"] == .string(uid))
            #expect(review["response"]?["allowed"] == true)
            #expect(review["response"]?["patchType"] == "JSONPatch")
            let patchData = try #require(review["response"]?["patch"]?.stringValue.flatMap { Data(base64Encoded: $0) })
            let mutated = try JSONPatch(parsing: patchData).apply(to: Reviews.pod())
            let env = mutated["spec"]?["containers"].flatMap { if case .array(let c) = $0 { c.first } else { nil } }?[
                "env"]
            #expect(
                env
                    == .array([
                        .object(["name": "DB_PASSWORD", "value": "s3cr3t-value"]),
                        .object([
                            "name": "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                            "value": "http://169.254.170.23/v1/credentials",
                        ]),
                        .object([
                            "name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                            "value": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
                        ]),
                    ]))
        }
    }

    @Test("no association, another kind, UPDATE: allowed without a patch")
    func noPatch() async throws {
        try await TestServer.with(certificates: try Self.store()) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM)
            defer { client.shutdownInBackground() }
            for body in [
                Reviews.body(object: Reviews.pod(serviceAccount: "other")),
                Reviews.body(kind: "ConfigMap"),
                Reviews.body(operation: "UPDATE"),
            ] {
                let answer = try await Self.post(client, server.base + "/mutate", body: body)
                #expect(answer.status == 200)
                let review = try JSONValue.parse(answer.body)
                #expect(review["response"]?["allowed"] == true)
                #expect(review["response"]?["patch"] == nil)
                #expect(review["response"]?["patchType"] == nil)
            }
        }
    }

    @Test("bad input gets a clear HTTP error, and the server keeps serving")
    func badInput() async throws {
        try await TestServer.with(certificates: try Self.store()) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM, version: .http1Only)
            defer { client.shutdownInBackground() }
            let url = server.base + "/mutate"
            let valid = Reviews.body()
            let nested = Data((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8)
            let cases: [(String, Data, String?, Int, String)] = [
                ("empty body", Data(), "application/json", 400, "empty body"),
                ("not JSON", Data("hello".utf8), "application/json", 400, "not valid JSON"),
                ("a JSON array", Data("[1,2,3]".utf8), "application/json", 400, "not an object"),
                ("wrong content type", valid, "text/plain", 415, "Content-Type must be application/json"),
                ("no content type", valid, nil, 415, "Content-Type must be application/json"),
                ("oversized body", Data(count: 4 * 1024 * 1024 + 1), "application/json", 413, "larger than"),
                ("truncated JSON", valid.prefix(valid.count / 2), "application/json", 400, "not valid JSON"),
                ("10,000 levels of nesting", nested, "application/json", 400, "invalid AdmissionReview"),
                (
                    "invalid UTF-8", Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]), "application/json", 400,
                    "invalid AdmissionReview"
                ),
            ]
            for (name, body, contentType, status, message) in cases {
                let answer = try await Self.post(client, url, body: body, contentType: contentType)
                #expect(answer.status == status, "\(name)")
                let error = try? JSONValue.parse(answer.body)["error"]?["message"]?.stringValue
                #expect(
                    error?.contains(message) == true,
                    "\(name): \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
                // The next good review is answered as usual.
                #expect(try await Self.post(client, url, body: valid).status == 200, "after \(name)")
            }
            let charset = try await Self.post(client, url, body: valid, contentType: "application/json; charset=utf-8")
            #expect(charset.status == 200)
            let metrics = try await Self.get(client, server.metricsBase + "/metrics").body
            #expect(metrics.contains(#"pod_identity_webhook_rejected_requests_total{status="400"} 6"#))
            #expect(metrics.contains(#"pod_identity_webhook_rejected_requests_total{status="415"} 2"#))
            #expect(metrics.contains(#"pod_identity_webhook_rejected_requests_total{status="413"} 1"#))
        }
    }

    @Test("a client sending one byte per 100 ms times out alone while others are served")
    func slowClient() async throws {
        try await TestServer.with(configure: { $0.readTimeout = .seconds(1) }, certificates: try Self.store()) {
            server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM, version: .http1Only)
            defer { client.shutdownInBackground() }
            let body = Reviews.body()
            async let slow: Int = {
                var request = HTTPClientRequest(url: server.base + "/mutate")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .stream(
                    SlowBytes(data: body, interval: .milliseconds(100)), length: .known(Int64(body.count)))
                do {
                    let response = try await client.execute(request, timeout: .seconds(30))
                    return Int(response.status.code)
                } catch {
                    return -1  // the server may close the connection while we still send
                }
            }()
            // Meanwhile, ordinary reviews are answered promptly.
            try await Task.sleep(for: .milliseconds(200))
            let start = ContinuousClock.now
            for _ in 0..<20 {
                #expect(try await Self.post(client, server.base + "/mutate", body: body).status == 200)
            }
            #expect(ContinuousClock.now - start < .seconds(5))
            let status = await slow
            #expect(status == 408 || status == -1)
            let metrics = try await Self.get(client, server.metricsBase + "/metrics").body
            #expect(metrics.contains(#"pod_identity_webhook_rejected_requests_total{status="408"} 1"#))
        }
    }

    @Test("a certificate rotated on disk is served to new connections without a restart")
    func certificateRotation() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "piw-rotation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certFile = directory.appendingPathComponent("tls.crt"),
            keyFile = directory.appendingPathComponent("tls.key")
        let first = try DevCertificate.make(), second = try DevCertificate.make()
        try Data(first.certificatePEM.utf8).write(to: certFile)
        try Data(first.keyPEM.utf8).write(to: keyFile)
        let logs = LogCapture()
        let store = try CertificateStore(
            certificatePath: certFile.path, keyPath: keyFile.path, pollInterval: .milliseconds(100), logger: logs.logger
        )
        try await TestServer.with(certificates: store) { server in
            let trustsFirst = try TestCertificates.client(trusting: first.certificatePEM)
            let trustsSecond = try TestCertificates.client(trusting: second.certificatePEM)
            defer {
                trustsFirst.shutdownInBackground()
                trustsSecond.shutdownInBackground()
            }
            #expect(try await Self.get(trustsFirst, server.base + "/healthz").status == 200)
            await #expect(throws: (any Error).self) { _ = try await Self.get(trustsSecond, server.base + "/healthz") }

            // A half-written update (new certificate, old key) is refused; the old pair keeps serving.
            try Data(second.certificatePEM.utf8).write(to: certFile)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await Self.get(trustsFirst, server.base + "/healthz").status == 200)
            #expect(
                logs.all.contains {
                    $0.message.contains("keeping the current one") && $0.text.contains("does not match")
                })

            try Data(second.keyPEM.utf8).write(to: keyFile)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await Self.get(trustsSecond, server.base + "/healthz").status == 200)
            await #expect(throws: (any Error).self) { _ = try await Self.get(trustsFirst, server.base + "/healthz") }
        }
    }

    @Test("metrics: reviews by decision, a sub-millisecond latency histogram, the associations gauge")
    func metrics() async throws {
        try await TestServer.with(certificates: try Self.store()) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM)
            defer { client.shutdownInBackground() }
            _ = try await Self.post(client, server.base + "/mutate", body: Reviews.body())
            _ = try await Self.post(
                client, server.base + "/mutate", body: Reviews.body(object: Reviews.pod(serviceAccount: "x")))
            _ = try await Self.post(client, server.base + "/mutate", body: Reviews.body(operation: "DELETE"))
            let (status, text) = try await Self.get(client, server.metricsBase + "/metrics")
            #expect(status == 200)
            #expect(text.contains(#"pod_identity_webhook_reviews_total{decision="mutated"} 1"#))
            #expect(text.contains(#"pod_identity_webhook_reviews_total{decision="not-associated"} 1"#))
            #expect(text.contains(#"pod_identity_webhook_reviews_total{decision="ignored"} 1"#))
            #expect(text.contains(#"pod_identity_webhook_review_duration_seconds_bucket{le="0.0001"}"#))
            #expect(text.contains(#"pod_identity_webhook_review_duration_seconds_count 3"#))
            #expect(text.contains("pod_identity_webhook_associations 1"))
            #expect(try await Self.get(client, server.base + "/healthz").status == 200)
            #expect(try await Self.get(client, server.base + "/readyz").status == 200)
        }
    }

    @Test("one log line per review with namespace, pod, service account, decision and duration; never an env value")
    func logging() async throws {
        try await TestServer.with(certificates: try Self.store()) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM)
            defer { client.shutdownInBackground() }
            let secret = "hunter2-\(UUID().uuidString)"
            _ = try await Self.post(
                client, server.base + "/mutate", body: Reviews.body(uid: "log-1", object: Reviews.pod(secret: secret)))
            _ = try await Self.post(client, server.base + "/mutate", body: Data("{\"spec\":\"\(secret)\"".utf8))
            let reviews = server.logs.all.filter { $0.message == "review" }
            #expect(reviews.count == 1)
            let line = try #require(reviews.first)
            #expect(line.metadata["k8s.namespace"] == "default")
            #expect(line.metadata["k8s.pod"] == "web-1")
            #expect(line.metadata["k8s.service_account"] == "app")
            #expect(line.metadata["admission.decision"] == "mutated")
            #expect(line.metadata["admission.uid"] == "log-1")
            #expect(Double(line.metadata["duration_ms"] ?? "") != nil)
            #expect(!server.logs.all.contains { $0.text.contains(secret) })
        }
    }

    @Test("graceful shutdown finishes the review in flight")
    func gracefulShutdown() async throws {
        let logs = LogCapture()
        var configuration = WebhookConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.metricsPort = 0
        let server = WebhookServer(
            configuration: configuration,
            source: StaticAssociationSource([ServiceAccountRef(namespace: "default", name: "app")]),
            certificates: try Self.store(), logger: logs.logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = try server.makeServiceGroup(gracefulShutdownSignals: []) { listener, port in
            if listener == .webhook { continuation.yield(port) }
        }
        let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM, version: .http1Only)
        defer { client.shutdownInBackground() }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let body = Reviews.body()
            var request = HTTPClientRequest(url: "https://localhost:\(port)/mutate")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            // The body takes about a second to arrive; shutdown starts half-way.
            let chunk = max(1, body.count / 10)
            request.body = .stream(
                SlowChunks(data: body, chunk: chunk, interval: .milliseconds(100)), length: .known(Int64(body.count)))
            async let response = client.execute(request, timeout: .seconds(30))
            try await Task.sleep(for: .milliseconds(450))
            await group.triggerGracefulShutdown()
            let answer = try await response
            #expect(answer.status == .ok)
            let bytes = try await answer.body.collect(upTo: 1024 * 1024)
            #expect(try JSONValue.parse(Data(buffer: bytes))["response"]?["patch"] != nil)
            try await tasks.waitForAll()
        }
    }
}

struct FixedRandom: RandomSource {
    let value: Int64
    init(_ value: Int64) { self.value = value }
    func int64(in range: ClosedRange<Int64>) -> Int64 { value }
}

/// Bytes that trickle out one at a time.
struct SlowBytes: AsyncSequence, Sendable {
    typealias Element = UInt8
    let data: Data
    let interval: Duration

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: Data.SubSequence
        let interval: Duration
        mutating func next() async throws -> UInt8? {
            guard let byte = remaining.first else { return nil }
            try await Task.sleep(for: interval)
            remaining = remaining.dropFirst()
            return byte
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: data[...], interval: interval) }
}

/// Chunks of a body, spaced in time.
struct SlowChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let data: Data
    let chunk: Int
    let interval: Duration

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: Data.SubSequence
        let chunk: Int
        let interval: Duration
        mutating func next() async throws -> ByteBuffer? {
            guard !remaining.isEmpty else { return nil }
            try await Task.sleep(for: interval)
            let piece = remaining.prefix(chunk)
            remaining = remaining.dropFirst(piece.count)
            return ByteBuffer(data: piece)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: data[...], chunk: chunk, interval: interval) }
}
