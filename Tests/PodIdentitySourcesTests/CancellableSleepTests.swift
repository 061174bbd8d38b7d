import NIOCore
import NIOPosix
import PodIdentitySources
import Testing

@Suite("cancellableSleep", .timeLimit(.minutes(5)))
struct CancellableSleepTests {
    @Test("a short sleep ends on its own")
    func sleepsThenReturns() async throws {
        try await cancellableSleep(for: .milliseconds(20))
    }

    @Test("cancelling an hour-long sleep ends it at once with CancellationError, and removes its timer")
    func cancellationEndsTheSleep() async throws {
        let eventLoop = NIOSingletons.posixEventLoopGroup.any()
        let sleeper = Task { try await cancellableSleep(for: .seconds(3_600), on: eventLoop) }
        try await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        let result = await sleeper.result
        #expect(throws: CancellationError.self) { try result.get() }
    }

    @Test("a task cancelled before it sleeps does not sleep")
    func alreadyCancelled() async throws {
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await cancellableSleep(for: .seconds(3_600))
        }
        let result = await sleeper.result
        #expect(throws: CancellationError.self) { try result.get() }
    }
}
