import AsyncHTTPClient
import Foundation
import Logging
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import MetricsTestKit
import Synchronization
import Testing

@Suite("EKS association source: sync and miss lookup", .serialized, .timeLimit(.minutes(5)))
struct EKSAssociationSourceTests {
    static let checkout = ServiceAccountRef(namespace: "shop", name: "checkout")

    static func source(
        _ client: EKSClient, standIn: EKSStandIn,
        configure: (inout EKSAssociationSource.Configuration) -> Void = { _ in },
        metrics: EKSMetrics? = nil
    ) -> EKSAssociationSource {
        var configuration = EKSAssociationSource.Configuration(cluster: standIn.clusterName)
        configure(&configuration)
        return EKSAssociationSource(
            client: client, configuration: configuration, metrics: metrics, logger: EKSTest.quietLogger)
    }

    @Test("not ready before the first sync; ready with the cluster's associations after it")
    func readiness() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await EKSTest.with(standIn) { standIn, client in
            let source = Self.source(client, standIn: standIn) { $0.missLookupTimeout = .zero }
            #expect(!source.isReady)
            #expect(await source.syncOnce())
            #expect(source.isReady)
            #expect(source.snapshot.serviceAccounts == [Self.checkout])
            #expect(source.snapshot.source == "eks:\(standIn.clusterName)")
        }
    }

    @Test("an association created after the sync is effective for the next pod at once, by one filtered lookup")
    func missLookupFindsNewAssociation() async throws {
        try await EKSTest.with { standIn, client in
            let source = Self.source(client, standIn: standIn)
            #expect(await source.syncOnce())
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            let before = standIn.requests.count
            #expect(await source.association(of: Self.checkout) == AssociationLookup(found: true, source: .eksMissLookup))
            let lookups = standIn.requests.dropFirst(before)
            #expect(lookups.count == 1)
            #expect(lookups.first?.query["namespace"] == "shop" && lookups.first?.query["serviceAccount"] == "checkout")
            // Now cached: no further request, and the answer comes from the snapshot.
            #expect(await source.association(of: Self.checkout) == AssociationLookup(found: true, source: .eksSnapshot))
            #expect(standIn.requests.count == before + 1)
        }
    }

    @Test("with the miss lookup off, a new association is effective after the next sync")
    func lookupOff() async throws {
        try await EKSTest.with { standIn, client in
            let source = Self.source(client, standIn: standIn) { $0.missLookupTimeout = .zero }
            #expect(await source.syncOnce())
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            #expect(await source.association(of: Self.checkout) == AssociationLookup(found: false, source: .eksSnapshot))
            #expect(await source.syncOnce())
            #expect(await source.association(of: Self.checkout).found)
        }
    }

    @Test("a deleted association stops mutating after the next sync")
    func deletion() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await EKSTest.with(standIn) { standIn, client in
            let source = Self.source(client, standIn: standIn) { $0.missLookupTimeout = .zero }
            #expect(await source.syncOnce())
            #expect(await source.association(of: Self.checkout).found)
            standIn.remove(namespace: "shop", serviceAccount: "checkout")
            #expect(await source.syncOnce())
            #expect(!(await source.association(of: Self.checkout).found))
        }
    }

    @Test("unassociated service accounts cost one lookup, then the negative cache answers until its TTL")
    func negativeCache() async throws {
        try await EKSTest.with { standIn, client in
            let clock = ManualInstant()
            var configuration = EKSAssociationSource.Configuration(cluster: standIn.clusterName)
            configuration.missLookupNegativeTTL = .seconds(30)
            let source = EKSAssociationSource(
                client: client, configuration: configuration, logger: EKSTest.quietLogger, clock: { clock.now })
            #expect(await source.syncOnce())
            let before = standIn.requests.count
            #expect(await source.association(of: Self.checkout) == AssociationLookup(found: false, source: .eksMissLookup))
            for _ in 0..<4 {
                #expect(
                    await source.association(of: Self.checkout)
                        == AssociationLookup(found: false, source: .eksNegativeCache))
            }
            #expect(standIn.requests.count == before + 1)
            #expect(source.explain(Self.checkout) == ["negativeCacheSecondsLeft": "30.0"])
            clock.advance(by: .seconds(29))
            #expect(source.explain(Self.checkout) == ["negativeCacheSecondsLeft": "1.0"])
            #expect(!(await source.association(of: Self.checkout).found))
            #expect(standIn.requests.count == before + 1)
            clock.advance(by: .seconds(2))
            #expect(!(await source.association(of: Self.checkout).found))
            #expect(standIn.requests.count == before + 2)
        }
    }

    @Test("concurrent misses for one service account share one lookup")
    func singleFlight() async throws {
        try await EKSTest.with { standIn, client in
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            let source = Self.source(client, standIn: standIn)
            standIn.setFaults { request, _ in request.query["namespace"] != nil ? .hang(.milliseconds(200)) : nil }
            let answers = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 { group.addTask { await source.association(of: Self.checkout).found } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers == Array(repeating: true, count: 10))
            #expect(standIn.requests.filter { $0.query["namespace"] != nil }.count == 1)
        }
    }

    @Test("the global rate limit answers not-associated without asking EKS")
    func rateLimit() async throws {
        try await EKSTest.with { standIn, client in
            let source = Self.source(client, standIn: standIn) {
                $0.missLookupRate = 0.001
                $0.missLookupBurst = 2
            }
            var answers: [AssociationLookup] = []
            for index in 0..<4 {
                answers.append(await source.association(of: ServiceAccountRef(namespace: "ns", name: "sa-\(index)")))
            }
            #expect(standIn.requests.count == 2)
            // The two over the rate say so: the review warns that no lookup was made.
            #expect(answers.map(\.problem) == [nil, nil, .rateLimited, .rateLimited])
            #expect(answers.allSatisfy { !$0.found && $0.source == .eksMissLookup })
        }
    }

    @Test("a hanging or failing lookup never holds a review longer than the miss timeout, and answers not associated")
    func missTimeout() async throws {
        try await EKSTest.with(requestTimeout: .seconds(5)) { standIn, client in
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            let source = Self.source(client, standIn: standIn) { $0.missLookupTimeout = .milliseconds(300) }
            standIn.setFaults { _, _ in .hang(.seconds(10)) }
            let start = ContinuousClock.now
            #expect(
                await source.association(of: Self.checkout)
                    == AssociationLookup(found: false, source: .eksMissLookup, problem: .timedOut))
            // 300 ms expected; the bound tells it from the 10 s hang with room for a loaded machine.
            #expect(ContinuousClock.now - start < .seconds(5))
            standIn.setFaults { _, _ in .status(403, type: "AccessDeniedException", message: "no") }
            let other = ServiceAccountRef(namespace: "shop", name: "other")
            #expect(
                await source.association(of: other)
                    == AssociationLookup(found: false, source: .eksMissLookup, problem: .failed("AccessDeniedException")))
        }
    }

    @Test(
        "faults never lose the last good snapshot",
        arguments: [
            EKSStandIn.Fault.status(500, type: "ServerException", message: "boom"),
            .status(429, type: "ThrottlingException", message: "Rate exceeded", retryAfter: "0"),
            .status(403, type: "InvalidSignatureException", message: "signature"),
            .body("{\"associations\":[{\"namesp"),
            .body("<html>not json</html>"),
            .hang(.seconds(1)),
        ])
    func faultsKeepSnapshot(_ fault: EKSStandIn.Fault) async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await EKSTest.with(standIn, requestTimeout: .milliseconds(200)) { standIn, client in
            let recorded = TestMetrics()
            let metrics = EKSMetrics(factory: recorded)
            let source = Self.source(
                client, standIn: standIn, configure: { $0.missLookupTimeout = .zero }, metrics: metrics)
            #expect(await source.syncOnce())
            let good = source.snapshot
            standIn.add(namespace: "shop", serviceAccount: "new")
            standIn.setFaults { _, _ in fault }
            #expect(!(await source.syncOnce()))
            #expect(source.snapshot == good)
            #expect(source.isReady)
            #expect(source.syncStatus.lastError != nil)
            #expect(recorded.counterTotal(label: "pod_identity_webhook_eks_sync_errors_total") == 1)
            #expect(recorded.counters(label: "pod_identity_webhook_eks_sync_errors_total").first?.dimensions.first?.0 == "reason")
            let associations = recorded.meters(label: "pod_identity_webhook_eks_associations")
            #expect(associations.count == 1 && associations.first?.lastValue == 1)
        }
    }

    @Test("credentials that expire mid-run are refreshed before the next request")
    func credentialsRefresh() async throws {
        let now = Mutex(Date())
        let calls = Mutex(0)
        struct Expiring: CredentialProvider {
            let name = "expiring"
            let now: @Sendable () -> Date
            let calls: @Sendable () -> Int
            func credentials() async throws -> AWSCredentials {
                AWSCredentials(
                    accessKeyID: EKSStandIn.accessKeyID, secretAccessKey: EKSStandIn.secretAccessKey,
                    sessionToken: "session-\(calls())", expiration: now().addingTimeInterval(600))
            }
        }
        let provider = Expiring(
            now: { now.withLock { $0 } },
            calls: {
                calls.withLock {
                    $0 += 1; return $0
                }
            })
        let chain = CredentialChain(providers: [provider], now: { now.withLock { $0 } }, logger: EKSTest.quietLogger)
        try await EKSTest.with(credentials: chain) { standIn, client in
            let source = Self.source(client, standIn: standIn) { $0.missLookupTimeout = .zero }
            #expect(await source.syncOnce())
            #expect(await source.syncOnce())
            #expect(calls.withLock { $0 } == 1, "cached while far from expiry")
            now.withLock { $0 = $0.addingTimeInterval(400) }  // within 5 minutes of expiry
            #expect(await source.syncOnce())
            #expect(calls.withLock { $0 } == 2, "refreshed before expiry")
        }
    }

    @Test("the run loop syncs on its interval")
    func runLoop() async throws {
        try await EKSTest.with { standIn, client in
            let source = Self.source(client, standIn: standIn) {
                $0.syncInterval = .milliseconds(100)
                $0.missLookupTimeout = .zero
            }
            let task = Task { try await source.run() }
            defer { task.cancel() }
            for _ in 0..<100 where !source.isReady { try await Task.sleep(for: .milliseconds(10)) }
            #expect(source.isReady)
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            for _ in 0..<100 where !(await source.association(of: Self.checkout).found) {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await source.association(of: Self.checkout).found)
        }
    }
}

/// A clock the test moves by hand.
final class ManualInstant: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}
