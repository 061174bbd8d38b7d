/// Where token-expiration jitter comes from; injected so that tests are deterministic.
public protocol RandomSource: Sendable {
    /// A value in `range`, uniformly distributed in production.
    func int64(in range: ClosedRange<Int64>) -> Int64
}

/// The system's random generator.
public struct SystemRandomSource: RandomSource {
    public init() {}

    public func int64(in range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range) }
}
