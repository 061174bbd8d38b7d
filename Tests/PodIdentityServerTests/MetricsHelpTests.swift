import AsyncHTTPClient
import Foundation
import NIOSSL
import PodIdentityCore
import PodIdentityServer
import PodIdentityTestSupport
import Testing

/// Every family on `/metrics` says what it is (`# HELP`), and the process's own resources are
/// exported under the names Prometheus client libraries use.
@Suite("Metrics: help texts and process metrics", .serialized, .timeLimit(.minutes(2)))
struct MetricsHelpTests {
    /// Records one of everything the server records.
    static func recordEverything(_ metrics: WebhookMetrics) {
        for decision in ReviewDecision.allCases { metrics.record(decision, duration: 120_000) }
        for method in CredentialMethod.allCases { metrics.record(.mutated, method: method, duration: 80_000) }
        for status in [400, 408, 413, 415] { metrics.recordRejected(status: status) }
        metrics.setAssociations(3)
    }

    @Test("every # TYPE family of the server's own metrics has a # HELP line")
    func everyFamilyHasHelp() {
        let metrics = WebhookMetrics()
        Self.recordEverything(metrics)
        let exposition = MetricsExposition(metrics.exposition())
        #expect(exposition.malformed.isEmpty, "\(exposition.malformed)")
        for name in [
            WebhookMetrics.reviewsLabel, WebhookMetrics.durationLabel, WebhookMetrics.rejectedLabel,
            WebhookMetrics.associationsLabel, "pod_identity_webhook_pod_count",
        ] {
            #expect(exposition.types[name] != nil, "\(name) is not exported")
        }
        #expect(exposition.types.count >= 5)
        #expect(exposition.familiesWithoutHelp.isEmpty, "families without # HELP: \(exposition.familiesWithoutHelp)")
        #expect(exposition.types[WebhookMetrics.durationLabel] == "histogram")
    }

    @Test("the check sees a family without # HELP, and a component cannot replace the server's own text")
    func checkCanFail() {
        let exposition = MetricsExposition(
            """
            # HELP described_total Described.
            # TYPE described_total counter
            described_total 1
            # TYPE undescribed_seconds histogram
            undescribed_seconds_bucket{le="+Inf"} 1
            undescribed_seconds_sum 0.5
            undescribed_seconds_count 1
            # HELP empty_help 
            # TYPE empty_help gauge
            empty_help 2
            """)
        #expect(exposition.familiesWithoutHelp == ["empty_help", "undescribed_seconds"])
        #expect(exposition.exports("undescribed_seconds_bucket") && exposition.exports("described_total"))
        #expect(!exposition.exports("described_total_bucket") && !exposition.exports("other"))
        let overriding = WebhookMetrics(help: [WebhookMetrics.reviewsLabel: "something else"])
        #expect(
            MetricsExposition(overriding.exposition()).help[WebhookMetrics.reviewsLabel]
                == WebhookMetrics.help[WebhookMetrics.reviewsLabel])
    }

    #if os(Linux)
        @Test("process_* metrics: resident memory, CPU, file descriptors and start time of this process")
        func processMetrics() throws {
            let metrics = WebhookMetrics()
            let before = Date().timeIntervalSince1970
            // Burn a little CPU, so the counter has something to count.
            var sum = 0.0
            for index in 0..<2_000_000 { sum += Double(index).squareRoot() }
            #expect(sum > 0)
            let text = metrics.exposition()
            let exposition = MetricsExposition(text)
            func value(_ name: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                    Double($0.split(separator: " ")[1])
                }
            }
            let resident = try #require(value("process_resident_memory_bytes"))
            let virtual = try #require(value("process_virtual_memory_bytes"))
            #expect(resident > 1_000_000 && resident < virtual, "resident \(resident), virtual \(virtual)")
            #expect(exposition.types["process_cpu_seconds_total"] == "counter")
            #expect(try #require(value("process_cpu_seconds_total")) > 0)
            let open = try #require(value("process_open_fds")), limit = try #require(value("process_max_fds"))
            #expect(open >= 3 && open <= limit, "open \(open), limit \(limit)")
            let start = try #require(value("process_start_time_seconds"))
            #expect(start <= before + 1 && start > before - 86_400 * 7, "start \(start), now \(before)")
            #expect(exposition.familiesWithoutHelp.isEmpty, "\(exposition.familiesWithoutHelp)")
        }
    #endif

    @Test("the running server's /metrics: every family has # HELP after reviews, a refused request and a scrape")
    func runningServer() async throws {
        try await TestServer.with { server in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
            defer { client.shutdownInBackground() }
            _ = try await WebhookServerTests.post(client, server.base + "/mutate", body: Reviews.body())
            _ = try await WebhookServerTests.post(
                client, server.base + "/mutate", body: Reviews.body(object: Reviews.pod(serviceAccount: "x")))
            let refused = try await WebhookServerTests.post(
                client, server.base + "/mutate", body: Reviews.body(), contentType: "text/plain")
            #expect(refused.status == 415)
            let (status, text) = try await WebhookServerTests.get(client, server.metricsBase + "/metrics")
            #expect(status == 200)
            let exposition = MetricsExposition(text)
            #expect(exposition.malformed.isEmpty, "\(exposition.malformed)")
            #expect(exposition.types[WebhookMetrics.rejectedLabel] == "counter")
            #expect(exposition.types["pod_identity_webhook_pod_count"] == "counter")
            #expect(
                exposition.familiesWithoutHelp.isEmpty, "families without # HELP: \(exposition.familiesWithoutHelp)")
        }
    }
}
