import AsyncHTTPClient
import Foundation
import PodIdentityServer
import PodIdentityTestSupport
import Testing

/// HTTP/2 clients that misbehave, spoken frame by frame over real TLS: the server advertises
/// few streams, closes a connection whose client never answers, and resets a stream whose
/// answer cannot be delivered.
@Suite("HTTP/2 connection and stream lifetimes", .serialized, .timeLimit(.minutes(2)))
struct HTTP2LifetimeTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// One frame: 9-byte header, then the payload.
    static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let length = UInt32(payload.count)
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags]
            + [UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
            + payload
    }

    /// A header block of literal fields without indexing or Huffman coding (RFC 7541 §6.2.2).
    static func headerBlock(_ fields: [(String, String)]) -> [UInt8] {
        var block: [UInt8] = []
        for (name, value) in fields {
            block.append(0x00)
            for text in [name, value] {
                let bytes = Array(text.utf8)
                precondition(bytes.count < 127, "short fields only")
                block.append(UInt8(bytes.count))
                block += bytes
            }
        }
        return block
    }

    /// The frames in `bytes` as (type, flags, stream, payload).
    static func frames(_ bytes: [UInt8]) -> [(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8])] {
        var result: [(UInt8, UInt8, UInt32, [UInt8])] = []
        var index = 0
        while index + 9 <= bytes.count {
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            guard index + 9 + length <= bytes.count else { break }
            let stream = UInt32(bytes[index + 5] & 0x7f) << 24 | UInt32(bytes[index + 6]) << 16
                | UInt32(bytes[index + 7]) << 8 | UInt32(bytes[index + 8])
            result.append((bytes[index + 3], bytes[index + 4], stream, Array(bytes[(index + 9)..<(index + 9 + length)])))
            index += 9 + length
        }
        return result
    }

    /// The value of `parameter` in the server's first SETTINGS frame.
    static func setting(_ parameter: UInt16, in bytes: [UInt8]) -> UInt32? {
        guard let settings = frames(bytes).first(where: { $0.type == 0x4 && $0.flags & 0x1 == 0 }) else { return nil }
        var index = 0
        while index + 6 <= settings.payload.count {
            let id = UInt16(settings.payload[index]) << 8 | UInt16(settings.payload[index + 1])
            let value = settings.payload[(index + 2)..<(index + 6)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            if id == parameter { return value }
            index += 6
        }
        return nil
    }

    @Test("advertises 16 concurrent streams, and closes an idle connection whose client never answers anything")
    func silentClient() async throws {
        try await TestServer.with(
            configure: { $0.idleTimeout = .milliseconds(500) }, certificates: try ConnectionLimitsTests.store()
        ) { server in
            let connection = try await RawConnection.connect(
                port: server.webhookPort, trusting: ConnectionLimitsTests.certificate.certificatePEM, alpn: ["h2"])
            // The preface and an empty SETTINGS; then never a SETTINGS ACK, never a PING ACK. On a
            // loaded machine the idle timeout may already have closed the connection: that is
            // the behaviour under test too, so a failed send is not a failure.
            try? await connection.send(Self.preface + Self.frame(type: 0x4))
            #expect(await connection.closed(within: .seconds(10)))
            #expect(Self.setting(0x3, in: connection.receivedBytes) == 16)
            #expect(Self.frames(connection.receivedBytes).contains { $0.type == 0x7 })  // GOAWAY before the close
        }
    }

    @Test("a stream whose answer sits in a closed flow-control window is reset, then the connection closed")
    func zeroWindow() async throws {
        try await TestServer.with(
            configure: {
                $0.readTimeout = .milliseconds(300)
                $0.gracefulCloseTimeout = .milliseconds(300)
                // Long enough for the request to arrive on a loaded machine.
                $0.idleTimeout = .seconds(2)
            }, certificates: try ConnectionLimitsTests.store()
        ) { server in
            let client = try TestCertificates.client(trusting: ConnectionLimitsTests.certificate.certificatePEM)
            defer { client.shutdownInBackground() }
            let connection = try await RawConnection.connect(
                port: server.webhookPort, trusting: ConnectionLimitsTests.certificate.certificatePEM, alpn: ["h2"])
            let body = Array(Reviews.body())
            // SETTINGS_INITIAL_WINDOW_SIZE = 0: the server may send headers but no DATA.
            let settings = Self.frame(type: 0x4, [0x00, 0x04, 0x00, 0x00, 0x00, 0x00])
            let headers = Self.frame(
                type: 0x1, flags: 0x4, stream: 1,
                Self.headerBlock([
                    (":method", "POST"), (":scheme", "https"), (":path", "/mutate"), (":authority", "localhost"),
                    ("content-type", "application/json"), ("content-length", String(body.count)),
                ]))
            let data = Self.frame(type: 0x0, flags: 0x1, stream: 1, body)
            try await connection.send(Self.preface + settings + headers + data)
            #expect(await connection.closed(within: .seconds(15)))
            let frames = Self.frames(connection.receivedBytes)
            #expect(frames.contains { $0.type == 0x1 && $0.stream == 1 })  // the answer's HEADERS
            #expect(frames.contains { $0.type == 0x3 && $0.stream == 1 })  // then RST_STREAM
            #expect(!frames.contains { $0.type == 0x0 && $0.stream == 1 })  // and no DATA ever
            #expect(
                try await ConnectionLimitsTests.metric(
                    server,
                    #"pod_identity_webhook_connections_closed_total{listener="webhook",reason="stream_timeout"} 1"#,
                    client: client))
        }
    }

    @Test("over HTTP/2 a body past the in-flight budget is refused and its stream reset, before its data is read")
    func bodyBudget() async throws {
        try await TestServer.with(
            configure: { $0.bodyBytesInFlight = 8 * 1024 * 1024 }, certificates: try ConnectionLimitsTests.store()
        ) { server in
            let client = try TestCertificates.client(trusting: ConnectionLimitsTests.certificate.certificatePEM)
            defer { client.shutdownInBackground() }
            let headers = Self.frame(
                type: 0x1, flags: 0x4, stream: 1,
                Self.headerBlock([
                    (":method", "POST"), (":scheme", "https"), (":path", "/mutate"), (":authority", "localhost"),
                    ("content-type", "application/json"), ("content-length", "4000000"),
                ]))
            var connections: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try await RawConnection.connect(
                    port: server.webhookPort, trusting: ConnectionLimitsTests.certificate.certificatePEM,
                    alpn: ["h2"])
                try await connection.send(
                    Self.preface + Self.frame(type: 0x4) + headers
                        + Self.frame(type: 0x0, stream: 1, Array(repeating: 0x20, count: 1000)))
                connections.append(connection)
                // The first holds 4,000,000 of the 6 MiB large bodies may use; the second cannot.
                var reserved = false
                for _ in 0..<100 where !reserved && connections.count == 1 {
                    reserved = try await ConnectionLimitsTests.metric(
                        server, "pod_identity_webhook_body_bytes_in_flight 4000000.0", client: client)
                    if !reserved { try await Task.sleep(for: .milliseconds(20)) }
                }
            }
            var reset = false
            for _ in 0..<250 where !reset {
                reset = Self.frames(connections[1].receivedBytes).contains { $0.type == 0x3 && $0.stream == 1 }
                if !reset { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(reset)
            #expect(!Self.frames(connections[0].receivedBytes).contains { $0.type == 0x3 && $0.stream == 1 })
            #expect(
                try await ConnectionLimitsTests.metric(
                    server, "pod_identity_webhook_body_budget_refusals_total 1", client: client))
            let answer = try await WebhookServerTests.post(client, server.base + "/mutate", body: Reviews.body())
            #expect(answer.status == 200)
            for connection in connections { connection.close() }
        }
    }
}
