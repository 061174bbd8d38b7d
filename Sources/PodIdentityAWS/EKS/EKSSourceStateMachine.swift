import Foundation
import PodIdentityCore
import PodIdentitySources

/// The EKS association source's bookkeeping, apart from its I/O: the snapshot and its merge
/// with miss-lookup finds, the negative cache, the single-flight table, the miss-lookup token
/// bucket, the sync status and the wait before the next sync.
///
/// Every input comes in as an argument (the instant, the random fraction), every decision
/// goes out as a return value, so it is tested exactly with made-up instants and no network;
/// `EKSAssociationSource` holds it in a mutex and does what it says.
struct EKSSourceStateMachine {
    typealias Instant = ContinuousClock.Instant

    struct Configuration {
        var cluster: String
        var syncInterval: Duration
        var syncJitter: Double
        var negativeTTL: Duration
        var rate: Double
        var burst: Double
    }

    /// What a review that missed the snapshot does.
    enum MissAction: Equatable {
        /// Answer now, without asking EKS.
        case answer(EKSAssociationSource.MissLookupResult)
        /// Ask EKS: this review leads the lookup for its pair.
        case lookUp
        /// A lookup for the pair is in flight: wait for its result.
        case wait
    }

    /// How a lookup ended.
    enum LookupOutcome: Equatable {
        case found, notFound, failed, timeout
    }

    let configuration: Configuration
    private(set) var snapshot: AssociationSnapshot
    private(set) var ready = false
    private(set) var status = EKSAssociationSource.SyncStatus()
    private(set) var consecutiveFailures = 0
    private var negative: [ServiceAccountRef: Instant] = [:]
    private var inFlight: Set<ServiceAccountRef> = []
    private var addedByLookup: [ServiceAccountRef: Instant] = [:]
    private var bucket: TokenBucket

    init(configuration: Configuration, now: Instant) {
        self.configuration = configuration
        snapshot = AssociationSnapshot(
            [], source: "eks:\(configuration.cluster)", createdAt: Date(timeIntervalSince1970: 0))
        bucket = TokenBucket(rate: configuration.rate, burst: configuration.burst, now: now)
    }

    /// The negative-cache entry of `ref`, if one is live at `now`, for debugging.
    func negativeUntil(_ ref: ServiceAccountRef, now: Instant) -> Instant? {
        negative[ref].flatMap { $0 > now ? $0 : nil }
    }

    // MARK: Miss lookups

    /// A review of `ref` missed the snapshot at `now`.
    mutating func miss(_ ref: ServiceAccountRef, now: Instant) -> MissAction {
        if snapshot.contains(ref) { return .answer(.found) }
        if let until = negative[ref] {
            if until > now { return .answer(.negativeCached) }
            negative[ref] = nil
        }
        if inFlight.contains(ref) { return .wait }
        guard bucket.take(now: now) else { return .answer(.rateLimited) }
        inFlight.insert(ref)
        return .lookUp
    }

    /// The lookup of `ref` ended at `now`: a find joins the snapshot (and survives the next
    /// full sync if that listing started before it), a "no" is remembered for the negative
    /// TTL; a failure or timeout is neither, so the next miss asks again. Returns the answer
    /// for the reviews that waited.
    mutating func lookupFinished(
        _ ref: ServiceAccountRef, _ outcome: LookupOutcome, now: Instant
    ) -> EKSAssociationSource.MissLookupResult {
        inFlight.remove(ref)
        switch outcome {
        case .found:
            snapshot = AssociationSnapshot(
                snapshot.serviceAccounts.union([ref]), source: snapshot.source, createdAt: snapshot.createdAt)
            addedByLookup[ref] = now
            return .found
        case .notFound:
            negative[ref] = now + configuration.negativeTTL
            return .notFound
        case .failed: return .failed
        case .timeout: return .timeout
        }
    }

    // MARK: Full syncs

    /// A full listing that started at `started` succeeded at `now` (`date`: the wall clock of
    /// `started`, for the snapshot's age). Returns the size of the new snapshot.
    mutating func syncSucceeded(
        _ refs: [ServiceAccountRef], started: Instant, now: Instant, date: Date, finished: Date
    ) -> Int {
        // Keep what miss lookups found while this listing was running.
        addedByLookup = addedByLookup.filter { $0.value > started }
        snapshot = AssociationSnapshot(refs + addedByLookup.keys, source: snapshot.source, createdAt: date)
        ready = true
        status = .init(lastSuccess: finished, lastError: nil, lastDuration: now - started)
        // A full listing is fresher than any negative answer from before it.
        negative = negative.filter { $0.value - configuration.negativeTTL > started }
        consecutiveFailures = 0
        return snapshot.count
    }

    /// A full listing that started at `started` failed at `now`: the snapshot stays.
    mutating func syncFailed(_ error: String, started: Instant, now: Instant) {
        status.lastError = error
        status.lastDuration = now - started
        consecutiveFailures += 1
    }

    /// The wait before the next full sync. Once ready, the interval ± the jitter (`random`
    /// is a fraction in [0, 1]) so replicas do not poll in step; before the first success,
    /// `Backoff` from 1 s up to the interval so the webhook gets ready soon.
    func nextSyncDelay(random: Double) -> Duration {
        if ready {
            let factor = 1 + configuration.syncJitter * (2 * min(1, max(0, random)) - 1)
            return .nanoseconds(Int64((Double(configuration.syncInterval.nanosecondsClamped) * factor).rounded()))
        }
        return Backoff(base: .milliseconds(500), cap: configuration.syncInterval)
            .delay(attempt: consecutiveFailures, random: { _ in 0.5 + random / 2 })
    }
}
