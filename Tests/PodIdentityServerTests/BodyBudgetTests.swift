import PodIdentityServer
import Testing

@Suite("Body budget", .timeLimit(.minutes(1)))
struct BodyBudgetTests {
    @Test("large bodies stop at three quarters; small ones may use the rest")
    func ceilings() {
        let budget = BodyBudget(capacity: 8_000_000, smallBodyLimit: 100_000)
        #expect(budget.reserve(4_000_000, bodySize: 4_000_000) == 4_000_000)
        #expect(nil == budget.reserve(4_000_000, bodySize: 4_000_000))  // 8,000,000 > 6,000,000
        #expect(budget.reserve(2_000_000, bodySize: 2_000_000) == 6_000_000)
        #expect(nil == budget.reserve(1, bodySize: 200_000))
        #expect(budget.inUse == 6_000_000)
        for _ in 0..<20 { #expect(nil != budget.reserve(100_000, bodySize: 100_000)) }
        #expect(nil == budget.reserve(1, bodySize: 10))
        #expect(budget.inUse == 8_000_000)
        budget.release(4_000_000)
        #expect(budget.inUse == 4_000_000)
        #expect(nil != budget.reserve(2_000_000, bodySize: 2_000_000))
    }

    @Test("a refused reservation takes nothing")
    func refusedTakesNothing() {
        let budget = BodyBudget(capacity: 1000, smallBodyLimit: 10)
        #expect(nil == budget.reserve(800, bodySize: 800))
        #expect(budget.inUse == 0)
        #expect(nil != budget.reserve(750, bodySize: 750))
        #expect(budget.inUse == 750)
    }
}
