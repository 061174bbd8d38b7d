import Foundation
import Logging
import PodIdentityCore
import PodIdentityServer
import ServiceLifecycle
import Synchronization

/// Associations from the EKS API: a full `ListPodIdentityAssociations` every sync interval,
/// and a targeted lookup when a review misses the cache.
///
/// A full sync swaps the snapshot only after the complete listing; a failed sync keeps the
/// last good one. The miss lookup closes the race where a pod is created seconds after its
/// association: it asks EKS for that one `(namespace, serviceAccount)`, single-flight per
/// key, within a global rate limit, remembers "not associated" for a short time, and never
/// keeps a review waiting longer than its timeout. Any failure there answers "not associated".
public final class EKSAssociationSource: AssociationSource {
    public struct Configuration: Sendable {
        public var cluster: String
        /// `--sync-interval`, with ±`syncJitter` spread so replicas do not poll in step.
        public var syncInterval: Duration = .seconds(30)
        public var syncJitter = 0.1
        /// `--miss-lookup-timeout`; zero turns the miss lookup off.
        public var missLookupTimeout: Duration = .seconds(1)
        /// `--miss-lookup-negative-ttl`: how long "not associated" is remembered.
        public var missLookupNegativeTTL: Duration = .seconds(30)
        /// `--miss-lookup-rate` per second, with `missLookupBurst` tokens.
        public var missLookupRate = 5.0
        public var missLookupBurst = 10.0

        public init(cluster: String) { self.cluster = cluster }
    }

    /// The outcome of the last full sync, for `/debug/associations` and logs.
    public struct SyncStatus: Sendable {
        public var lastSuccess: Date?
        public var lastError: String?
        public var lastDuration: Duration?
    }

    public enum MissLookupResult: String, Sendable {
        case found, notFound = "not-found", negativeCached = "negative-cached", rateLimited = "rate-limited"
        case failed, timeout
    }

    private let client: any EKSAPI
    private let configuration: Configuration
    private let logger: Logger
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let metrics: EKSMetrics?
    private let state: Mutex<State>

    private struct State {
        var snapshot: AssociationSnapshot
        var ready = false
        var status = SyncStatus()
        var negative: [ServiceAccountRef: ContinuousClock.Instant] = [:]
        var inFlight: [ServiceAccountRef: Task<Bool, Never>] = [:]
        var addedByLookup: [ServiceAccountRef: ContinuousClock.Instant] = [:]
        var tokens: Double
        var tokensAt: ContinuousClock.Instant
    }

    public init(
        client: any EKSAPI, configuration: Configuration, metrics: EKSMetrics? = nil, logger: Logger,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.client = client
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        state = Mutex(
            State(
                snapshot: AssociationSnapshot(
                    [], source: "eks:\(configuration.cluster)", createdAt: Date(timeIntervalSince1970: 0)),
                tokens: configuration.missLookupBurst, tokensAt: clock()))
    }

    public var snapshot: AssociationSnapshot { state.withLock { $0.snapshot } }
    public var isReady: Bool { state.withLock { $0.ready } }
    public var syncStatus: SyncStatus { state.withLock { $0.status } }

