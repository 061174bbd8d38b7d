import Foundation
import Logging
import PodIdentityCore
import ServiceLifecycle
import Synchronization

/// Associations from a YAML or JSON file (`--associations-file`), re-read when it changes.
///
/// The file is polled rather than watched with inotify so that Kubernetes' ConfigMap
/// updates (an atomic symlink swap) are seen like any other edit. A broken file keeps the
/// previous snapshot and logs why, once per distinct problem.
public final class FileAssociationSource: AssociationSource {
    public let path: String
    private let extra: [ServiceAccountRef]
    private let pollInterval: Duration
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var snapshot: AssociationSnapshot
        var lastContent: Data
        var lastProblem: String?
    }

    /// Loads the file once; fails with a clear message if it cannot be read or parsed, so a
    /// misconfigured webhook does not start serving without its associations.
    public init(
        path: String, extra: [ServiceAccountRef] = [], pollInterval: Duration = .seconds(2), logger: Logger
    ) throws(AssociationFileError) {
        self.path = path
        self.extra = extra
        self.pollInterval = pollInterval
        self.logger = logger
        let content = try Self.read(path)
        let refs: [ServiceAccountRef]
        do {
            refs = try AssociationFile.parse(content)
        } catch {
            throw AssociationFileError("\(path): \(error.description)")
        }
        state = Mutex(State(snapshot: Self.snapshot(refs + extra, path: path), lastContent: content))
        logger.info(
            "loaded associations file",
            metadata: ["associations.file": "\(path)", "associations.count": "\(refs.count)"])
    }

    public var snapshot: AssociationSnapshot { state.withLock { $0.snapshot } }
    public var isReady: Bool { true }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.pollInterval) }
            } catch {
                return
            }
            reloadIfChanged()
        }
    }

    /// Re-reads the file; swaps the snapshot only if the content changed and parses.
    /// Returns true when a new snapshot was installed.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let content: Data
        do {
            content = try Self.read(path)
        } catch {
            report(problem: error.description)
            return false
        }
        if state.withLock({ $0.lastContent == content && $0.lastProblem == nil }) { return false }
        do {
            let refs = try AssociationFile.parse(content)
            state.withLock {
                $0.snapshot = Self.snapshot(refs + extra, path: path)
                $0.lastContent = content
                $0.lastProblem = nil
            }
            logger.info(
                "reloaded associations file",
                metadata: ["associations.file": "\(path)", "associations.count": "\(refs.count)"])
            return true
        } catch {
            report(problem: "\(path): \(error.description)")
            state.withLock { $0.lastContent = content }
            return false
        }
    }

    private func report(problem: String) {
        let isNew = state.withLock { state in
            defer { state.lastProblem = problem }
            return state.lastProblem != problem
        }
        if isNew {
            logger.error(
                "associations file unusable, keeping the previous associations",
                metadata: ["associations.file": "\(path)", "error": "\(problem)"])
        }
    }

    private static func snapshot(_ refs: [ServiceAccountRef], path: String) -> AssociationSnapshot {
        AssociationSnapshot(refs, source: "file:\(path)")
    }

    private static func read(_ path: String) throws(AssociationFileError) -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw AssociationFileError("\(path): cannot read the file (\(error.localizedDescription))")
        }
    }
}
