import Foundation
import PodIdentityCore
import Testing

@testable import PodIdentityAWS

/// The EKS source's bookkeeping on made-up instants: no network, no sleeping.
@Suite("EKS source state machine", .timeLimit(.minutes(1)))
struct EKSSourceStateMachineTests {
    static let start = ContinuousClock.now
    static let checkout = ServiceAccountRef(namespace: "shop", name: "checkout")
    static let other = ServiceAccountRef(namespace: "shop", name: "other")

    static func machine(rate: Double = 5, burst: Double = 10) -> EKSSourceStateMachine {
        EKSSourceStateMachine(
            configuration: .init(
                cluster: "c", syncInterval: .seconds(30), syncJitter: 0.1, negativeTTL: .seconds(30), rate: rate,
                burst: burst),
            now: start)
    }

    @Test("the first miss leads a lookup, later misses wait for it; a find joins the snapshot")
    func singleFlight() {
        var machine = Self.machine()
        #expect(machine.miss(Self.checkout, now: Self.start) == .lookUp)
        #expect(machine.miss(Self.checkout, now: Self.start) == .wait)
        #expect(machine.miss(Self.other, now: Self.start) == .lookUp)
        #expect(machine.lookupFinished(Self.checkout, .found, now: Self.start) == .found)
        #expect(machine.snapshot.contains(Self.checkout))
        #expect(machine.miss(Self.checkout, now: Self.start) == .answer(.found))
    }

    @Test("\"not associated\" is remembered for the negative TTL, then asked again")
    func negativeCache() {
        var machine = Self.machine()
        _ = machine.miss(Self.checkout, now: Self.start)
        #expect(machine.lookupFinished(Self.checkout, .notFound, now: Self.start) == .notFound)
        #expect(machine.miss(Self.checkout, now: Self.start + .seconds(29)) == .answer(.negativeCached))
        #expect(machine.negativeUntil(Self.checkout, now: Self.start) == Self.start + .seconds(30))
        #expect(machine.miss(Self.checkout, now: Self.start + .seconds(31)) == .lookUp)
    }

    @Test("a failed or timed-out lookup caches nothing: the next miss asks again")
    func failuresAreNotCached() {
        var machine = Self.machine()
        _ = machine.miss(Self.checkout, now: Self.start)
        #expect(machine.lookupFinished(Self.checkout, .timeout, now: Self.start) == .timeout)
        #expect(machine.miss(Self.checkout, now: Self.start) == .lookUp)
        #expect(machine.lookupFinished(Self.checkout, .failed, now: Self.start) == .failed)
        #expect(machine.miss(Self.checkout, now: Self.start) == .lookUp)
        #expect(!machine.snapshot.contains(Self.checkout))
    }

    @Test("the token bucket allows the burst, then refills at the rate")
    func tokenBucket() {
        var machine = Self.machine(rate: 2, burst: 3)
        let refs = (0..<5).map { ServiceAccountRef(namespace: "ns", name: "sa-\($0)") }
        #expect(refs.map { machine.miss($0, now: Self.start) } == [.lookUp, .lookUp, .lookUp, .answer(.rateLimited), .answer(.rateLimited)])
        // Half a second at 2/s is one token.
        #expect(machine.miss(refs[3], now: Self.start + .milliseconds(500)) == .lookUp)
        #expect(machine.miss(refs[4], now: Self.start + .milliseconds(500)) == .answer(.rateLimited))
    }

    @Test("a full sync replaces the snapshot but keeps what a lookup found while it was listing")
    func syncKeepsConcurrentFinds() {
        var machine = Self.machine()
        let listingStarted = Self.start + .seconds(1)
        _ = machine.miss(Self.checkout, now: Self.start)
        _ = machine.lookupFinished(Self.checkout, .found, now: Self.start + .seconds(2))  // during the listing
        let count = machine.syncSucceeded(
            [Self.other], started: listingStarted, now: Self.start + .seconds(3), date: Date(), finished: Date())
        #expect(count == 2)
        #expect(machine.snapshot.contains(Self.checkout) && machine.snapshot.contains(Self.other))
        #expect(machine.ready)

        // A find from before the next listing started is dropped when that listing lacks it.
        _ = machine.syncSucceeded(
            [Self.other], started: Self.start + .seconds(10), now: Self.start + .seconds(11), date: Date(),
            finished: Date())
        #expect(!machine.snapshot.contains(Self.checkout))
    }

    @Test("a full sync clears negative answers given before it started, not those given during it")
    func syncClearsOlderNegatives() {
        var machine = Self.machine()
        _ = machine.miss(Self.checkout, now: Self.start)
        _ = machine.lookupFinished(Self.checkout, .notFound, now: Self.start)
        _ = machine.miss(Self.other, now: Self.start)
        _ = machine.lookupFinished(Self.other, .notFound, now: Self.start + .seconds(6))
        _ = machine.syncSucceeded(
            [], started: Self.start + .seconds(5), now: Self.start + .seconds(7), date: Date(), finished: Date())
        #expect(machine.miss(Self.checkout, now: Self.start + .seconds(8)) == .lookUp)
        #expect(machine.miss(Self.other, now: Self.start + .seconds(8)) == .answer(.negativeCached))
    }

    @Test("a failed sync keeps the snapshot and records why")
    func failedSyncKeepsSnapshot() {
        var machine = Self.machine()
        _ = machine.syncSucceeded(
            [Self.checkout], started: Self.start, now: Self.start + .seconds(1), date: Date(), finished: Date())
        machine.syncFailed("ThrottlingException", started: Self.start + .seconds(30), now: Self.start + .seconds(31))
        #expect(machine.snapshot.contains(Self.checkout))
        #expect(machine.status.lastError == "ThrottlingException")
        #expect(machine.status.lastDuration == .seconds(1))
        #expect(machine.ready)
    }

    @Test("next sync: the interval ± 10% once ready; backing off up to the interval before")
    func nextSyncDelay() {
        var machine = Self.machine()
        machine.syncFailed("down", started: Self.start, now: Self.start)
        #expect(machine.nextSyncDelay(random: 1) == .seconds(1))
        machine.syncFailed("down", started: Self.start, now: Self.start)
        machine.syncFailed("down", started: Self.start, now: Self.start)
        #expect(machine.nextSyncDelay(random: 1) == .seconds(4))
        #expect(machine.nextSyncDelay(random: 0) == .seconds(2))
        for _ in 0..<10 { machine.syncFailed("down", started: Self.start, now: Self.start) }
        #expect(machine.nextSyncDelay(random: 1) == .seconds(30))
        _ = machine.syncSucceeded([], started: Self.start, now: Self.start, date: Date(), finished: Date())
        #expect(machine.nextSyncDelay(random: 0) == .seconds(27))
        #expect(machine.nextSyncDelay(random: 0.5) == .seconds(30))
        #expect(machine.nextSyncDelay(random: 1) == .seconds(33))
    }
}
