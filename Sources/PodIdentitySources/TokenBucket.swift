import PodIdentityCore

/// A token bucket on injected instants: `rate` tokens a second, at most `burst` saved. The
/// rate limit of every lookup a review may trigger (EKS miss lookups, ServiceAccount GETs).
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    public init(rate: Double, burst: Double, now: ContinuousClock.Instant) {
        self.rate = rate
        self.burst = burst
        tokens = burst
        updated = now
    }

    /// Takes one token if there is one at `now`.
    public mutating func take(now: ContinuousClock.Instant) -> Bool {
        tokens = min(burst, tokens + max(0, (now - updated).inSeconds) * rate)
        updated = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
