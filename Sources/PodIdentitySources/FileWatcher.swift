import AsyncAlgorithms
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Polls a set of files and hands their bytes to a loader when they change: the one
/// poll/compare/report-once loop behind the associations file and the TLS pair.
///
/// Polling rather than inotify, so that Kubernetes' ConfigMap and Secret updates (an atomic
/// `..data` symlink swap) are seen like any other edit. A read or load failure keeps what was
/// loaded before and is logged once per distinct problem; the same broken bytes are not
/// loaded again.
public final class FileWatcher: Sendable {
    public let paths: [String]
    private let interval: Duration
    private let logger: Logger
    private let problemMessage: Logger.Message
    private let metadata: Logger.Metadata
    private let state = Mutex<State>(State())

    private struct State {
        var content: [Data]?
        var problem: String?
    }

    /// - Parameters:
    ///   - problemMessage: the log line of a problem, e.g. "associations file unusable, keeping
    ///     the previous associations"; `metadata` goes with it, plus `error`.
    public init(
        paths: [String], interval: Duration, logger: Logger, problemMessage: Logger.Message,
        metadata: Logger.Metadata = [:]
    ) {
        self.paths = paths
        self.interval = interval
        self.logger = logger
        self.problemMessage = problemMessage
        self.metadata = metadata
    }

    /// Records what the owner loaded at start, so the first poll does not load it again.
    public func loaded(_ content: [Data]) {
        state.withLock { $0 = State(content: content, problem: nil) }
    }

    /// Every `interval` until graceful shutdown or cancellation: `check(load)`.
    public func run(load: @escaping @Sendable ([Data]) throws -> Void) async {
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            check(load)
        }
    }

    /// Reads the files; calls `load` only when their bytes differ from the last loaded (or
    /// last refused) ones. Returns true when `load` succeeded. An error `load` throws is the
    /// problem logged, by its description.
    @discardableResult
    public func check(_ load: ([Data]) throws -> Void) -> Bool {
        let content: [Data]
        do {
            content = try paths.map { path in
                do {
                    return try Data(contentsOf: URL(fileURLWithPath: path))
                } catch {
                    throw Problem("\(path): cannot read the file (\(error.localizedDescription))")
                }
            }
        } catch {
            report("\(error)")
            return false
        }
        if state.withLock({ $0.content == content }) { return false }
        do {
            try load(content)
            state.withLock { $0 = State(content: content, problem: nil) }
            return true
        } catch {
            state.withLock { $0.content = content }
            report("\(error)")
            return false
        }
    }

    private func report(_ problem: String) {
        let isNew = state.withLock { state in
            defer { state.problem = problem }
            return state.problem != problem
        }
        if isNew {
            logger.error(problemMessage, metadata: metadata.merging(["error": "\(problem)"]) { $1 })
        }
    }

    private struct Problem: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
