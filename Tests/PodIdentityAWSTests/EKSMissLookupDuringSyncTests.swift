import Foundation
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import Synchronization
import Testing

/// A one-way gate: `wait()` suspends until `open()`, and returns at once afterwards.
final class OneWayGate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if now { continuation.resume() }
        }
    }
}

/// The real client with the first page of one full listing held back: the page is read from
/// the stand-in at once (so it is what EKS held when the listing started) and handed to the
/// source only when the test opens `release`, so lookups can run to their end inside a sync.
/// Filtered lookups and every other request pass straight through.
final class HeldListingEKS: EKSAPI {
    let client: EKSClient
    /// Opened once the held page has been read from EKS.
    let pageRead = OneWayGate()
    /// Opened by the test to let the held page through.
    let release = OneWayGate()
    private let armed = Mutex(false)

    init(_ client: EKSClient) { self.client = client }

    /// Holds the first page of the next full listing.
    func holdNextListing() { armed.withLock { $0 = true } }

    func listPodIdentityAssociations(
        cluster: String, namespace: String?, serviceAccount: String?, nextToken: String?, maxResults: Int
    ) async throws -> PodIdentityAssociationPage {
        let page = try await client.listPodIdentityAssociations(
            cluster: cluster, namespace: namespace, serviceAccount: serviceAccount, nextToken: nextToken,
            maxResults: maxResults)
        let hold =
            namespace == nil && nextToken == nil
            && armed.withLock { armed in
                defer { armed = false }
                return armed
            }
        if hold {
            pageRead.open()
            await release.wait()
        }
        return page
    }

    func describeCluster(_ name: String) async throws -> ClusterDescription {
        try await client.describeCluster(name)
    }
}

/// How miss lookups and full syncs meet, through the real source and client against the
/// stand-in: a pair a lookup finds while a listing runs is not lost to that listing, and a
/// full listing clears the "not associated" answers given before it started.
@Suite("EKS source: miss lookups meet full syncs", .serialized, .timeLimit(.minutes(2)))
struct EKSMissLookupDuringSyncTests {
    static let checkout = ServiceAccountRef(namespace: "shop", name: "checkout")
    static let existing = ServiceAccountRef(namespace: "shop", name: "existing")
    static let other = ServiceAccountRef(namespace: "shop", name: "other")

    static func source(_ api: any EKSAPI, _ standIn: EKSStandIn) -> EKSAssociationSource {
        var configuration = EKSAssociationSource.Configuration(cluster: standIn.clusterName)
        configuration.missLookupTimeout = .seconds(10)  // generous: the lookups must finish, not race a bound
        return EKSAssociationSource(client: api, configuration: configuration, logger: EKSTest.quietLogger)
    }

    static func lookups(_ standIn: EKSStandIn) -> Int {
        standIn.requests.filter { $0.query["namespace"] != nil }.count
    }

    @Test("an association found by a miss lookup while a full listing runs survives that listing, which lacks it")
    func findSurvivesConcurrentSync() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "existing")
        try await EKSTest.with(standIn) { standIn, client in
            let api = HeldListingEKS(client)
            let source = Self.source(api, standIn)
            #expect(await source.syncOnce())

            api.holdNextListing()
            let sync = Task { await source.syncOnce() }
            await api.pageRead.wait()
            // Created after the listing read its page: the listing will not have it.
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            #expect(await source.association(of: Self.checkout).found, "found by the miss lookup")
            #expect(Self.lookups(standIn) == 1)
            api.release.open()
            #expect(await sync.value)

            #expect(source.snapshot.serviceAccounts == [Self.existing, Self.checkout])
            #expect(await source.association(of: Self.checkout).found)
            #expect(Self.lookups(standIn) == 1, "answered from the snapshot, no second lookup")

            // A listing that starts after the find is the truth again: the association is
            // deleted in EKS, and that listing drops it.
            standIn.remove(namespace: "shop", serviceAccount: "checkout")
            #expect(await source.syncOnce())
            #expect(source.snapshot.serviceAccounts == [Self.existing])
        }
    }

    @Test("a \"not associated\" answered while a full listing runs is kept by that listing")
    func negativeDuringSyncSurvives() async throws {
        try await EKSTest.with { standIn, client in
            let api = HeldListingEKS(client)
            let source = Self.source(api, standIn)
            #expect(await source.syncOnce())

            api.holdNextListing()
            let sync = Task { await source.syncOnce() }
            await api.pageRead.wait()
            #expect(!(await source.association(of: Self.other).found))
            #expect(Self.lookups(standIn) == 1)
            api.release.open()
            #expect(await sync.value)

            #expect(source.explain(Self.other)["negativeCacheSecondsLeft"] != nil)
            #expect(!(await source.association(of: Self.other).found))
            #expect(Self.lookups(standIn) == 1, "the negative cache answered")
        }
    }

    @Test("a full sync clears the negative cache: a pair answered \"not associated\" before it is asked again")
    func syncClearsNegativeCache() async throws {
        try await EKSTest.with { standIn, client in
            let source = Self.source(client, standIn)
            #expect(await source.syncOnce())

            #expect(!(await source.association(of: Self.checkout).found))
            #expect(Self.lookups(standIn) == 1)
            #expect(source.explain(Self.checkout)["negativeCacheSecondsLeft"] != nil)
            #expect(!(await source.association(of: Self.checkout).found))
            #expect(Self.lookups(standIn) == 1, "remembered: no second lookup within the TTL")

            // A sync whose listing still lacks the pair: only the negative entry goes.
            #expect(await source.syncOnce())
            #expect(source.explain(Self.checkout).isEmpty)
            #expect(!source.snapshot.contains(Self.checkout))

            // The association is created now; the next pod's miss asks EKS again and finds it,
            // although the 30 s negative TTL has not run out.
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            #expect(await source.association(of: Self.checkout).found)
            #expect(Self.lookups(standIn) == 2)
        }
    }
}
