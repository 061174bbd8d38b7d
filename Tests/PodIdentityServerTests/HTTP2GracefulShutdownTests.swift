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
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An association source whose every lookup waits until the test opens it, counting the
/// reviews that reached it: it holds reviews in flight for as long as the test needs.
final class HeldLookupSource: AssociationSource {
    private let state = Mutex<(arrived: Int, open: Bool, waiters: [CheckedContinuation<Void, Never>])>((0, false, []))
    let snapshot = AssociationSnapshot([], source: "held")
    var isReady: Bool { true }
    var arrived: Int { state.withLock { $0.arrived } }

    func association(of ref: ServiceAccountRef) async -> AssociationLookup {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                state.arrived += 1
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if now { continuation.resume() }
        }
        return .snapshot(true)
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func run() async throws { try? await gracefulShutdown() }
}

/// A body in chunks spaced in time that counts the chunks it has handed to the client.
struct CountedSlowBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    final class Progress: Sendable {
        private let sent = Mutex(0)
        var chunks: Int { sent.withLock { $0 } }
        func add() { sent.withLock { $0 += 1 } }
    }

    let data: Data
    let chunks: Int
    let interval: Duration
    let progress: Progress

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: Data.SubSequence
        let size: Int
        let interval: Duration
        let progress: Progress
        var first = true
        mutating func next() async throws -> ByteBuffer? {
            guard !remaining.isEmpty else { return nil }
            if !first { try await Task.sleep(for: interval) }
            first = false
            let piece = remaining.prefix(size)
            remaining = remaining.dropFirst(piece.count)
            progress.add()
            return ByteBuffer(data: piece)
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(
            remaining: data[...], size: Swift.max(1, (data.count + chunks - 1) / chunks), interval: interval,
            progress: progress)
    }
}

/// Graceful shutdown over HTTP/2: several review streams in flight on one connection when
/// shutdown starts. The listener stops accepting, every open stream still gets its whole
/// answer on the same connection, and the server then stops by itself.
@Suite("Graceful shutdown over HTTP/2", .serialized, .timeLimit(.minutes(2)))
struct HTTP2GracefulShutdownTests {
    static let streams = 5
    static let chunks = 20

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted now (closed at once).
    static func accepts(port: Int) -> Bool {
        #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Polls `condition` every 10 ms until it holds or `limit` has passed.
    static func eventually(within limit: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }

    /// An HTTP/2-capable client (ALPN h2) trusting the test certificate, keeping its
    /// connection so that every request after the first is a stream on it.
    static func client() throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(
            try NIOSSLCertificate.fromPEMBytes(Array(WebhookServerTests.certificate.certificatePEM.utf8)))
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .seconds(60)))
        configuration.httpVersion = .automatic
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    struct Answer: Sendable {
        var uid: String
        var status: Int
        var version: HTTPVersion
        var review: JSONValue?
    }

    static func post(_ client: HTTPClient, port: Int, uid: String, body: HTTPClientRequest.Body) async throws -> Answer
    {
        var request = HTTPClientRequest(url: "https://localhost:\(port)/mutate")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = body
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Answer(
            uid: uid, status: Int(response.status.code), version: response.version,
            review: try? JSONValue.parse(Data(buffer: bytes)))
    }

    /// Runs the production server with `source`, opens the HTTP/2 connection, and hands
    /// `body` the port, the client and the group; `body` must shut the group down. Returns
    /// when the group has stopped.
    static func withServer(
        source: any AssociationSource,
        _ body: @Sendable (_ port: Int, _ client: HTTPClient, _ group: ServiceGroup) async throws -> Void
    ) async throws {
        var configuration = WebhookConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.metricsPort = 0
        let server = WebhookServer(
            configuration: configuration, source: source, certificates: try WebhookServerTests.store(),
            logger: LogCapture().logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = try server.makeServiceGroup(gracefulShutdownSignals: []) { listener, port in
            if listener == .webhook { continuation.yield(port) }
        }
        let client = try Self.client()
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    defer { continuation.finish() }
                    try await group.run()
                }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                do {
                    // The connection: one request first, so the others are streams on it.
                    let warmUp = try await client.execute(
                        HTTPClientRequest(url: "https://localhost:\(port)/healthz"), timeout: .seconds(30))
                    _ = try await warmUp.body.collect(upTo: 1024)
                    #expect(warmUp.version == .http2, "ALPN chose HTTP/2")
                    try await body(port, client, group)
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                try await tasks.waitForAll()
                #expect(!Self.accepts(port: port), "the server stopped")
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func expectAnswered(_ answers: [Answer]) {
        #expect(answers.count == streams)
        for answer in answers {
            #expect(answer.status == 200, "\(answer.uid)")
            #expect(answer.version == .http2, "\(answer.uid)")
            #expect(answer.review?["response"]?["uid"] == .string(answer.uid))
            #expect(answer.review?["response"]?["allowed"] == true)
            #expect(answer.review?["response"]?["patch"] != nil, "\(answer.uid): associated, so mutated")
        }
    }

    @Test("reviews held in the association lookup when shutdown starts all get their answers; then the server stops")
    func heldReviews() async throws {
        let source = HeldLookupSource()
        try await Self.withServer(source: source) { port, client, group in
            try await withThrowingTaskGroup(of: Answer.self) { streams in
                for index in 0..<Self.streams {
                    streams.addTask {
                        let uid = "h2-held-\(index)"
                        return try await Self.post(
                            client, port: port, uid: uid,
                            body: .bytes(ByteBuffer(data: Reviews.body(uid: uid, object: Reviews.pod()))))
                    }
                }
                // Every review is in the server, waiting on the source.
                #expect(try await Self.eventually(within: .seconds(30)) { source.arrived == Self.streams })
                await group.triggerGracefulShutdown()
                // Shutdown has begun: the listener no longer accepts connections.
                #expect(try await Self.eventually(within: .seconds(30)) { !Self.accepts(port: port) })
                source.open()
                Self.expectAnswered(try await streams.reduce(into: [Answer]()) { $0.append($1) })
            }
        }
    }

    @Test("reviews whose bodies are still arriving when shutdown starts are read to the end and answered")
    func bodiesStillArriving() async throws {
        let source = HeldLookupSource()
        source.open()
        try await Self.withServer(source: source) { port, client, group in
            let progress = (0..<Self.streams).map { _ in CountedSlowBody.Progress() }
            try await withThrowingTaskGroup(of: Answer.self) { streams in
                for index in 0..<Self.streams {
                    streams.addTask {
                        let uid = "h2-slow-\(index)"
                        let data = Reviews.body(uid: uid, object: Reviews.pod())
                        // About 3 s to arrive in all.
                        let body = CountedSlowBody(
                            data: data, chunks: Self.chunks, interval: .milliseconds(150), progress: progress[index])
                        return try await Self.post(
                            client, port: port, uid: uid, body: .stream(body, length: .known(Int64(data.count))))
                    }
                }
                // Every stream is open and has sent part of its body, none all of it.
                #expect(try await Self.eventually(within: .seconds(30)) { progress.allSatisfy { $0.chunks >= 2 } })
                await group.triggerGracefulShutdown()
                #expect(try await Self.eventually(within: .seconds(30)) { !Self.accepts(port: port) })
                #expect(
                    progress.allSatisfy { $0.chunks < Self.chunks },
                    "every body was still arriving once shutdown had begun")
                Self.expectAnswered(try await streams.reduce(into: [Answer]()) { $0.append($1) })
                #expect(source.arrived == Self.streams)
            }
        }
    }
}
