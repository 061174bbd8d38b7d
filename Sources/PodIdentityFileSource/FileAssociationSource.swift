import Foundation
import Logging
import PodIdentityCore
import PodIdentitySources
import ServiceLifecycle
import Synchronization

/// Associations from a YAML or JSON file (`--associations-file`), re-read when it changes.
///
/// The file is polled by a `FileWatcher`, so Kubernetes' ConfigMap updates (an atomic symlink
/// swap) are seen like any other edit. A broken file keeps the previous snapshot and logs why,
/// once per distinct problem.
public final class FileAssociationSource: AssociationSource {
    public let path: String
    private let extra: [ServiceAccountRef]
    private let logger: Logger
    private let watcher: FileWatcher
    private let current: Mutex<AssociationSnapshot>

    /// Loads the file once; fails with a clear message if it cannot be read or parsed, so a
    /// misconfigured webhook does not start serving without its associations.
    public init(
        path: String, extra: [ServiceAccountRef] = [], pollInterval: Duration = .seconds(2), logger: Logger
    ) throws(AssociationFileError) {
        self.path = path
        self.extra = extra
        self.logger = logger
        let content: Data
        do {
            content = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw AssociationFileError("\(path): cannot read the file (\(error.localizedDescription))")
        }
        let refs: [ServiceAccountRef]
        do {
            refs = try AssociationFile.parse(content)
        } catch {
            throw AssociationFileError("\(path): \(error.description)")
        }
        current = Mutex(AssociationSnapshot(refs + extra, source: "file:\(path)"))
        watcher = FileWatcher(
            paths: [path], interval: pollInterval, logger: logger,
            problemMessage: "associations file unusable, keeping the previous associations",
            metadata: ["associations.file": "\(path)"])
        watcher.loaded([content])
        logger.info(
            "loaded associations file", metadata: ["associations.file": "\(path)", "associations.count": "\(refs.count)"])
    }

    public var snapshot: AssociationSnapshot { current.withLock { $0 } }
    public var isReady: Bool { true }

    public func association(of ref: ServiceAccountRef) async -> AssociationLookup {
        .snapshot(current.withLock { $0.contains(ref) }, .file)
    }

    public func run() async throws {
        await watcher.run { [self] in try self.install($0) }
    }

    /// Re-reads the file; swaps the snapshot only if the content changed and parses.
    /// Returns true when a new snapshot was installed.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        watcher.check { try install($0) }
    }

    private func install(_ content: [Data]) throws {
        let refs: [ServiceAccountRef]
        do {
            refs = try AssociationFile.parse(content[0])
        } catch {
            throw AssociationFileError("\(path): \(error.description)")
        }
        current.withLock { $0 = AssociationSnapshot(refs + extra, source: "file:\(path)") }
        logger.info(
            "reloaded associations file",
            metadata: ["associations.file": "\(path)", "associations.count": "\(refs.count)"])
    }
}
