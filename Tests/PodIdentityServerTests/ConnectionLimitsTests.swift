import AsyncHTTPClient
import Foundation
import PodIdentityServer
import PodIdentityTestSupport
import Testing

/// Hostile clients against the real server on loopback: every connection has a lifetime, a
/// listener has a cap that idle connections give way at, and request bodies share a budget.
@Suite("Connection lifetimes and limits", .serialized, .timeLimit(.minutes(3)))
struct ConnectionLimitsTests {
    static let certificate = try! DevCertificate.make()

    static func store() throws -> CertificateStore {
        try CertificateStore(
            certificatePEM: certificate.certificatePEM, keyPEM: certificate.keyPEM, logger: LogCapture().logger)
    }

    static func metric(_ server: TestServer, _ line: String, client: HTTPClient) async throws -> Bool {
        try await WebhookServerTests.get(client, server.metricsBase + "/metrics").body.contains(line)
    }

    @Test("a connection that never finishes its TLS handshake is closed at the handshake timeout")
    func handshakeTimeout() async throws {
        try await TestServer.with(
            configure: { $0.tlsHandshakeTimeout = .milliseconds(300) }, certificates: try Self.store()
        ) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM)
            defer { client.shutdownInBackground() }
            let start = ContinuousClock.now
            let silent = try await RawConnection.connect(port: server.webhookPort)
            let halfHello = try await RawConnection.connect(port: server.webhookPort)
            try await halfHello.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])  // a ClientHello's first bytes
            #expect(await silent.closed(within: .seconds(10)))
            #expect(await halfHello.closed(within: .seconds(10)))
            #expect(ContinuousClock.now - start >= .milliseconds(250))
            // A real client, handshaking at once, is served.
            let answer = try await WebhookServerTests.post(client, server.base + "/mutate", body: Reviews.body())
            #expect(answer.status == 200)
            #expect(
                try await Self.metric(
                    server,
                    #"pod_identity_webhook_connections_closed_total{listener="webhook",reason="tls_handshake_timeout"} 2"#,
                    client: client))
        }
    }

    @Test("at the cap the connections waiting longest give way, and a review still gets in")
    func capEvictsOldestIdle() async throws {
        try await TestServer.with(configure: { $0.maxConnections = 16 }, certificates: try Self.store()) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM, version: .http1Only)
            defer { client.shutdownInBackground() }
            var held: [RawConnection] = []
            for _ in 0..<16 { held.append(try await RawConnection.connect(port: server.webhookPort)) }
            // Wait until the server has all 16, so the order it saw them in is the order here.
            let full = #"pod_identity_webhook_open_connections{listener="webhook"} 16.0"#
            var seen = false
            for _ in 0..<100 where !seen {
                seen = try await Self.metric(server, full, client: client)
                if !seen { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(seen)
            for _ in 0..<4 { held.append(try await RawConnection.connect(port: server.webhookPort)) }
            // Four of the first sixteen give way (which four depends on the order the event
            // loops registered them in, not quite the connect order); the newcomers stay.
            let deadline = ContinuousClock.now + .seconds(5)
            while held[0..<16].filter({ !$0.isOpen }).count < 4 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(held[0..<16].filter { !$0.isOpen }.count == 4)
            #expect(held[0..<12].filter { !$0.isOpen }.count == 4)
            for connection in held[16...] { #expect(connection.isOpen) }
            for _ in 0..<3 {
                let answer = try await WebhookServerTests.post(client, server.base + "/mutate", body: Reviews.body())
                #expect(answer.status == 200)
            }
            // Four for the newcomers, at least one for the client's first connection (a loaded
            // machine may see the client open another, which evicts again).
            let exposition = try await WebhookServerTests.get(client, server.metricsBase + "/metrics").body
            let prefix = #"pod_identity_webhook_connections_closed_total{listener="webhook",reason="evicted"} "#
            let evicted = exposition.split(separator: "\n").first { $0.hasPrefix(prefix) }
                .flatMap { Double($0.dropFirst(prefix.count)) }
            #expect((evicted ?? 0) >= 5)
            for connection in held { connection.close() }
        }
    }

    @Test("the metrics port closes a connection that never completes its request")
    func metricsIdleTimeout() async throws {
        try await TestServer.with(configure: { $0.idleTimeout = .milliseconds(500) }, certificates: try Self.store()) {
            server in
            let idle = try await RawConnection.connect(port: server.metricsPort)
            let dribbling = try await RawConnection.connect(port: server.metricsPort)
            try await dribbling.send("GET /hea")
            #expect(await idle.closed(within: .seconds(10)))
            #expect(await dribbling.closed(within: .seconds(10)))
        }
    }

    @Test("a large body past the in-flight budget gets 503, Retry-After and a closed connection; small reviews pass")
    func bodyBudget() async throws {
        // 8 MiB: large bodies may hold 6 MiB of it, the rest is kept for ordinary reviews.
        try await TestServer.with(
            configure: { $0.bodyBytesInFlight = 8 * 1024 * 1024 }, certificates: try Self.store()
        ) { server in
            let client = try TestCertificates.client(trusting: Self.certificate.certificatePEM)
            defer { client.shutdownInBackground() }
            let head =
                "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n"
            let first = try await RawConnection.connect(port: server.webhookPort, trusting: Self.certificate.certificatePEM)
            try await first.send(head + String(repeating: " ", count: 1000))
            var reserved = false
            for _ in 0..<100 where !reserved {
                reserved = try await Self.metric(
                    server, "pod_identity_webhook_body_bytes_in_flight 4000000.0", client: client)
                if !reserved { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(reserved)

            let second = try await RawConnection.connect(port: server.webhookPort, trusting: Self.certificate.certificatePEM)
            try await second.send(head)
            #expect(await second.closed(within: .seconds(5)))
            let answer = second.receivedText.lowercased()
            #expect(answer.hasPrefix("http/1.1 503"))
            #expect(answer.contains("retry-after: 1"))
            #expect(answer.contains("connection: close"))

            for _ in 0..<5 {
                let review = try await WebhookServerTests.post(client, server.base + "/mutate", body: Reviews.body())
                #expect(review.status == 200)
            }
            #expect(try await Self.metric(server, "pod_identity_webhook_body_budget_refusals_total 1", client: client))
            #expect(
                try await Self.metric(
                    server, #"pod_identity_webhook_rejected_requests_total{status="503"} 1"#, client: client))

            // The staller's reservation is given back when its connection goes.
            first.close()
            var released = false
            for _ in 0..<200 where !released {
                released = try await Self.metric(
                    server, "pod_identity_webhook_body_bytes_in_flight 0.0", client: client)
                if !released { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(released)
        }
    }
}