    public var debugStatus: [String: String] {
        let status = syncStatus
        var result: [String: String] = ["cluster": configuration.cluster]
        if let success = status.lastSuccess { result["lastSuccess"] = success.formatted(.iso8601) }
        if let error = status.lastError { result["lastError"] = error }
        if let duration = status.lastDuration { result["lastDurationMs"] = String(duration.milliseconds) }
        return result
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let succeeded = await syncOnce()
            failures = succeeded ? 0 : failures + 1
            // Until the first success, retry sooner than the interval so the webhook gets ready.
            let wait =
                isReady
                ? jittered(configuration.syncInterval)
                : min(configuration.syncInterval, .seconds(1 << min(failures, 5)))
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            } catch {
                return
            }
        }
    }

    /// One full sync. Returns true when a new snapshot was installed.
    @discardableResult
    public func syncOnce() async -> Bool {
        let started = clock(), startedAt = Date()
        do {
            let associations = try await client.listAllPodIdentityAssociations(cluster: configuration.cluster)
            let elapsed = clock() - started
            let count = state.withLock { state in
                // Keep what miss lookups found while this listing was running.
                state.addedByLookup = state.addedByLookup.filter { $0.value > started }
                let refs = associations.map(\.ref) + state.addedByLookup.keys
                state.snapshot = AssociationSnapshot(refs, source: "eks:\(configuration.cluster)", createdAt: startedAt)
                state.ready = true
                state.status = SyncStatus(lastSuccess: Date(), lastError: nil, lastDuration: elapsed)
                // A full listing is fresher than any negative answer from before it.
                state.negative = state.negative.filter { $0.value > started }
                return state.snapshot.count
            }
            metrics?.recordSync(duration: elapsed, associations: count)
            logger.info(
                "synced Pod Identity Associations",
                metadata: [
                    "eks.cluster": "\(configuration.cluster)", "associations.count": "\(count)",
                    "duration_ms": "\(elapsed.milliseconds)",
                ])
            return true
        } catch {
            let elapsed = clock() - started
            let reason = (error as? EKSError)?.type ?? "\(type(of: error))"
            state.withLock {
                $0.status.lastError = "\(error)"; $0.status.lastDuration = elapsed
            }
            metrics?.recordSyncError(reason: reason)
            logger.error(
                "sync of Pod Identity Associations failed, keeping the previous associations",
                metadata: ["eks.cluster": "\(configuration.cluster)", "error": "\(error)"])
            return false
        }
    }

    public func isAssociated(_ ref: ServiceAccountRef) async -> Bool {
        if state.withLock({ $0.snapshot.contains(ref) }) { return true }
        guard configuration.missLookupTimeout > .zero else { return false }
        let result = await missLookup(ref)
        metrics?.recordMissLookup(result.rawValue)
        return result == .found
    }

    private func missLookup(_ ref: ServiceAccountRef) async -> MissLookupResult {
        let now = clock()
        enum Plan { case answer(MissLookupResult), wait(Task<Bool, Never>) }
        let plan: Plan = state.withLock { state in
            if let until = state.negative[ref] {
                if until > now { return .answer(.negativeCached) }
                state.negative[ref] = nil
            }
            if let task = state.inFlight[ref] { return .wait(task) }
            // Token bucket: refill, then take one.
            let refill = (now - state.tokensAt).seconds * configuration.missLookupRate
            state.tokens = min(configuration.missLookupBurst, state.tokens + refill)
            state.tokensAt = now
            guard state.tokens >= 1 else { return .answer(.rateLimited) }
            state.tokens -= 1
            let task = Task { await self.lookUp(ref) }
            state.inFlight[ref] = task
            return .wait(task)
        }
        switch plan {
        case .answer(let result):
            return result
        case .wait(let task):
            let found = await Self.value(of: task, within: configuration.missLookupTimeout)
            guard let found else { return .timeout }
            if found { return .found }
            return state.withLock { $0.negative[ref] != nil } ? .notFound : .failed
        }
    }

    /// Asks EKS about one pair; installs a positive answer in the snapshot, remembers a
    /// negative one. A failure is neither (the next miss asks again).
    private func lookUp(_ ref: ServiceAccountRef) async -> Bool {
        defer { _ = state.withLock { $0.inFlight.removeValue(forKey: ref) } }
        do {
            let page = try await client.listPodIdentityAssociations(
                cluster: configuration.cluster, namespace: ref.namespace, serviceAccount: ref.name, nextToken: nil,
                maxResults: 100)
            let found = page.associations.contains { $0.ref == ref }
            let now = clock()
            state.withLock { state in
                if found {
                    state.snapshot = AssociationSnapshot(
                        state.snapshot.serviceAccounts.union([ref]), source: state.snapshot.source,
                        createdAt: state.snapshot.createdAt)
                    state.addedByLookup[ref] = now
                } else {
                    state.negative[ref] = now + configuration.missLookupNegativeTTL
                }
            }
            if found {
                logger.info(
                    "association found by miss lookup",
                    metadata: ["k8s.namespace": "\(ref.namespace)", "k8s.service_account": "\(ref.name)"])
            }
            return found
        } catch {
            logger.warning(
                "miss lookup failed; pod treated as not associated",
                metadata: [
                    "k8s.namespace": "\(ref.namespace)", "k8s.service_account": "\(ref.name)", "error": "\(error)",
                ])
            return false
        }
    }

    /// The task's value, or nil if it takes longer than `timeout`; returns at the timeout even
    /// though the task goes on (its answer still fills the cache for the next review).
    private static func value(of task: Task<Bool, Never>, within timeout: Duration) async -> Bool? {
        let once = ResumeOnce()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool?, Never>) in
            let timer = Task {
                try? await cancellableSleep(for: timeout)
                if once.claim() { continuation.resume(returning: nil) }
            }
            Task {
                let value = await task.value
                timer.cancel()
                if once.claim() { continuation.resume(returning: value) }
            }
        }
    }

    private func jittered(_ interval: Duration) -> Duration {
        let factor = 1 + Double.random(in: -configuration.syncJitter...configuration.syncJitter)
        return .milliseconds(Int64(interval.seconds * factor * 1000))
    }
}

/// Lets exactly one of several racers resume a continuation.
private final class ResumeOnce: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
