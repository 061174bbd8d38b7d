import Foundation
import PodIdentityCore
import PodIdentitySources

/// Exponential backoff with full jitter, honouring `Retry-After`.
///
/// Full jitter (a uniform delay in [0, min(cap, base·2^attempt)]) keeps many replicas that
/// failed together from retrying together.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts = 4
    public var base: Duration = .milliseconds(100)
    public var cap: Duration = .seconds(5)
    /// A server's `Retry-After` is followed up to this long.
    public var maxRetryAfter: Duration = .seconds(30)

    public init() {}

    /// The wait before retry number `attempt` (1 for the first retry): the server's
    /// `Retry-After` when it sent one, else `Backoff`'s full jitter.
    public func delay(
        attempt: Int, retryAfter: Duration?, random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }
    ) -> Duration {
        if let retryAfter { return min(retryAfter, maxRetryAfter) }
        return Backoff(base: base, cap: cap).delay(attempt: attempt, random: random)
    }

    /// Parses `Retry-After` in seconds (the HTTP-date form is not used by AWS).
    public static func retryAfter(_ header: String?) -> Duration? {
        guard let header, let seconds = Double(header.trimmingCharacters(in: .whitespaces)), seconds >= 0 else {
            return nil
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}
