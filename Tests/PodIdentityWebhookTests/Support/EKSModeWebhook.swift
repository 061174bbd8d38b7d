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
import PodIdentityServer
import PodIdentityTestSupport
import ServiceLifecycle
import Synchronization
import Testing

@testable import pod_identity_webhook

/// `serve --cluster-name …` running against an EKS stand-in, built by the real `Serve` flags and
/// `buildServiceGroup`, with both listeners on ports the kernel picked; requests go over HTTP.
struct EKSModeWebhook {
    var webhookPort: Int
    var metricsPort: Int
    /// Speaks TLS to the webhook port without verifying the in-memory `--dev` certificate.
    var client: HTTPClient
    var logs: LogCapture

    /// Starts the webhook against the stand-in on `standInPort`, runs `body`, stops it.
    static func run<T: Sendable>(
        standIn: EKSStandIn, standInPort: Int, extra: [String] = [], _ body: (EKSModeWebhook) async throws -> T
    ) async throws -> T {
        let arguments = CommandLineCompatibility.rewrite(
            [
                "serve", "--dev", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
                "--cluster-name", standIn.clusterName, "--region", standIn.region,
                "--eks-endpoint", "http://127.0.0.1:\(standInPort)", "--no-token-expiration-jitter",
            ] + extra, environment: [:]
        ).arguments
        let configuration = try Serve.parse(Array(arguments.dropFirst()))
            .configuration(environment: EKSModeEndToEndTests.environment)
        let logs = LogCapture()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none  // the --dev certificate is made in memory for each run
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .seconds(30))))
        do {
            let result = try await HTTPClient.withHTTPClient(configuration: .aws) { httpClient in
                let (ports, continuation) = AsyncStream.makeStream(of: (WebhookServer.Listener, Int).self)
                let group = try await buildServiceGroup(
                    configuration: configuration, httpClient: httpClient, logger: logs.logger,
                    gracefulShutdownSignals: []
                ) { listener, port in continuation.yield((listener, port)) }
                return try await LoopbackServer.withRunning(group, onExit: { continuation.finish() }) {
                    var webhookPort = 0, metricsPort = 0
                    for await (listener, port) in ports {
                        if listener == .webhook { webhookPort = port } else { metricsPort = port }
                        if webhookPort != 0 && metricsPort != 0 { break }
                    }
                    guard webhookPort != 0 && metricsPort != 0 else { throw ServerDidNotStart() }
                    return try await body(
                        EKSModeWebhook(webhookPort: webhookPort, metricsPort: metricsPort, client: client, logs: logs))
                }
            }
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// GET `path` on the webhook port (HTTPS) or the metrics port (plain HTTP).
    func get(_ path: String, onMetricsPort: Bool = true) async throws -> (status: Int, body: String) {
        let base = onMetricsPort ? "http://127.0.0.1:\(metricsPort)" : "https://127.0.0.1:\(webhookPort)"
        let response = try await client.execute(HTTPClientRequest(url: base + path), timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// POSTs a review of a pod of `shop/serviceAccount` and returns the answer's `response`.
    func review(serviceAccount: String) async throws -> JSONValue? {
        try await EKSModeEndToEndTests.post(serviceAccount: serviceAccount, port: webhookPort, httpClient: client)[
            "response"]
    }

    /// Polls `condition` every 20 ms until it holds or `limit` has passed.
    func eventually(within limit: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }
}

/// A Prometheus text exposition as scraped, read into samples: series name, labels, value.
struct ScrapedMetrics {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                samples.append(Sample(name: String(series), labels: [:], value: value))
                continue
            }
            var labels: [String: String] = [:]
            // Label values here are plain names and numbers: no escaped quotes or commas.
            for pair in series[series.index(after: brace)...].dropLast().split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            samples.append(Sample(name: String(series[..<brace]), labels: labels, value: value))
        }
    }

    /// The value of the series `name` with exactly `labels`, or nil when it is absent.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Every series of `name`.
    func series(_ name: String) -> [Sample] { samples.filter { $0.name == name } }
}

/// A switch a stand-in's fault function reads.
final class FaultSwitch: Sendable {
    private let on: Mutex<Bool>
    init(_ on: Bool) { self.on = Mutex(on) }
    var isOn: Bool { on.withLock { $0 } }
    func set(_ value: Bool) { on.withLock { $0 = value } }
}
