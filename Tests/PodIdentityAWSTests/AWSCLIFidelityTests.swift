import Foundation
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import PodIdentityTestSupport
import Testing

/// The stand-in is only worth its tests if real AWS tooling accepts it: the real awscli
/// (botocore's EKS model and signer) creates, lists and deletes associations through it.
@Suite("The EKS stand-in speaks EKS as awscli does", .timeLimit(.minutes(5)))
struct AWSCLIFidelityTests {
    static func aws(_ arguments: [String], port: Int) async throws -> (status: Int32, stdout: String, stderr: String) {
        let aws = try #require(ChildProcess.which("aws"), "awscli is not installed")
        let output = try await ChildProcess.run(
            aws,
            arguments + ["--endpoint-url", "http://127.0.0.1:\(port)", "--region", "us-west-2", "--output", "json"],
            environment: [
                "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                "HOME": NSTemporaryDirectory(),
                "AWS_ACCESS_KEY_ID": EKSStandIn.accessKeyID, "AWS_SECRET_ACCESS_KEY": EKSStandIn.secretAccessKey,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
            ])
        return (output.status, output.standardOutput, output.standardError)
    }

    @Test("aws eks create-, list- and delete-pod-identity-association work against the stand-in")
    func awscli() async throws {
        let standIn = EKSStandIn()
        try await standIn.serve { port in
            let created = try await Self.aws(
                [
                    "eks", "create-pod-identity-association", "--cluster-name", standIn.clusterName, "--namespace",
                    "shop",
                    "--service-account", "checkout", "--role-arn", "arn:aws:iam::111122223333:role/checkout",
                ], port: port)
            #expect(created.status == 0, "\(created.stderr)")
            let association = try JSONValue.parse(Data(created.stdout.utf8))["association"]
            #expect(association?["namespace"] == "shop")
            let id = try #require(association?["associationId"]?.stringValue)

            for index in 0..<150 { standIn.add(namespace: "bulk", serviceAccount: "sa-\(index)") }
            // awscli follows nextToken itself (its paginator), so this also proves the token round-trip.
            let listed = try await Self.aws(
                ["eks", "list-pod-identity-associations", "--cluster-name", standIn.clusterName], port: port)
            #expect(listed.status == 0, "\(listed.stderr)")
            guard case .array(let all)? = try JSONValue.parse(Data(listed.stdout.utf8))["associations"] else {
                Issue.record("no associations in \(listed.stdout)")
                return
            }
            #expect(all.count == 151)
            let filtered = try await Self.aws(
                [
                    "eks", "list-pod-identity-associations", "--cluster-name", standIn.clusterName, "--namespace",
                    "shop", "--service-account", "checkout",
                ],
                port: port)
            #expect(filtered.status == 0)
            #expect(filtered.stdout.contains("\"checkout\""))
            #expect(!filtered.stdout.contains("sa-1"))

            let deleted = try await Self.aws(
                [
                    "eks", "delete-pod-identity-association", "--cluster-name", standIn.clusterName, "--association-id",
                    id,
                ], port: port)
            #expect(deleted.status == 0, "\(deleted.stderr)")
            let missing = try await Self.aws(
                [
                    "eks", "delete-pod-identity-association", "--cluster-name", standIn.clusterName, "--association-id",
                    id,
                ], port: port)
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("ResourceNotFoundException"))

            let described = try await Self.aws(["eks", "describe-cluster", "--name", standIn.clusterName], port: port)
            #expect(described.status == 0, "\(described.stderr)")
            #expect(described.stdout.contains("\"ipFamily\": \"ipv4\""))
            let wrongKey = try await Self.aws(
                ["eks", "describe-cluster", "--name", standIn.clusterName, "--no-sign-request"], port: port)
            #expect(wrongKey.status != 0, "an unsigned request is refused")
        }
    }
}
