import PodIdentityCore
import PodIdentitySources
import Testing

@testable import PodIdentityKubernetes

/// The list/watch bookkeeping on made-up pages and events: no network.
@Suite("ServiceAccount reflector", .timeLimit(.minutes(1)))
struct ServiceAccountReflectorTests {
    static func account(_ namespace: String, _ name: String, role: String? = nil, version: String? = nil)
        -> ServiceAccountObject
    {
        ServiceAccountObject(
            namespace: namespace, name: name, resourceVersion: version,
            annotations: role.map { ["eks.amazonaws.com/role-arn": $0] } ?? [:])
    }

    static let web = ServiceAccountRef(namespace: "shop", name: "web")

    @Test("a paginated list replaces the store only once complete, then watches from its version")
    func listThenWatch() {
        var reflector = ServiceAccountReflector(prefix: "eks.amazonaws.com")
        #expect(reflector.start() == .list(continueToken: nil))
        let first = reflector.listed(
            .init(items: [Self.account("shop", "web", role: "arn:aws:iam::111122223333:role/web")], continueToken: "c1",
                resourceVersion: "10"))
        #expect(first == .list(continueToken: "c1"))
        #expect(!reflector.synced && reflector.store.isEmpty)
        let done = reflector.listed(.init(items: [Self.account("shop", "db")], continueToken: nil, resourceVersion: "10"))
        #expect(done == .watch(resourceVersion: "10"))
        #expect(reflector.synced && reflector.store.count == 2)
        #expect(reflector.store[Self.web]?.roleARN == "arn:aws:iam::111122223333:role/web")
    }

    @Test("events update the store and the version; bookmarks only the version")
    func events() {
        var reflector = ServiceAccountReflector(prefix: "eks.amazonaws.com")
        _ = reflector.listed(.init(items: [Self.account("shop", "web")], continueToken: nil, resourceVersion: "10"))
        reflector.apply(.modified(Self.account("shop", "web", role: "arn:aws:iam::111122223333:role/w", version: "11")))
        #expect(reflector.store[Self.web]?.roleARN == "arn:aws:iam::111122223333:role/w")
        reflector.apply(.added(Self.account("shop", "new", version: "12")))
        reflector.apply(.deleted(Self.account("shop", "web", version: "13")))
        #expect(reflector.store[Self.web] == nil && reflector.store.count == 1)
        reflector.apply(.bookmark(resourceVersion: "20"))
        #expect(reflector.resourceVersion == "20")
        #expect(reflector.watchEnded() == .watch(resourceVersion: "20"))
    }

    @Test("410 Gone lists again at once; other failures back off and resume the watch, keeping the store")
    func failures() {
        var reflector = ServiceAccountReflector(
            prefix: "eks.amazonaws.com", backoff: Backoff(base: .milliseconds(100), cap: .seconds(2)))
        _ = reflector.listed(.init(items: [Self.account("shop", "web")], continueToken: nil, resourceVersion: "10"))
        #expect(reflector.failed(KubernetesError("expired", status: 410)) == .list(continueToken: nil))
        #expect(reflector.store.count == 1)
        let outage = KubernetesError("connection refused")
        #expect(reflector.failed(outage) == .wait(.milliseconds(400), then: .watch(resourceVersion: "10")))
        #expect(reflector.failed(outage) == .wait(.milliseconds(800), then: .watch(resourceVersion: "10")))
        for _ in 0..<10 { _ = reflector.failed(outage) }
        #expect(reflector.failed(outage) == .wait(.seconds(2), then: .watch(resourceVersion: "10")))
        #expect(reflector.store.count == 1 && reflector.restarts == 14)
        reflector.apply(.bookmark(resourceVersion: "11"))
        #expect(reflector.failures == 0)
    }

    @Test("a failure before the first complete list restarts the listing and drops the partial pages")
    func failureWhileListing() {
        var reflector = ServiceAccountReflector(prefix: "eks.amazonaws.com")
        _ = reflector.listed(.init(items: [Self.account("a", "1")], continueToken: "c", resourceVersion: "5"))
        #expect(reflector.failed(KubernetesError("down")) == .wait(.milliseconds(400), then: .list(continueToken: nil)))
        _ = reflector.listed(.init(items: [Self.account("b", "2")], continueToken: nil, resourceVersion: "6"))
        #expect(Set(reflector.store.keys) == [ServiceAccountRef(namespace: "b", name: "2")])
    }

    @Test("a ServiceAccount fetched on a miss joins the store, but never overrides what the watch said")
    func fetched() {
        var reflector = ServiceAccountReflector(prefix: "eks.amazonaws.com")
        _ = reflector.listed(.init(items: [], continueToken: nil, resourceVersion: "1"))
        reflector.fetched(ServiceAccountInfo(ref: Self.web, roleARN: "arn:aws:iam::111122223333:role/old"))
        #expect(reflector.store[Self.web]?.roleARN == "arn:aws:iam::111122223333:role/old")
        reflector.apply(.modified(Self.account("shop", "web", role: "arn:aws:iam::111122223333:role/new")))
        reflector.fetched(ServiceAccountInfo(ref: Self.web, roleARN: "arn:aws:iam::111122223333:role/old"))
        #expect(reflector.store[Self.web]?.roleARN == "arn:aws:iam::111122223333:role/new")
    }
}
