import PodIdentityCore

/// Exponential backoff with full jitter: the wait before retry `attempt` is uniform in
/// [0, min(cap, base·2^attempt)].
///
/// Full jitter keeps many replicas that failed together from retrying together. The one
/// backoff of the project: the EKS client's retries, the EKS sync before it is first ready,
/// and any reconnecting source use it. The randomness is injected so tests are exact.
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the wait before retry `attempt` (1 for the first retry).
    public func ceiling(attempt: Int) -> Duration {
        min(cap, base * (1 << min(max(attempt, 0), 20)))
    }

    /// The wait before retry `attempt`; `random` picks a fraction in [0, 1].
    public func delay(attempt: Int, random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) -> Duration {
        let fraction = min(1, max(0, random(0...1)))
        return .nanoseconds(Int64((Double(ceiling(attempt: attempt).nanosecondsClamped) * fraction).rounded()))
    }
}
