import Foundation
import PodIdentityAWSTestSupport
import PodIdentityCore
import PodIdentityTestSupport
import Testing

/// `/readyz` in EKS mode, over HTTP on both listeners of the webhook `serve` builds: 503 while
/// no full sync has succeeded (however many fail), 200 from the first success on, and still 200
/// when a later sync fails, because the last good associations keep serving.
@Suite("EKS mode: /readyz and the first sync", .serialized, .timeLimit(.minutes(2)))
struct EKSModeReadinessTests {
    static func fullListings(_ standIn: EKSStandIn) -> Int {
        standIn.requests.filter { $0.operation == "ListPodIdentityAssociations" && $0.query["namespace"] == nil }.count
    }

    static func failedSyncs(_ webhook: EKSModeWebhook) -> Int {
        webhook.logs.all.filter { $0.message.hasPrefix("sync of Pod Identity Associations failed") }.count
    }

    @Test("503 until the first successful sync, 200 from then on, also when a later sync fails")
    func readyAfterFirstSync() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        let failing = FaultSwitch(true)
        // DescribeCluster answers (the webhook starts); the listings are refused while `failing`.
        standIn.setFaults { request, _ in
            request.operation == "ListPodIdentityAssociations" && failing.isOn
                ? .status(403, type: "AccessDeniedException", message: "not authorized to list associations") : nil
        }
        try await standIn.serve { port in
            try await EKSModeWebhook.run(standIn: standIn, standInPort: port, extra: ["--sync-interval", "1s"]) {
                webhook in
                // Two full syncs have failed.
                #expect(try await webhook.eventually(within: .seconds(30)) { Self.fullListings(standIn) >= 2 })
                let metricsPort = try await webhook.get("/readyz")
                #expect(metricsPort.status == 503)
                #expect(metricsPort.body == "associations not loaded yet\n")
                #expect(try await webhook.get("/readyz", onMetricsPort: false).status == 503)
                #expect(try await webhook.get("/healthz").status == 200, "alive, only not ready")
                #expect(try await webhook.get("/healthz", onMetricsPort: false).status == 200)

                failing.set(false)
                #expect(
                    try await webhook.eventually(within: .seconds(30)) {
                        try await webhook.get("/readyz").status == 200
                    })
                let ready = try await webhook.get("/readyz", onMetricsPort: false)
                #expect(ready.status == 200 && ready.body == "ok\n")
                let review = try await webhook.review(serviceAccount: "checkout")
                #expect(review?["patch"] != nil, "ready with the cluster's associations")

                // Later syncs fail again: still ready, still mutating from the last good snapshot.
                let failures = Self.failedSyncs(webhook)
                failing.set(true)
                #expect(try await webhook.eventually(within: .seconds(30)) { Self.failedSyncs(webhook) > failures })
                #expect(try await webhook.get("/readyz").status == 200)
                #expect(try await webhook.get("/readyz", onMetricsPort: false).status == 200)
                #expect(try await webhook.review(serviceAccount: "checkout")?["patch"] != nil)
            }
        }
    }
}
