import Synchronization

/// How many bytes of review bodies the server holds at once, across every connection and
/// HTTP/2 stream: the bound that keeps the process under its memory limit however many
/// clients send large bodies at once.
///
/// A request reserves its declared `Content-Length` before a byte of its body is read (or its
/// bytes as they arrive when no length is declared) and gives them back when its answer is
/// built. A request that cannot reserve is refused (503 with `Retry-After`), never queued: a
/// queued request would keep its connection's buffers, the very memory being bounded.
///
/// Bodies up to `smallBodyLimit` (a review is normally 5–20 KB) may use the whole capacity;
/// larger ones only up to `capacity - reservedForSmallBodies`, so that clients holding large
/// bodies open cannot starve ordinary reviews.
public final class BodyBudget: Sendable {
    public let capacity: Int
    public let smallBodyLimit: Int
    public let reservedForSmallBodies: Int
    private let used = Mutex<Int>(0)

    public init(capacity: Int, smallBodyLimit: Int = 256 * 1024) {
        self.capacity = max(0, capacity)
        self.smallBodyLimit = smallBodyLimit
        self.reservedForSmallBodies = self.capacity / 4
    }

    /// Bytes reserved now.
    public var inUse: Int { used.withLock { $0 } }

    /// Reserves `bytes` more for a request whose body is (or is declared to be) `bodySize`
    /// bytes in all, and returns the bytes in use then; nil, and nothing reserved, when that
    /// would pass the request's ceiling.
    @discardableResult
    public func reserve(_ bytes: Int, bodySize: Int) -> Int? {
        let ceiling = bodySize > smallBodyLimit ? capacity - reservedForSmallBodies : capacity
        return used.withLock { used in
            guard used + max(0, bytes) <= ceiling else { return nil }
            used += max(0, bytes)
            return used
        }
    }

    /// Gives back what a finished request reserved; returns the bytes still in use.
    @discardableResult
    public func release(_ bytes: Int) -> Int {
        used.withLock { used in
            used = max(0, used - max(0, bytes))
            return used
        }
    }
}
