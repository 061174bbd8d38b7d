import AsyncHTTPClient
import Foundation
import PodIdentityCore
import PodIdentityServer
import PodIdentityTestSupport
import Testing

/// The `unchanged` decision through the real server over TLS: an associated pod that already
/// has everything the webhook would add (here: the pod the webhook itself produced, sent
/// again) gets no patch at all, says `unchanged` in its audit annotations and log line, and
/// counts once in `reviews_total{decision="unchanged"}` on `/metrics`, not as a mutation.
@Suite("The unchanged decision over HTTP", .serialized, .timeLimit(.minutes(2)))
struct UnchangedDecisionOverHTTPTests {
    /// The value of one series in a Prometheus text exposition (`name{labels}` as written).
    static func value(of series: String, in exposition: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test(
        "a pod that already has everything gets no patch, decision unchanged, and reviews_total{decision=\"unchanged\"} 1"
    )
    func unchanged() async throws {
        try await TestServer.with(certificates: try WebhookServerTests.store(), random: FixedRandom(80000)) { server in
            let client = try PatientClient.make()
            defer { client.shutdownInBackground() }
            let url = server.base + "/mutate"

            let first = try await WebhookServerTests.post(client, url, body: Reviews.body(uid: "first"))
            let patch = try #require(
                try JSONValue.parse(first.body)["response"]?["patch"]?.stringValue.flatMap { Data(base64Encoded: $0) })
            let mutated = try JSONPatch(parsing: patch).apply(to: Reviews.pod())

            let again = try await WebhookServerTests.post(
                client, url, body: Reviews.body(uid: "again", object: mutated))
            #expect(again.status == 200)
            let response = try #require(try JSONValue.parse(again.body)["response"])
            #expect(response["uid"] == "again")
            #expect(response["allowed"] == true)
            #expect(response["patch"] == nil && response["patchType"] == nil)
            #expect(response["warnings"] == nil)
            #expect(response["auditAnnotations"]?["decision"] == "unchanged")
            #expect(response["auditAnnotations"]?["method"] == "pod-identity")
            #expect(
                response["auditAnnotations"]?["reason"]
                    == "service account default/app has a Pod Identity association; every container already has what it needs (or is skipped)"
            )

            let line = try #require(server.logs.all.last { $0.message == "review" })
            #expect(line.metadata["admission.uid"] == "again")
            #expect(line.metadata["admission.decision"] == "unchanged")
            #expect(line.metadata["admission.method"] == "pod-identity")

            let (status, metrics) = try await WebhookServerTests.get(client, server.metricsBase + "/metrics")
            #expect(status == 200)
            #expect(Self.value(of: #"pod_identity_webhook_reviews_total{decision="unchanged"}"#, in: metrics) == 1)
            #expect(Self.value(of: #"pod_identity_webhook_reviews_total{decision="mutated"}"#, in: metrics) == 1)
            #expect(
                Self.value(of: #"pod_identity_webhook_pod_count{method="container_credentials"}"#, in: metrics) == 1,
                "an unchanged pod is not counted as a mutated one")
            #expect(Self.value(of: "pod_identity_webhook_review_duration_seconds_count", in: metrics) == 2)
        }
    }
}
