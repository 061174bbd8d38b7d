import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import PodIdentityCore
import PodIdentityServer
import PodIdentitySources
import PodIdentityTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// ServiceAccounts as the server sees them: an in-memory lookup behind the protocol (the
/// Kubernetes list/watch source is tested against its stand-in elsewhere).
final class FakeServiceAccounts: ServiceAccountLookup, Service {
    private let state = Mutex<(ready: Bool, accounts: [ServiceAccountRef: ServiceAccountInfo], waits: Int)>(
        (false, [:], 0))

    func set(ready: Bool) { state.withLock { $0.ready = ready } }
    func put(_ info: ServiceAccountInfo) { state.withLock { $0.accounts[info.ref] = info } }
    var waits: Int { state.withLock { $0.waits } }

    var isReady: Bool { state.withLock { $0.ready } }
    func serviceAccount(_ ref: ServiceAccountRef, waitIfMissing: Bool) async -> ServiceAccountInfo? {
        state.withLock { state in
            if waitIfMissing { state.waits += 1 }
            return state.accounts[ref]
        }
    }
    var annotatedServiceAccounts: [ServiceAccountInfo] {
        state.withLock { $0.accounts.values.filter(\.isInteresting) }.sorted { $0.ref < $1.ref }
    }
    var debugStatus: [String: String] { ["fake": "true"] }
    func run() async throws { try? await gracefulShutdown() }
}

@Suite("Serving with ServiceAccounts", .serialized, .timeLimit(.minutes(2)))
struct ServiceAccountServingTests {
    static func decodedPatch(_ body: Data) throws -> String {
        let review = try JSONValue.parse(body)
        let patch = try #require(review["response"]?["patch"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        return String(decoding: patch, as: UTF8.self)
    }

    @Test("/readyz waits for the first listing; IRSA and Pod Identity over HTTP; /debug lists role ARNs; pod_count{method}")
    func irsaOverHTTP() async throws {
        let accounts = FakeServiceAccounts()
        accounts.put(
            ServiceAccountInfo(
                ref: ServiceAccountRef(namespace: "default", name: "irsa"), roleARN: "arn:aws:iam::111122223333:role/irsa",
                regionalSTS: true))
        accounts.put(ServiceAccountInfo(ref: ServiceAccountRef(namespace: "default", name: "app"), regionalSTS: true))
        let client = try TestCertificates.client(trusting: WebhookServerTests.certificate.certificatePEM)
        defer { client.shutdownInBackground() }
        try await TestServer.with(
            configure: { $0.debuggingHandlers = true }, serviceAccounts: accounts,
            certificates: try WebhookServerTests.store()
        ) { server in
            #expect(try await WebhookServerTests.get(client, server.metricsBase + "/readyz").status == 503)
            accounts.set(ready: true)
            #expect(try await WebhookServerTests.get(client, server.metricsBase + "/readyz").status == 200)

            let irsa = try await WebhookServerTests.post(
                client, server.base + "/mutate", body: Reviews.body(object: Reviews.pod(serviceAccount: "irsa")))
            let irsaPatch = try Self.decodedPatch(irsa.body)
            #expect(irsaPatch.contains("AWS_ROLE_ARN") && irsaPatch.contains("aws-iam-token"))
            #expect(irsaPatch.contains("AWS_STS_REGIONAL_ENDPOINTS"))
            #expect(!irsaPatch.contains("pod-identity"))
            let audit = try JSONValue.parse(irsa.body)["response"]?["auditAnnotations"]
            #expect(audit?["decision"] == "mutated" && audit?["method"] == "irsa")
            #expect(audit?["reason"]?.stringValue?.contains("role-arn annotation gives IRSA") == true)

            // default/app is associated (the TestServer's static source): Pod Identity, with the
            // ServiceAccount's sts-regional-endpoints, and no wait for it.
            let waitsBefore = accounts.waits
            let associated = try await WebhookServerTests.post(
                client, server.base + "/mutate", body: Reviews.body(object: Reviews.pod(serviceAccount: "app")))
            let podIdentityPatch = try Self.decodedPatch(associated.body)
            #expect(podIdentityPatch.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
            #expect(podIdentityPatch.contains("AWS_STS_REGIONAL_ENDPOINTS"))
            #expect(accounts.waits == waitsBefore)

            let debug = try await WebhookServerTests.get(client, server.metricsBase + "/debug/associations")
            let listed = try JSONValue.parse(Data(debug.body.utf8))
            #expect(listed["serviceAccounts"]?["ready"] == true)
            guard case .array(let annotated)? = listed["serviceAccounts"]?["annotated"] else {
                Issue.record("no annotated ServiceAccounts in \(debug.body)")
                return
            }
            #expect(annotated.contains { $0["roleArn"] == "arn:aws:iam::111122223333:role/irsa" })

            let metrics = try await WebhookServerTests.get(client, server.metricsBase + "/metrics").body
            #expect(metrics.contains(#"pod_identity_webhook_pod_count{method="sts_web_identity"} 1"#))
            #expect(metrics.contains(#"pod_identity_webhook_pod_count{method="container_credentials"} 1"#))
        }
    }
}

