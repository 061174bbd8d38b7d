import Hummingbird
import Logging
import ServiceLifecycle

/// Runs servers for the duration of a test, then shuts them down gracefully, also when the
/// test throws, so no listener outlives its test.
public enum LoopbackServer {
    /// Runs `group` while `body` runs.
    public static func withRunning<T>(_ group: ServiceGroup, _ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
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
        return try await withRunning(ServiceGroup(services: [app], logger: quiet)) {
            var iterator = ports.makeAsyncIterator()
            return try await body(await iterator.next() ?? 0)
        }
    }
}
