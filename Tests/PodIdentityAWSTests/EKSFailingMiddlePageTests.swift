import Foundation
import MetricsTestKit
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import Synchronization
import Testing

/// Fails page 2 of a full listing: the first `nextToken` a listing sends (page 1 has none),
/// however the stand-in spells its tokens. Failures of other requests are left alone.
final class SecondPageFault: Sendable {
    private struct State {
        var pageTwoToken: String?
        var failed = 0
    }

    private let state = Mutex(State())
    private let failures: Int?
    private let fault: EKSStandIn.Fault

    /// - Parameter failures: how many page-2 requests fail; nil fails every one.
    init(failures: Int? = nil, fault: EKSStandIn.Fault) {
        self.failures = failures
        self.fault = fault
    }

    var failed: Int { state.withLock { $0.failed } }
    var pageTwoToken: String? { state.withLock { $0.pageTwoToken } }

    func decide(_ request: EKSStandIn.Request) -> EKSStandIn.Fault? {
        guard request.operation == "ListPodIdentityAssociations", request.query["namespace"] == nil,
            let token = request.query["nextToken"]
        else { return nil }
        return state.withLock { state in
            if state.pageTwoToken == nil { state.pageTwoToken = token }
            guard state.pageTwoToken == token, failures.map({ state.failed < $0 }) ?? true else { return nil }
            state.failed += 1
            return fault
        }
    }
}

/// A full sync reads every page before it replaces anything: a page in the middle of the
/// listing that still fails after the client's retries leaves the previous snapshot exactly
/// as it was, and the pages after it are never asked for.
@Suite("EKS full sync: page 2 of 3 fails", .serialized, .timeLimit(.minutes(2)))
struct EKSFailingMiddlePageTests {
    static func ref(_ index: Int) -> ServiceAccountRef { ServiceAccountRef(namespace: "shop", name: "sa-\(index)") }

    /// 250 associations: three pages of 100, 100 and 50.
    static func standIn() -> EKSStandIn {
        let standIn = EKSStandIn()
        for index in 0..<250 { standIn.add(namespace: "shop", serviceAccount: "sa-\(index)") }
        return standIn
    }

    static func source(_ client: EKSClient, _ standIn: EKSStandIn, metrics: EKSMetrics? = nil) -> EKSAssociationSource {
        var configuration = EKSAssociationSource.Configuration(cluster: standIn.clusterName)
        configuration.missLookupTimeout = .zero  // only full syncs decide here
        return EKSAssociationSource(
            client: client, configuration: configuration, metrics: metrics, logger: EKSTest.quietLogger)
    }

    static func fullListings(_ requests: some Sequence<EKSStandIn.Request>) -> [EKSStandIn.Request] {
        requests.filter { $0.operation == "ListPodIdentityAssociations" && $0.query["namespace"] == nil }
    }

    @Test("page 2 failing after every retry keeps the last good snapshot; page 3 is never asked for")
    func keepsOldSnapshot() async throws {
        try await EKSTest.with(Self.standIn()) { standIn, client in
            let recorded = TestMetrics()
            let source = Self.source(client, standIn, metrics: EKSMetrics(factory: recorded))
            #expect(await source.syncOnce())
            let good = source.snapshot
            #expect(good.count == 250)
            let lastSuccess = source.syncStatus.lastSuccess

            // EKS changes: one association goes, fifty arrive (they would be on page 3).
            standIn.remove(namespace: "shop", serviceAccount: "sa-0")
            for index in 250..<300 { standIn.add(namespace: "shop", serviceAccount: "sa-\(index)") }
            let fault = SecondPageFault(fault: .status(503, type: "ServiceUnavailableException", message: "down"))
            standIn.setFaults { request, _ in fault.decide(request) }
            let before = standIn.requests.count

            #expect(!(await source.syncOnce()))

            #expect(source.snapshot == good)
            #expect(source.isReady)
            #expect(await source.association(of: Self.ref(0)).found, "removed in EKS, but the listing did not complete")
            #expect(!(await source.association(of: Self.ref(260)).found), "added in EKS, but the listing did not complete")
            #expect(source.syncStatus.lastSuccess == lastSuccess)
            #expect(source.syncStatus.lastError?.contains("ServiceUnavailableException") == true)
            let listing = Self.fullListings(standIn.requests.dropFirst(before))
            let pageTwo = try #require(fault.pageTwoToken)
            #expect(listing.count == 1 + RetryPolicy().maxAttempts, "page 1 once, page 2 every attempt")
            #expect(listing.first?.query["nextToken"] == nil)
            #expect(listing.dropFirst().allSatisfy { $0.query["nextToken"] == pageTwo }, "no page 3")
            #expect(fault.failed == RetryPolicy().maxAttempts)
            #expect(
                recorded.counterTotal(
                    label: "pod_identity_webhook_eks_sync_errors_total",
                    dimensions: [("reason", "ServiceUnavailableException")]) == 1)
            #expect(recorded.counterTotal(label: "pod_identity_webhook_eks_sync_errors_total") == 1)
            let associations = try #require(recorded.meters(label: "pod_identity_webhook_eks_associations").first)
            #expect(associations.lastValue == 250, "the gauge still shows the snapshot in use")

            // EKS answers again: the next sync installs the new listing whole.
            standIn.setFaults { _, _ in nil }
            #expect(await source.syncOnce())
            #expect(source.snapshot.count == 299)
            #expect(!(await source.association(of: Self.ref(0)).found))
            #expect(await source.association(of: Self.ref(299)).found)
        }
    }

    @Test("before the first success, a failing page 2 installs nothing: not ready, no pairs from page 1")
    func nothingBeforeFirstSuccess() async throws {
        try await EKSTest.with(Self.standIn()) { standIn, client in
            let source = Self.source(client, standIn)
            let fault = SecondPageFault(fault: .status(500, type: "InternalFailure", message: "boom"))
            standIn.setFaults { request, _ in fault.decide(request) }
            #expect(!(await source.syncOnce()))
            #expect(!source.isReady)
            #expect(source.snapshot.count == 0)
            #expect(!(await source.association(of: Self.ref(0)).found), "page 1 was read, but is not used alone")
            #expect(source.syncStatus.lastSuccess == nil)

            standIn.setFaults { _, _ in nil }
            #expect(await source.syncOnce())
            #expect(source.isReady)
            #expect(source.snapshot.count == 250)
        }
    }

    @Test("a page 2 that fails once is retried in place: the listing goes on from page 2, not from page 1")
    func retriedInPlace() async throws {
        try await EKSTest.with(Self.standIn()) { standIn, client in
            let source = Self.source(client, standIn)
            let fault = SecondPageFault(failures: 1, fault: .status(500, type: "InternalFailure", message: "boom"))
            standIn.setFaults { request, _ in fault.decide(request) }
            #expect(await source.syncOnce())
            #expect(source.snapshot.count == 250)
            let listing = Self.fullListings(standIn.requests)
            let pageTwo = try #require(fault.pageTwoToken)
            #expect(listing.map { $0.query["nextToken"] == nil } == [true, false, false, false])
            #expect(listing.map { $0.query["nextToken"] == pageTwo } == [false, true, true, false])
        }
    }
}
