import Synchronization

/// What one request holds of the `BodyBudget`: grown as its body becomes known, given back
/// exactly once by whoever owns the request.
final class BodyReservation: Sendable {
    let budget: BodyBudget
    private let held = Mutex<Int>(0)

    init(budget: BodyBudget) {
        self.budget = budget
    }

    var bytes: Int { held.withLock { $0 } }

    /// Holds `total` bytes in all; false (holding what it held) when the budget has no room.
    func grow(to total: Int, bodySize: Int) -> Bool {
        held.withLock { held in
            guard total > held else { return true }
            guard budget.reserve(total - held, bodySize: bodySize) else { return false }
            held = total
            return true
        }
    }

    func release() {
        let bytes = held.withLock { held in
            defer { held = 0 }
            return held
        }
        budget.release(bytes)
    }
}
