import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import Testing

/// `pod-identity-webhook serve --cluster-name …` against the stand-in, as an operator runs it.
@Suite("EKS mode end to end", .serialized)
struct EKSModeEndToEndTests {
    static var binary: String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return [
            here.appendingPathComponent("pod-identity-webhook"),
            repository.appendingPathComponent(".build/debug/pod-identity-webhook"),
        ]
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path ?? "pod-identity-webhook"
    }

    static let environment: [String: String] = [
        "PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory(),
        "AWS_ACCESS_KEY_ID": EKSStandIn.accessKeyID, "AWS_SECRET_ACCESS_KEY": EKSStandIn.secretAccessKey,
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
    ]

    /// Starts the webhook, waits for its port, posts one review, stops it.
    static func review(standInPort: Int, cluster: String, extra: [String] = [], serviceAccount: String) async throws
        -> (status: Int32, review: JSONValue?, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments =
            [
                "serve", "--dev", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--cluster-name",
                cluster,
                "--region", "us-west-2", "--eks-endpoint", "http://127.0.0.1:\(standInPort)",
                "--no-token-expiration-jitter",
            ] + extra
        process.environment = environment
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("piw-eks-out-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outFile) }
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("piw-eks-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            if process.isRunning { process.terminate() }
        }
        defer { watchdog.cancel() }
        // Poll the output file: a blocking read would hold one of the few threads that the
        // in-process stand-in needs to answer the webhook's EKS requests.
        var text = ""
        while !text.contains("Decode the patch") && process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            text = String(decoding: (try? Data(contentsOf: outFile)) ?? Data(), as: UTF8.self)
        }
        var review: JSONValue?
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("curl ") }),
            let address = line.split(separator: " ").first(where: { $0.hasPrefix("https://") }),
            let port = address.split(separator: "/")[1].split(separator: ":").last.flatMap({ Int($0) })
        {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none  // the dev certificate is made in memory by the child process
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
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
                            "namespace": "shop",
                            "operation": "CREATE", "object": pod,
                        ]),
                    ]).jsonData))
            let response = try await client.execute(request, timeout: .seconds(10))
            review = try JSONValue.parse(Data(buffer: try await response.body.collect(upTo: 1 << 20)))
            try await client.shutdown()
            process.terminate()
        } else if !text.isEmpty || process.isRunning {
            Issue.record(
                "no curl line in the webhook's output: \(text)\nstderr: \(String(decoding: (try? Data(contentsOf: errFile)) ?? Data(), as: UTF8.self))"
            )
        }
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        return (process.terminationStatus, review, String(decoding: try Data(contentsOf: errFile), as: UTF8.self))
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
            #expect(result.status == 0, "\(result.stderr)")
            let env = try Self.env(of: result.review)
            #expect(env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional")
            #expect(env["AWS_DEFAULT_REGION"] == "us-west-2")
            #expect(env["AWS_REGION"] == "us-west-2")
            #expect(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://169.254.170.23/v1/credentials")
            #expect(env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] == nil)
        }
    }

    @Test("an IPv6 cluster gets the IPv6 agent URI and endpoint mode, unless the URI was given")
    func ipv6() async throws {
        let standIn = EKSStandIn(ipFamily: "ipv6")
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await standIn.serve { port in
            let result = try await Self.review(
                standInPort: port, cluster: standIn.clusterName, serviceAccount: "checkout")
            let env = try Self.env(of: result.review)
            #expect(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://[fd00:ec2::23]/v1/credentials")
            #expect(env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] == "IPv6")
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
            #expect(result.status != 0)
            #expect(result.stderr.contains("cannot describe EKS cluster \"no-such-cluster\" in us-west-2"))
            #expect(result.stderr.contains("ResourceNotFoundException"))
            #expect(!result.stderr.contains(EKSStandIn.secretAccessKey))
        }
    }
}