/// A source with a negative-cache entry for one pair, as the EKS source reports it.
struct ExplainingSource: AssociationSource {
    let snapshot = AssociationSnapshot([ServiceAccountRef(namespace: "default", name: "app")], source: "eks:test")
    var isReady: Bool { true }
    var debugStatus: [String: String] { ["cluster": "test"] }
    func explain(_ ref: ServiceAccountRef) -> [String: String] {
        ref.name == "cached" ? ["negativeCacheSecondsLeft": "12.5"] : [:]
    }
    func run() async throws { try? await gracefulShutdown() }
}

@Suite("/debug/explain", .serialized, .timeLimit(.minutes(2)))
struct ExplainTests {
    @Test("explains an associated, an IRSA, an unassociated and a negatively cached pair over HTTP; 400 without a pair")
    func explain() async throws {
        let accounts = FakeServiceAccounts()
        accounts.set(ready: true)
        accounts.put(
            ServiceAccountInfo(ref: ServiceAccountRef(namespace: "default", name: "irsa"), roleARN: "arn:aws:iam::1:role/r"))
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { client.shutdownInBackground() }
        try await TestServer.with(
            configure: { $0.debuggingHandlers = true }, source: ExplainingSource(), serviceAccounts: accounts
        ) { server in
            func explain(_ serviceAccount: String) async throws -> JSONValue {
                let response = try await WebhookServerTests.get(
                    client, server.metricsBase + "/debug/explain?namespace=default&serviceAccount=\(serviceAccount)")
                #expect(response.status == 200)
                return try JSONValue.parse(Data(response.body.utf8))
            }
            let associated = try await explain("app")
            #expect(associated["wouldDo"] == "pod-identity" && associated["associated"] == true)
            #expect(associated["source"] == "eks:test" && associated["lastSync"]?["cluster"] == "test")
            let irsa = try await explain("irsa")
            #expect(irsa["wouldDo"] == "irsa" && irsa["serviceAccountAnnotations"]?["roleArn"] == "arn:aws:iam::1:role/r")
            let unassociated = try await explain("nobody")
            #expect(unassociated["wouldDo"] == "not-associated" && unassociated["lookup"] == nil)
            #expect(unassociated["serviceAccountAnnotations"]?["known"] == false)
            let cached = try await explain("cached")
            #expect(cached["wouldDo"] == "not-associated")
            #expect(cached["lookup"]?["negativeCacheSecondsLeft"] == "12.5")
            let missing = try await WebhookServerTests.get(client, server.metricsBase + "/debug/explain?namespace=default")
            #expect(missing.status == 400)
        }
        try await TestServer.with(source: ExplainingSource()) { server in
            let response = try await WebhookServerTests.get(
                client, server.metricsBase + "/debug/explain?namespace=default&serviceAccount=app")
            #expect(response.status == 404)
        }
    }
}
