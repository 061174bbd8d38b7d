import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import PodIdentityKubernetesTestSupport
import PodIdentityServer
import PodIdentityTestSupport
import ServiceLifecycle
import Synchronization
import Testing

@testable import pod_identity_webhook

/// The metric names of a PromQL expression: every identifier that is not a function or
/// aggregation (followed by `(`), a keyword, a label (inside `{…}` or a `by (…)` list), a string,
/// a range or a number. Enough for the chart's alerts and dashboard, not a PromQL parser.
enum PromQLNames {
    static let keywords: Set<String> = [
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
        "inf", "nan",
    ]

    static func metricNames(in expression: String) -> Set<String> {
        var text = expression
        text = text.replacing(#/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/#, with: " ")
        text = text.replacing(#/\{[^}]*\}/#, with: " ")
        text = text.replacing(#/\[[^\]]*\]/#, with: " ")
        text = text.replacing(#/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/#, with: " ")
        text = text.replacing(#/\boffset\s+-?[0-9a-zA-Z]+/#, with: " ")
        var names = Set<String>()
        for match in text.matches(of: #/[a-zA-Z_:][a-zA-Z0-9_:]*/#) {
            if match.range.lowerBound > text.startIndex {
                let before = text[text.index(before: match.range.lowerBound)]
                if before.isNumber || before == "." || before == "$" { continue }  // 1e3, 0.5e1, a variable
            }
            let after = text[match.range.upperBound...].drop { $0.isWhitespace }
            if after.first == "(" { continue }
            let name = String(match.output)
            if keywords.contains(name.lowercased()) { continue }
            names.insert(name)
        }
        return names
    }
}

/// The chart's alerts and dashboard against a running webhook: every metric their expressions
/// name is one `/metrics` exports, and every exported family has `# HELP`.
@Suite("Monitoring: alerts and dashboard against /metrics", .serialized, .timeLimit(.minutes(3)))
struct MonitoringEndToEndTests {
    /// The chart values that turn every alert and the dashboard on (EKS source, ServiceAccount watch).
    static let valuesFile = ChartTests.chart.appendingPathComponent("ci/certmanager-eks-monitoring-values.yaml").path
    /// Metrics the alerts may read from elsewhere: kube-state-metrics and Prometheus's own `up`.
    static let external: Set<String> = ["kube_deployment_status_replicas_available", "up"]

    /// (origin, expression) of every alert and dashboard query, rendered by Helm's engine.
    static func renderedQueries() async throws -> [(origin: String, expr: String)] {
        let output = try await ChartTests.runPython(ChartTests.checker, ["--queries", valuesFile])
        try #require(output.status == 0, "\(output.stdout)\(output.stderr)")
        let list = try JSONValue.parse(Data(output.stdout.utf8))
        guard case .array(let items) = list else { throw ChartTests.SetupError(description: "not a list: \(list)") }
        return items.compactMap { item in
            guard let origin = item["origin"]?.stringValue, let expr = item["expr"]?.stringValue else { return nil }
            return (origin, expr)
        }
    }

    @Test("metric names are read from PromQL: functions, labels, strings, ranges, numbers and variables are not names")
    func extractor() {
        let expression = """
            histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job=~"$job", le!="x_total"}[$__rate_interval])))
              / on (pod) group_left sum without (instance) (b_total offset 5m) > 1e3
              or time() - c_timestamp_seconds{namespace="ns"} > 2.5e2 unless absent(d_gauge)
            """
        #expect(
            PromQLNames.metricNames(in: expression) == [
                "a_seconds_bucket", "b_total", "c_timestamp_seconds", "d_gauge",
            ])
        #expect(PromQLNames.metricNames(in: "sum(rate(x_total[5m])) by (status) > 0") == ["x_total"])
    }

    @Test(
        "every metric the PrometheusRule and the dashboard name is exported by a running webhook (EKS + ServiceAccounts)"
    )
    func everyQueriedMetricIsExported() async throws {
        let queries = try await Self.renderedQueries()
        #expect(queries.filter { $0.origin.hasPrefix("alert ") }.count == 6, "\(queries.map(\.origin))")
        #expect(queries.filter { $0.origin.hasPrefix("dashboard ") }.count >= 15, "\(queries.map(\.origin))")
        var used: [String: [String]] = [:]
        for query in queries {
            let names = PromQLNames.metricNames(in: query.expr)
            #expect(!names.isEmpty, "\(query.origin) names no metric: \(query.expr)")
            for name in names { used[name, default: []].append(query.origin) }
        }

        let scraped = try await Self.scrapeAfterEverything()
        let exposition = MetricsExposition(scraped)
        #expect(exposition.malformed.isEmpty, "\(exposition.malformed)")
        #expect(exposition.familiesWithoutHelp.isEmpty, "families without # HELP: \(exposition.familiesWithoutHelp)")
        for (name, origins) in used.sorted(by: { $0.key < $1.key }) where !Self.external.contains(name) {
            let exported = exposition.exports(name)
            #expect(exported, "\(name), used by \(origins), is not on /metrics")
        }
        // The alerts read kube-state-metrics for readiness and nothing else from outside.
        #expect(Set(used.keys).intersection(Self.external) == ["kube_deployment_status_replicas_available"])
        #expect(used.keys.count >= 15, "\(used.keys.sorted())")
    }

    /// Runs `serve` in EKS mode with the ServiceAccount watch against both stand-ins, makes every
    /// metric appear (reviews of each decision and method, a refused request, miss lookups, a
    /// failed sync, a failed watch), and returns a scrape of `/metrics`.
    static func scrapeAfterEverything() async throws -> String {
        let eks = EKSStandIn()
        eks.add(namespace: "shop", serviceAccount: "checkout")
        let kubernetes = KubernetesStandIn()
        kubernetes.apply(
            namespace: "shop", name: "web",
            annotations: ["eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/web"])
        kubernetes.apply(namespace: "shop", name: "checkout")
        let failSyncs = FailSwitch()
        eks.setFaults { request, _ in
            guard failSyncs.on, request.operation == "ListPodIdentityAssociations", request.query["namespace"] == nil
            else { return nil }
            return .status(400, type: "InvalidParameterException", message: "refused by the test")
        }
        return try await eks.serve { eksPort in
            try await kubernetes.serve { kubernetesPort in
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("monitoring-\(UUID())")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let kubeconfig = directory.appendingPathComponent("kubeconfig")
                try Data(kubernetes.kubeconfig(port: kubernetesPort).utf8).write(to: kubeconfig)
                let arguments = CommandLineCompatibility.rewrite(
                    [
                        "serve", "--dev", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
                        "--cluster-name", eks.clusterName, "--region", eks.region,
                        "--eks-endpoint", "http://127.0.0.1:\(eksPort)", "--sync-interval", "1s",
                        "--watch-service-accounts", "--kubeconfig", kubeconfig.path,
                    ], environment: [:]
                ).arguments
                let configuration = try Serve.parse(Array(arguments.dropFirst()))
                    .configuration(environment: EKSModeEndToEndTests.environment)
                return try await Self.run(configuration) { webhookPort, metricsPort, http in
                    let metricsURL = "http://127.0.0.1:\(metricsPort)"
                    func scrape() async throws -> String {
                        let response = try await http.execute(
                            HTTPClientRequest(url: metricsURL + "/metrics"), timeout: .seconds(5))
                        return String(buffer: try await response.body.collect(upTo: 4 << 20))
                    }
                    func eventually(_ what: String, _ condition: (String) -> Bool) async throws {
                        let start = ContinuousClock.now
                        while ContinuousClock.now - start < .seconds(20) {
                            if condition(try await scrape()) { return }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        Issue.record("never on /metrics: \(what)")
                    }
                    let ready = try await Self.waitReady(metricsURL, http)
                    try #require(ready, "the webhook never became ready")

                    // Pod Identity; IRSA (after an EKS miss lookup); a ServiceAccount known nowhere (a miss
                    // lookup and a GET); an undecodable pod; a refused request.
                    let checkout = try await EKSModeEndToEndTests.post(
                        serviceAccount: "checkout", port: webhookPort, httpClient: http)
                    #expect(checkout["response"]?["patch"] != nil)
                    let web = try await EKSModeEndToEndTests.post(
                        serviceAccount: "web", port: webhookPort, httpClient: http)
                    #expect(
                        try EKSModeEndToEndTests.env(of: web)["AWS_ROLE_ARN"] == "arn:aws:iam::111122223333:role/web")
                    _ = try await EKSModeEndToEndTests.post(
                        serviceAccount: "ghost", port: webhookPort, httpClient: http)
                    let undecodable = try await Self.post(
                        webhookPort, body: Reviews.body(object: .object(["kind": "Pod", "spec": "not an object"])))
                    #expect(undecodable.status == 200)
                    let refused = try await Self.post(webhookPort, body: Reviews.body(), contentType: "text/plain")
                    #expect(refused.status == 415)

                    // A failed sync, then a failed watch.
                    failSyncs.on = true
                    try await eventually("pod_identity_webhook_eks_sync_errors_total") {
                        $0.contains("pod_identity_webhook_eks_sync_errors_total{")
                    }
                    kubernetes.setDown(true)
                    kubernetes.dropWatches()
                    try await eventually("pod_identity_webhook_service_account_watch_restarts_total") {
                        $0.contains(#"pod_identity_webhook_service_account_watch_restarts_total{reason="error"}"#)
                    }
                    kubernetes.setDown(false)
                    let text = try await scrape()
                    for expected in [
                        #"pod_identity_webhook_pod_count{method="container_credentials"} 1"#,
                        #"pod_identity_webhook_pod_count{method="sts_web_identity"} 1"#,
                        #"pod_identity_webhook_reviews_total{decision="error"} 1"#,
                        #"pod_identity_webhook_rejected_requests_total{status="415"} 1"#,
                        #"pod_identity_webhook_eks_miss_lookups_total{result="not-found"} 2"#,
                        #"pod_identity_webhook_service_account_lookups_total{result="not-found"} 1"#,
                    ] {
                        #expect(text.contains(expected), "\(expected) not in\n\(text)")
                    }
                    return text
                }
            }
        }
    }

    /// Polls `/readyz` for up to 20 s.
    static func waitReady(_ metricsURL: String, _ http: HTTPClient) async throws -> Bool {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(20) {
            let response = try await http.execute(HTTPClientRequest(url: metricsURL + "/readyz"), timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            if response.status.code == 200 { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Builds the webhook as `serve` does, runs `body` with its ports, stops it.
    static func run<T: Sendable>(
        _ configuration: ServeConfiguration, _ body: (Int, Int, HTTPClient) async throws -> T
    ) async throws -> T {
        try await HTTPClient.withHTTPClient(configuration: .aws) { http in
            let (ports, continuation) = AsyncStream.makeStream(of: (WebhookServer.Listener, Int).self)
            let group = try await buildServiceGroup(
                configuration: configuration, httpClient: http, logger: LogCapture().logger, gracefulShutdownSignals: []
            ) { listener, port in continuation.yield((listener, port)) }
            return try await LoopbackServer.withRunning(group, onExit: { continuation.finish() }) {
                var webhookPort = 0, metricsPort = 0
                for await (listener, port) in ports {
                    if listener == .webhook { webhookPort = port } else { metricsPort = port }
                    if webhookPort != 0 && metricsPort != 0 { break }
                }
                guard webhookPort != 0 && metricsPort != 0 else { throw ServerDidNotStart() }
                return try await body(webhookPort, metricsPort, http)
            }
        }
    }

    /// POSTs `body` to `/mutate` over TLS (the in-memory `--dev` certificate is not verified).
    static func post(_ port: Int, body: Data, contentType: String = "application/json") async throws -> (
        status: Int, body: Data
    ) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { _ = client.shutdown() as EventLoopFuture<Void> }
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/mutate")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(data: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        return (Int(response.status.code), Data(buffer: try await response.body.collect(upTo: 1 << 20)))
    }
}

/// A flag the stand-in's fault closure reads while the test flips it.
final class FailSwitch: Sendable {
    private let state = Mutex(false)
    var on: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
