import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PodIdentityCore
import PodIdentityKubernetesTestSupport
import PodIdentityServer
import PodIdentityTestSupport
import ServiceLifecycle
import Testing

@testable import pod_identity_webhook

/// `serve --watch-service-accounts --kubeconfig …` against the Kubernetes stand-in, built by
/// the same `buildServiceGroup` that `serve` runs.
@Suite("ServiceAccounts end to end", .serialized, .timeLimit(.minutes(3)))
struct ServiceAccountEndToEndTests {
    struct Running {
        var webhookPort: Int
        var metricsPort: Int
        var http: HTTPClient
        var logs: LogCapture

        func roleARN(of serviceAccount: String) async throws -> String? {
            let review = try await EKSModeEndToEndTests.post(serviceAccount: serviceAccount, port: webhookPort, httpClient: http)
            guard review["response"]?["patch"] != nil else { return nil }
            return try EKSModeEndToEndTests.env(of: review)["AWS_ROLE_ARN"]
        }

        func status(_ path: String) async throws -> Int {
            let response = try await http.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(metricsPort)\(path)"), timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }

        func metrics() async throws -> String {
            let response = try await http.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(metricsPort)/metrics"), timeout: .seconds(5))
            return String(buffer: try await response.body.collect(upTo: 1 << 20))
        }

        /// Polls `body` every 50 ms until it is true; returns how long that took, or nil after `limit`.
        func within(_ limit: Duration, _ body: () async throws -> Bool) async throws -> Duration? {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < limit {
                if try await body() { return ContinuousClock.now - start }
                try await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }
    }

    static func role(_ name: String) -> [String: String] {
        ["eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/\(name)"]
    }

    static func run<T: Sendable>(
        _ standIn: KubernetesStandIn, port: Int, token: String? = nil, extra: [String] = [],
        waitUntilReady: Bool = true, _ body: (Running) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sa-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try Data(standIn.kubeconfig(port: port, token: token).utf8).write(to: kubeconfig)
        let arguments = CommandLineCompatibility.rewrite(
            [
                "serve", "--dev", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
                "--watch-service-accounts", "--kubeconfig", kubeconfig.path, "--no-token-expiration-jitter",
                "--enable-debugging-handlers",
            ] + extra, environment: [:]
        ).arguments
        let configuration = try Serve.parse(Array(arguments.dropFirst())).configuration(environment: [:])
        let logs = LogCapture()
        return try await HTTPClient.withHTTPClient { http in
            let (ports, continuation) = AsyncStream.makeStream(of: (WebhookServer.Listener, Int).self)
            let group = try await buildServiceGroup(
                configuration: configuration, httpClient: http, logger: logs.logger, gracefulShutdownSignals: []
            ) { listener, port in continuation.yield((listener, port)) }
            return try await LoopbackServer.withRunning(group, onExit: { continuation.finish() }) {
                var webhookPort = 0, metricsPort = 0
                for await (listener, port) in ports {
                    if listener == .webhook { webhookPort = port } else { metricsPort = port }
                    if webhookPort != 0 && metricsPort != 0 { break }
                }
                guard webhookPort != 0 && metricsPort != 0 else { throw ServerDidNotStart() }
                let running = Running(webhookPort: webhookPort, metricsPort: metricsPort, http: http, logs: logs)
                if waitUntilReady {
                    let ready = try await running.within(.seconds(10)) { try await running.status("/readyz") == 200 }
                    try #require(ready != nil, "the webhook never became ready")
                }
                return try await body(running)
            }
        }
    }

    @Test("ready only after the first complete list; a new, a changed and a de-annotated ServiceAccount reach the next pod")
    func changesReachTheNextPod() async throws {
        let standIn = KubernetesStandIn()
        for index in 0..<7 { standIn.apply(namespace: "shop", name: "other-\(index)") }
        standIn.apply(namespace: "shop", name: "web", annotations: Self.role("web"))
        standIn.setDelay(.milliseconds(300))
        try await standIn.serve { port in
            try await Self.run(standIn, port: port, extra: ["--service-account-lookup-grace-period", "0"], waitUntilReady: false)
            { (webhook: Running) async throws in
                #expect(try await webhook.status("/readyz") == 503)
                let ready = try await webhook.within(.seconds(10)) { try await webhook.status("/readyz") == 200 }
                #expect(ready != nil)
                standIn.setDelay(.zero)
                #expect(try await webhook.roleARN(of: "web") == "arn:aws:iam::111122223333:role/web")

                standIn.apply(namespace: "shop", name: "new", annotations: Self.role("new"))
                let added = try await webhook.within(.seconds(1)) {
                    try await webhook.roleARN(of: "new") == "arn:aws:iam::111122223333:role/new"
                }
                #expect(added != nil, "a new ServiceAccount did not reach a pod within 1 s")

                standIn.apply(namespace: "shop", name: "web", annotations: Self.role("web-v2"))
                let changed = try await webhook.within(.seconds(2)) {
                    try await webhook.roleARN(of: "web") == "arn:aws:iam::111122223333:role/web-v2"
                }
                #expect(changed != nil, "a changed role-arn did not reach a pod within 2 s")

                standIn.apply(namespace: "shop", name: "web", annotations: [:])
                let removed = try await webhook.within(.seconds(1)) { try await webhook.roleARN(of: "web") == nil }
                #expect(removed != nil, "a removed role-arn still mutated pods after 1 s")

                // One LIST (paged by 500, one page here), then watches with bookmarks.
                let lists = standIn.requests.filter { $0.path == "/api/v1/serviceaccounts" && !$0.isWatch }
                #expect(lists.first?.query["limit"] == "500")
                let watches = standIn.requests.filter(\.isWatch)
                #expect(watches.first?.query["allowWatchBookmarks"] == "true")
                #expect(watches.first?.query["timeoutSeconds"] != nil)
                let metrics = try await webhook.metrics()
                #expect(metrics.contains("pod_identity_webhook_service_accounts 9"))
                #expect(metrics.contains(#"pod_identity_webhook_pod_count{method="sts_web_identity"}"#))
            }
        }
    }

    @Test("after a dropped watch and after 410 Gone, changes arrive within 3 s")
    func recovers() async throws {
        let standIn = KubernetesStandIn()
        standIn.apply(namespace: "shop", name: "web", annotations: Self.role("v1"))
        try await standIn.serve { port in
            try await Self.run(standIn, port: port) { (webhook: Running) async throws in
                #expect(try await webhook.roleARN(of: "web") == "arn:aws:iam::111122223333:role/v1")

                standIn.dropWatches()
                standIn.apply(namespace: "shop", name: "web", annotations: Self.role("v2"))
                let afterDrop = try await webhook.within(.seconds(3)) {
                    try await webhook.roleARN(of: "web") == "arn:aws:iam::111122223333:role/v2"
                }
                #expect(afterDrop != nil, "no recovery within 3 s of a dropped watch")

                // Compaction, then a drop: the watch resumes from a version that is gone (410),
                // so the webhook lists again.
                standIn.expire()
                standIn.dropWatches()
                standIn.apply(namespace: "shop", name: "web", annotations: Self.role("v3"))
                let afterGone = try await webhook.within(.seconds(3)) {
                    try await webhook.roleARN(of: "web") == "arn:aws:iam::111122223333:role/v3"
                }
                #expect(afterGone != nil, "no recovery within 3 s of 410 Gone")
                #expect(standIn.requests.filter { !$0.isWatch && $0.path == "/api/v1/serviceaccounts" }.count >= 2)
                #expect(try await webhook.metrics().contains("pod_identity_webhook_service_account_watch_restarts_total"))
            }
        }
    }

    @Test("an API outage keeps the cache, and a review never waits longer than the grace period")
    func outage() async throws {
        let standIn = KubernetesStandIn()
        standIn.apply(namespace: "shop", name: "web", annotations: Self.role("web"))
        try await standIn.serve { port in
            try await Self.run(standIn, port: port, extra: ["--service-account-lookup-grace-period", "500ms"]) { (webhook: Running) async throws in
                standIn.setDown(true)
                standIn.dropWatches()
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await webhook.roleARN(of: "web") == "arn:aws:iam::111122223333:role/web")
                #expect(try await webhook.status("/readyz") == 200)

                // Unknown ServiceAccount while the API hangs: one GET, abandoned at the grace period.
                standIn.setDown(false)
                standIn.setDelay(.seconds(5))
                let start = ContinuousClock.now
                #expect(try await webhook.roleARN(of: "ghost") == nil)
                let waited = ContinuousClock.now - start
                #expect(waited < .seconds(4), "a review waited \(waited) on a hanging API (grace 500 ms)")
                #expect(standIn.requests.contains { $0.path == "/api/v1/namespaces/shop/serviceaccounts/ghost" })
                standIn.setDelay(.zero)
            }
        }
    }

