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
import Testing

@testable import pod_identity_webhook

/// `serve --cluster-name …` against the stand-in, as an operator runs it: the flags parsed by
/// the real `Serve`, the webhook built by the same `buildServiceGroup` that `serve` runs.
@Suite("EKS mode end to end", .serialized, .timeLimit(.minutes(2)))
struct EKSModeEndToEndTests {
    static let environment: [String: String] = [
        "HOME": NSTemporaryDirectory(),
        "AWS_ACCESS_KEY_ID": EKSStandIn.accessKeyID, "AWS_SECRET_ACCESS_KEY": EKSStandIn.secretAccessKey,
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
    ]

    /// Builds the webhook from `serve`'s flags, posts one review, stops it. A start failure
    /// is returned as `error` (what `serve` would print).
    static func review(standInPort: Int, cluster: String, extra: [String] = [], serviceAccount: String) async throws
        -> (review: JSONValue?, error: String?, logs: LogCapture)
    {
        // Through the same rewrite as the command line (`--flag=false`, the reference's flags).
        let arguments = CommandLineCompatibility.rewrite(
            [
                "serve", "--dev", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--cluster-name", cluster,
                "--region", "us-west-2", "--eks-endpoint", "http://127.0.0.1:\(standInPort)",
                "--no-token-expiration-jitter",
            ] + extra, environment: [:]
        ).arguments
        let serve = try Serve.parse(Array(arguments.dropFirst()))
        let configuration = try serve.configuration(environment: environment)
        let logs = LogCapture()
        return try await HTTPClient.withHTTPClient(configuration: .aws) { httpClient in
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let group: ServiceGroup
            do {
                group = try await buildServiceGroup(
                    configuration: configuration, httpClient: httpClient, logger: logs.logger,
                    gracefulShutdownSignals: []
                ) { listener, port in
                    if listener == .webhook { continuation.yield(port) }
                }
            } catch {
                return (nil, "\(error)", logs)
            }
            let review = try await LoopbackServer.withRunning(group, onExit: { continuation.finish() }) {
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw ServerDidNotStart() }
                return try await post(serviceAccount: serviceAccount, port: port, httpClient: httpClient)
            }
            return (review, nil, logs)
        }
    }

    static func post(serviceAccount: String, port: Int, httpClient: HTTPClient) async throws -> JSONValue {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none  // the dev certificate is made in memory for each run
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { _ = client.shutdown() as EventLoopFuture<Void> }
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/mutate")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let pod = JSONValue.object([
            "apiVersion": "v1", "kind": "Pod", "metadata": .object(["name": "web", "namespace": "shop"]),
            "spec": .object([
                "serviceAccountName": .string(serviceAccount),
                "containers": .array([.object(["name": "app", "image": "nginx"])]),
            ]),
        ])
        request.body = .bytes(
            ByteBuffer(
                data: JSONValue.object([
                    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "request": .object([
                        "uid": "e2e", "kind": .object(["group": "", "version": "v1", "kind": "Pod"]),
                        "namespace": "shop", "operation": "CREATE", "object": pod,
                    ]),
                ]).jsonData))
        let response = try await client.execute(request, timeout: .seconds(10))
        return try JSONValue.parse(Data(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    static func env(of review: JSONValue?) throws -> [String: String] {
        let patch = try #require(review?["response"]?["patch"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        let operations = try JSONPatch(parsing: patch).operations
        var env: [String: String] = [:]
        for operation in operations where operation.path.hasSuffix("/env") {
            if case .array(let items)? = operation.value {
                for item in items { env[item["name"]?.stringValue ?? ""] = item["value"]?.stringValue }
            }
        }
        return env
    }

    @Test("pods come out as on managed EKS: regional STS, the cluster's region, the agent URI")
    func managedEKSDefaults() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await standIn.serve { port in
            let result = try await Self.review(
                standInPort: port, cluster: standIn.clusterName, serviceAccount: "checkout")
            #expect(result.error == nil, "\(result.error ?? "")")
            let env = try Self.env(of: result.review)
            #expect(env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional")
            #expect(env["AWS_DEFAULT_REGION"] == "us-west-2")
            #expect(env["AWS_REGION"] == "us-west-2")
            #expect(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://169.254.170.23/v1/credentials")
            #expect(env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] == nil)
        }
    }

    @Test("an IPv6 cluster gets only the IPv6 agent URI, as on managed EKS; the IMDS endpoint mode is opt-in; a given URI wins")
    func ipv6() async throws {
        let standIn = EKSStandIn(ipFamily: "ipv6")
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await standIn.serve { port in
            let result = try await Self.review(
                standInPort: port, cluster: standIn.clusterName, serviceAccount: "checkout")
            let env = try Self.env(of: result.review)
            #expect(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://[fd00:ec2::23]/v1/credentials")
            #expect(env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] == nil)
            let optedIn = try await Self.review(
                standInPort: port, cluster: standIn.clusterName, extra: ["--ipv6-imds-endpoint-mode"],
                serviceAccount: "checkout")
            #expect(try Self.env(of: optedIn.review)["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] == "IPv6")
            let explicit = try await Self.review(
                standInPort: port, cluster: standIn.clusterName,
                extra: [
                    "--container-credentials-full-uri", "http://agent.local/v1/credentials",
                    "--sts-regional-endpoint=false",
                ],
                serviceAccount: "checkout")
            let explicitEnv = try Self.env(of: explicit.review)
            #expect(explicitEnv["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://agent.local/v1/credentials")
            #expect(explicitEnv["AWS_STS_REGIONAL_ENDPOINTS"] == nil)
        }
    }

    @Test("an unassociated service account is not mutated")
    func unassociated() async throws {
        let standIn = EKSStandIn()
        try await standIn.serve { port in
            let result = try await Self.review(
                standInPort: port, cluster: standIn.clusterName, serviceAccount: "nobody")
            #expect(result.review?["response"]?["allowed"] == true)
            #expect(result.review?["response"]?["patch"] == nil)
        }
    }

    @Test("a wrong cluster name fails at start with a clear message")
    func wrongCluster() async throws {
        let standIn = EKSStandIn()
        try await standIn.serve { port in
            let result = try await Self.review(standInPort: port, cluster: "no-such-cluster", serviceAccount: "x")
            let error = try #require(result.error)
            #expect(error.contains("cannot describe EKS cluster \"no-such-cluster\" in us-west-2"))
            #expect(error.contains("ResourceNotFoundException"))
            #expect(!error.contains(EKSStandIn.secretAccessKey))
            #expect(!result.logs.all.contains { $0.text.contains(EKSStandIn.secretAccessKey) })
        }
    }
}
