import Foundation
import PodIdentityAWSTestSupport
import PodIdentityCore
import Testing

/// The six EKS metrics as an operator scrapes them: from the real `/metrics` endpoint of the
/// webhook `serve` builds in EKS mode, over HTTP, after a failed sync, a successful one and two
/// miss lookups, each checked against what the stand-in saw.
@Suite("EKS mode: the EKS metrics on /metrics", .serialized, .timeLimit(.minutes(2)))
struct EKSMetricsScrapeTests {
    static let list = "ListPodIdentityAssociations"

    @Test("associations, last sync time, sync duration, sync errors, requests and miss lookups are all scraped")
    func allSixScraped() async throws {
        let standIn = EKSStandIn()
        for name in ["checkout", "cart", "payments"] { standIn.add(namespace: "shop", serviceAccount: name) }
        let started = Date().timeIntervalSince1970
        // The first full listing is refused (not retried: 403), the next one answers.
        let firstListing = FaultSwitch(true)
        standIn.setFaults { request, _ in
            guard request.operation == Self.list, request.query["namespace"] == nil, firstListing.isOn else {
                return nil
            }
            firstListing.set(false)
            return .status(403, type: "AccessDeniedException", message: "not authorized")
        }
        try await standIn.serve { port in
            try await EKSModeWebhook.run(standIn: standIn, standInPort: port) { webhook in
                #expect(
                    try await webhook.eventually(within: .seconds(30)) {
                        try await webhook.get("/readyz").status == 200
                    })
                // Two miss lookups: one finds an association created after the sync, one finds none.
                standIn.add(namespace: "shop", serviceAccount: "late")
                #expect(try await webhook.review(serviceAccount: "late")?["patch"] != nil)
                #expect(try await webhook.review(serviceAccount: "nobody")?["patch"] == nil)

                let scrape = try await webhook.get("/metrics")
                #expect(scrape.status == 200)
                let metrics = ScrapedMetrics(scrape.body)
                let finished = Date().timeIntervalSince1970

                // 1. The associations the last full sync listed (the lookup's find joins the
                // snapshot in use, which the server's own gauge counts).
                #expect(metrics.value("pod_identity_webhook_eks_associations") == 3)
                #expect(metrics.value("pod_identity_webhook_associations") == 4)
                // 2. When the sync succeeded, as Unix time.
                let lastSync = try #require(
                    metrics.value("pod_identity_webhook_eks_last_successful_sync_timestamp_seconds"))
                #expect(
                    lastSync >= started - 1 && lastSync <= finished + 1, "\(lastSync) not in [\(started), \(finished)]")
                // 3. How long the successful sync took: one observation, in seconds.
                #expect(metrics.value("pod_identity_webhook_eks_sync_duration_seconds_count") == 1)
                let duration = try #require(metrics.value("pod_identity_webhook_eks_sync_duration_seconds_sum"))
                #expect(duration > 0 && duration < finished - started + 1)
                #expect(!metrics.series("pod_identity_webhook_eks_sync_duration_seconds_bucket").isEmpty)
                // 4. The failed sync, by AWS's error type.
                #expect(
                    metrics.value("pod_identity_webhook_eks_sync_errors_total", ["reason": "AccessDeniedException"])
                        == 1)
                #expect(metrics.series("pod_identity_webhook_eks_sync_errors_total").count == 1)
                // 5. Every HTTP attempt, by operation and status, as many as the stand-in answered.
                let requests = standIn.requests
                let lists = requests.filter { $0.operation == Self.list }.count
                #expect(
                    metrics.value(
                        "pod_identity_webhook_eks_requests_total", ["operation": "DescribeCluster", "status": "200"])
                        == 1)
                #expect(
                    metrics.value("pod_identity_webhook_eks_requests_total", ["operation": Self.list, "status": "403"])
                        == 1)
                #expect(
                    metrics.value("pod_identity_webhook_eks_requests_total", ["operation": Self.list, "status": "200"])
                        == Double(lists - 1))
                #expect(lists - 1 == 3, "one good listing and two lookups")
                #expect(metrics.series("pod_identity_webhook_eks_requests_total").count == 3)
                // 6. The miss lookups, by result.
                #expect(metrics.value("pod_identity_webhook_eks_miss_lookups_total", ["result": "found"]) == 1)
                #expect(metrics.value("pod_identity_webhook_eks_miss_lookups_total", ["result": "not-found"]) == 1)
                #expect(metrics.series("pod_identity_webhook_eks_miss_lookups_total").count == 2)
            }
        }
    }
}
