import Foundation
import Logging
import PodIdentityCore
import PodIdentitySources
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
    private let random: @Sendable () -> Double
    private let metrics: EKSMetrics?
    private let state: Mutex<State>

    private struct State {
        var machine: EKSSourceStateMachine
        /// Reviews waiting for the lookup another review leads, by pair.
        var waiters: [ServiceAccountRef: [CheckedContinuation<MissStep, Never>]] = [:]
    }

    /// What a review that missed does next: take the answer (with why a lookup failed), or
    /// lead the lookup.
    private enum MissStep: Sendable {
        case answer(MissLookupResult, failure: String?)
        case lead
    }

    /// - Parameters:
    ///   - clock: now, for the negative cache, the token bucket and durations.
    ///   - random: a fraction in [0, 1] for the sync jitter.
    public init(
        client: any EKSAPI, configuration: Configuration, metrics: EKSMetrics? = nil, logger: Logger,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.client = client
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        self.random = random
        state = Mutex(
            State(
                machine: EKSSourceStateMachine(
                    configuration: .init(
                        cluster: configuration.cluster, syncInterval: configuration.syncInterval,
                        syncJitter: configuration.syncJitter, negativeTTL: configuration.missLookupNegativeTTL,
                        rate: configuration.missLookupRate, burst: configuration.missLookupBurst),
                    now: clock())))
    }

    public var snapshot: AssociationSnapshot { state.withLock { $0.machine.snapshot } }
    public var isReady: Bool { state.withLock { $0.machine.ready } }
    public var syncStatus: SyncStatus { state.withLock { $0.machine.status } }

    public var debugStatus: [String: String] {
        let status = syncStatus
        var result: [String: String] = ["cluster": configuration.cluster]
        if let success = status.lastSuccess { result["lastSuccess"] = success.formatted(.iso8601) }
        if let error = status.lastError { result["lastError"] = error }
        if let duration = status.lastDuration { result["lastDurationMs"] = String(duration.milliseconds) }
        return result
    }

    public func explain(_ ref: ServiceAccountRef) -> [String: String] {
        let now = clock()
        guard let until = state.withLock({ $0.machine.negativeUntil(ref, now: now) }) else { return [:] }
        let left = (until - now).inSeconds
        return ["negativeCacheSecondsLeft": String((left * 10).rounded() / 10)]
    }

    /// Syncs, then waits the interval the state machine gives (jittered; backing off before
    /// the first success), until graceful shutdown.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await syncOnce()
            let wait = state.withLock { $0.machine.nextSyncDelay(random: random()) }
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
            let now = clock()
            let count = state.withLock {
                $0.machine.syncSucceeded(
                    associations.map(\.ref), started: started, now: now, date: startedAt, finished: Date())
            }
            metrics?.recordSync(duration: now - started, associations: count)
            logger.info(
                "synced Pod Identity Associations",
                metadata: [
                    "eks.cluster": "\(configuration.cluster)", "associations.count": "\(count)",
                    "duration_ms": "\((now - started).milliseconds)",
                ])
            return true
        } catch {
            let now = clock()
            state.withLock { $0.machine.syncFailed("\(error)", started: started, now: now) }
            metrics?.recordSyncError(reason: (error as? EKSError)?.type ?? "\(type(of: error))")
            logger.error(
                "sync of Pod Identity Associations failed, keeping the previous associations",
                metadata: ["eks.cluster": "\(configuration.cluster)", "error": "\(error)"])
            return false
        }
    }

    /// The snapshot first; on a miss, the miss lookup's answer (its own, one it waited for, or
    /// the negative cache's), with why it could not answer when it failed, timed out or was
    /// over the rate.
    public func association(of ref: ServiceAccountRef) async -> AssociationLookup {
        if state.withLock({ $0.machine.snapshot.contains(ref) }) { return .snapshot(true, .eksSnapshot) }
        guard configuration.missLookupTimeout > .zero else { return .snapshot(false, .eksSnapshot) }
        let (result, failure) = await missLookup(ref)
        metrics?.recordMissLookup(result.rawValue)
        switch result {
        case .found: return AssociationLookup(found: true, source: .eksMissLookup)
        case .notFound: return AssociationLookup(found: false, source: .eksMissLookup)
        case .negativeCached: return AssociationLookup(found: false, source: .eksNegativeCache)
        case .rateLimited: return AssociationLookup(found: false, source: .eksMissLookup, problem: .rateLimited)
        case .failed: return AssociationLookup(found: false, source: .eksMissLookup, problem: .failed(failure ?? ""))
        case .timeout: return AssociationLookup(found: false, source: .eksMissLookup, problem: .timedOut)
        }
    }

    /// One targeted lookup per pair at a time: the first review that misses leads it (bounded
    /// by the timeout, in a task group of its own, so nothing outlives the review); the
    /// reviews that miss meanwhile wait for its answer, which comes within the same bound.
    private func missLookup(_ ref: ServiceAccountRef) async -> (MissLookupResult, failure: String?) {
        let now = clock()
        let step = await withCheckedContinuation { (continuation: CheckedContinuation<MissStep, Never>) in
            let action = state.withLock { state in
                let action = state.machine.miss(ref, now: now)
                if action == .wait { state.waiters[ref, default: []].append(continuation) }
                return action
            }
            switch action {
            case .answer(let result): continuation.resume(returning: .answer(result, failure: nil))
            case .lookUp: continuation.resume(returning: .lead)
            case .wait: break  // resumed by the leader
            }
        }
        guard case .lead = step else {
            if case .answer(let result, let failure) = step { return (result, failure) }
            return (.failed, nil)
        }
        let timeout = configuration.missLookupTimeout
        let (outcome, failure) = await withTaskGroup(
            of: (EKSSourceStateMachine.LookupOutcome, String?).self
        ) { group in
            group.addTask { await self.lookUp(ref) }
            group.addTask {
                try? await cancellableSleep(for: timeout)
                return (.timeout, nil)
            }
            let first = await group.next() ?? (.timeout, nil)
            group.cancelAll()
            return first
        }
        let finished = clock()
        let (result, waiters) = state.withLock { state in
            (state.machine.lookupFinished(ref, outcome, now: finished), state.waiters.removeValue(forKey: ref) ?? [])
        }
        for waiter in waiters { waiter.resume(returning: .answer(result, failure: failure)) }
        switch result {
        case .found:
            logger.info(
                "association found by miss lookup",
                metadata: ["k8s.namespace": "\(ref.namespace)", "k8s.service_account": "\(ref.name)"])
        case .timeout:
            logger.warning(
                "miss lookup timed out; pod treated as not associated",
                metadata: ["k8s.namespace": "\(ref.namespace)", "k8s.service_account": "\(ref.name)"])
        default: break
        }
        return (result, failure)
    }

    /// Asks EKS about one pair. A failure comes with its short reason (the AWS error type, or
    /// a local kind), which the review's warning and audit annotation name.
    private func lookUp(_ ref: ServiceAccountRef) async -> (EKSSourceStateMachine.LookupOutcome, String?) {
        do {
            let page = try await client.listPodIdentityAssociations(
                cluster: configuration.cluster, namespace: ref.namespace, serviceAccount: ref.name, nextToken: nil,
                maxResults: 100)
            return (page.associations.contains { $0.ref == ref } ? .found : .notFound, nil)
        } catch is CancellationError {
            return (.timeout, nil)
        } catch {
            if Task.isCancelled { return (.timeout, nil) }
            logger.warning(
                "miss lookup failed; pod treated as not associated",
                metadata: ["k8s.namespace": "\(ref.namespace)", "k8s.service_account": "\(ref.name)", "error": "\(error)"])
            return (.failed, (error as? EKSError)?.type ?? "\(type(of: error))")
        }
    }
}