    @Test("a ServiceAccount created while the watch is down reaches its first pod (the GET on a miss, or the resumed watch)")
    func graceLookup() async throws {
        let standIn = KubernetesStandIn()
        try await standIn.serve { port in
            try await Self.run(standIn, port: port, extra: ["--service-account-lookup-grace-period", "2s"]) { (webhook: Running) async throws in
                // Keep the watch from delivering: drop it and refuse new ones for a moment, then
                // let the GET through.
                standIn.setDown(true)
                standIn.dropWatches()
                standIn.apply(namespace: "shop", name: "fresh", annotations: Self.role("fresh"))
                standIn.setDown(false)
                #expect(try await webhook.roleARN(of: "fresh") == "arn:aws:iam::111122223333:role/fresh")
                // Which of the two delivered it is a race; when the GET did, it is counted.
                if standIn.requests.contains(where: { $0.path == "/api/v1/namespaces/shop/serviceaccounts/fresh" }) {
                    #expect(
                        try await webhook.metrics().contains(
                            #"pod_identity_webhook_service_account_lookups_total{result="found"} 1"#))
                }
            }
        }
    }

    @Test("a wrong token: 401, never ready, and the token never logged")
    func unauthorized() async throws {
        let standIn = KubernetesStandIn()
        try await standIn.serve { port in
            try await Self.run(standIn, port: port, token: "wrong-s3cr3t", waitUntilReady: false) { (webhook: Running) async throws in
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await webhook.status("/readyz") == 503)
                #expect(standIn.requests.contains { !$0.authorized })
                #expect(webhook.logs.all.contains { $0.text.contains("401") })
                #expect(!webhook.logs.all.contains { $0.text.contains("wrong-s3cr3t") })
            }
        }
    }
}
