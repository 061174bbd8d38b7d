import Hummingbird
import Logging
import ServiceLifecycle

/// Runs servers for the duration of a test, then shuts them down gracefully, also when the
/// test throws, so no listener outlives its test.
public enum LoopbackServer {
    /// Runs `group` while `body` runs. `onExit` is called when the group stops by itself (a
    /// listener that could not bind, say): pass the `finish` of the stream `body` waits on
    /// for ports, so a server that never comes up fails the test instead of hanging it.
    public static func withRunning<T>(
        _ group: ServiceGroup, onExit: @escaping @Sendable () -> Void = {}, _ body: () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { onExit() }
                try await group.run()
            }
            do {
                let result = try await body()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// Serves `router` on 127.0.0.1, on a port the kernel picks, and passes the port to `body`.
    public static func serve<T>(
        _ router: Router<BasicRequestContext>, _ body: (Int) async throws -> T
    ) async throws -> T {
        let quiet = Logger(label: "loopback-server", factory: { _ in SwiftLogNoOpLogHandler() })
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: quiet)
        return try await withRunning(ServiceGroup(services: [app], logger: quiet), onExit: { continuation.finish() }) {
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port != 0 else { throw ServerDidNotStart() }
            return try await body(port)
        }
    }
}

/// A test server stopped before it reported its port (it could not bind, or failed at start).
public struct ServerDidNotStart: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the server stopped before it was listening" }
}
