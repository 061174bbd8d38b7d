import AsyncHTTPClient
import Foundation
import Logging
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import Synchronization
import Testing

/// A provider that always answers the same credentials.
struct StaticCredentials: CredentialProvider {
    let name = "static"
    var value = AWSCredentials(
        accessKeyID: EKSStandIn.accessKeyID, secretAccessKey: EKSStandIn.secretAccessKey, sessionToken: nil,
        expiration: nil)
    func credentials() async throws -> AWSCredentials { value }
}

enum EKSTest {
    static let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func fastRetry() -> RetryPolicy {
        var retry = RetryPolicy()
        retry.base = .milliseconds(5)
        retry.cap = .milliseconds(20)
        return retry
    }

    /// Runs `body` with a stand-in on loopback and a client pointed at it.
    static func with<T: Sendable>(
        _ standIn: EKSStandIn = EKSStandIn(), credentials: any CredentialProvider = StaticCredentials(),
        requestTimeout: Duration = .seconds(2),
        _ body: @Sendable (EKSStandIn, EKSClient) async throws -> T
    ) async throws -> T {
        try await standIn.serve { port in
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let client = try EKSClient(
                    region: standIn.region, endpoint: URL(string: "http://127.0.0.1:\(port)")!, httpClient: http,
                    credentials: credentials, retry: fastRetry(), requestTimeout: requestTimeout, logger: quietLogger)
                let result = try await body(standIn, client)
                try await http.shutdown()
                return result
            } catch {
                try? await http.shutdown()
                throw error
            }
        }
    }
}

@Suite("EKS client against the stand-in", .serialized, .timeLimit(.minutes(5)))
struct EKSClientTests {
    @Test("a full listing of 5,000 associations takes 50 pages of 100, tokens with + / = included")
    func pagination() async throws {
        let standIn = EKSStandIn()
        for index in 0..<5000 { standIn.add(namespace: "ns-\(index % 50)", serviceAccount: "sa-\(index)") }
        try await EKSTest.with(standIn) { standIn, client in
            let all = try await client.listAllPodIdentityAssociations(cluster: standIn.clusterName)
            #expect(all.count == 5000)
            #expect(Set(all.map(\.ref)).count == 5000)
            let requests = standIn.requests
            #expect(requests.count == 50)
            #expect(requests.allSatisfy { $0.query["maxResults"] == "100" })
            let tokens = requests.compactMap { $0.query["nextToken"] }
            #expect(tokens.count == 49)
            #expect(tokens.contains { $0.contains("+") || $0.contains("/") || $0.contains("=") })
        }
    }

    @Test("a single lookup sends the namespace and serviceAccount filters")
    func filteredLookup() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        standIn.add(namespace: "shop", serviceAccount: "other")
        try await EKSTest.with(standIn) { standIn, client in
            let page = try await client.listPodIdentityAssociations(
                cluster: standIn.clusterName, namespace: "shop", serviceAccount: "checkout", nextToken: nil,
                maxResults: 100)
            #expect(page.associations.map(\.ref) == [ServiceAccountRef(namespace: "shop", name: "checkout")])
            #expect(
                standIn.requests.last?.query == [
                    "maxResults": "100", "namespace": "shop", "serviceAccount": "checkout",
                ])
        }
    }

    @Test("DescribeCluster reads the IP family; a wrong cluster is a typed error with AWS's message")
    func describeCluster() async throws {
        try await EKSTest.with(EKSStandIn(ipFamily: "ipv6")) { standIn, client in
            let cluster = try await client.describeCluster(standIn.clusterName)
            #expect(cluster.ipFamily == "ipv6")
            #expect(cluster.status == "ACTIVE")
            await #expect {
                _ = try await client.describeCluster("nope")
            } throws: { error in
                let error = error as? EKSError
                return error?.type == "ResourceNotFoundException" && error?.status == 404
                    && error?.message == "No cluster found for name: nope."
            }
            #expect(standIn.requests.count == 2, "a 404 is not retried")
        }
    }

    @Test("wrong credentials get the 403 signature error, not retried")
    func badSignature() async throws {
        var wrong = StaticCredentials()
        wrong.value.secretAccessKey = "not-the-secret"
        try await EKSTest.with(credentials: wrong) { standIn, client in
            await #expect {
                _ = try await client.describeCluster(standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == "InvalidSignatureException" && (error as? EKSError)?.status == 403
            }
            #expect(standIn.requests.count == 1)
        }
    }

    @Test("session tokens are sent and signed")
    func sessionToken() async throws {
        var temporary = StaticCredentials()
        temporary.value.sessionToken = "FQoGZXIvYXdzE//token+with/slashes=="
        try await EKSTest.with(credentials: temporary) { standIn, client in
            let cluster = try await client.describeCluster(standIn.clusterName)
            #expect(cluster.name == standIn.clusterName)
        }
    }

    @Test("500s and throttling are retried, honouring Retry-After")
    func retries() async throws {
        try await EKSTest.with { standIn, client in
            standIn.setFaults { _, index in
                switch index {
                case 0: .status(500, type: "ServerException", message: "boom")
                case 1: .status(429, type: "ThrottlingException", message: "Rate exceeded", retryAfter: "0.3")
                default: nil
                }
            }
            let start = ContinuousClock.now
            let cluster = try await client.describeCluster(standIn.clusterName)
            #expect(cluster.name == standIn.clusterName)
            #expect(ContinuousClock.now - start >= .milliseconds(300))
            #expect(standIn.requests.count == 3)
        }
    }

    @Test("retries stop after the last attempt with the last error")
    func retriesExhausted() async throws {
        try await EKSTest.with { standIn, client in
            standIn.setFaults { _, _ in .status(503, type: "ServiceUnavailableException", message: "down") }
            await #expect {
                _ = try await client.describeCluster(standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == "ServiceUnavailableException"
            }
            #expect(standIn.requests.count == RetryPolicy().maxAttempts)
        }
    }

    @Test("a hanging answer is a timeout error after the request timeout")
    func hanging() async throws {
        try await EKSTest.with(requestTimeout: .milliseconds(200)) { standIn, client in
            standIn.setFaults { _, _ in .hang(.seconds(1)) }
            let start = ContinuousClock.now
            await #expect {
                _ = try await client.describeCluster(standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == "Timeout"
            }
            #expect(ContinuousClock.now - start < .seconds(3))
        }
    }

    @Test(
        "truncated or invalid JSON is an InvalidResponse error",
        arguments: ["{\"associations\":[{\"namesp", "not json", "{\"associations\": 3}"])
    func invalidJSON(_ body: String) async throws {
        try await EKSTest.with { standIn, client in
            standIn.setFaults { _, _ in .body(body) }
            await #expect {
                _ = try await client.listAllPodIdentityAssociations(cluster: standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == "InvalidResponse"
            }
        }
    }

    @Test("a nextToken that repeats is refused instead of looping forever")
    func paginationLoop() async throws {
        try await EKSTest.with { standIn, client in
            standIn.setFaults { _, _ in .body(#"{"associations":[],"nextToken":"same"}"#) }
            await #expect {
                _ = try await client.listAllPodIdentityAssociations(cluster: standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == "PaginationLoop"
            }
            #expect(standIn.requests.count == 2)
        }
    }

    @Test("endpoints: regional by default, .cn in China, plain http only to loopback")
    func endpoints() throws {
        #expect(
            try EKSClient.defaultEndpoint(region: "eu-west-1").absoluteString == "https://eks.eu-west-1.amazonaws.com")
        #expect(
            try EKSClient.defaultEndpoint(region: "cn-north-1").absoluteString
                == "https://eks.cn-north-1.amazonaws.com.cn")
        #expect(throws: EKSError.self) { try EKSClient.defaultEndpoint(region: "bad/region") }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { try? http.syncShutdown() }
        #expect(throws: EKSError.self) {
            _ = try EKSClient(
                region: "us-east-1", endpoint: URL(string: "http://eks.example.com")!, httpClient: http,
                credentials: StaticCredentials(), logger: EKSTest.quietLogger)
        }
    }

    @Test("full jitter stays within the exponential ceiling; Retry-After wins")
    func backoff() {
        let policy = RetryPolicy()
        #expect(policy.delay(attempt: 1, retryAfter: nil, random: { $0.upperBound }) == .milliseconds(200))
        #expect(policy.delay(attempt: 3, retryAfter: nil, random: { $0.upperBound }) == .milliseconds(800))
        #expect(policy.delay(attempt: 10, retryAfter: nil, random: { $0.upperBound }) == .seconds(5))
        #expect(policy.delay(attempt: 2, retryAfter: nil, random: { $0.lowerBound }) == .zero)
        #expect(policy.delay(attempt: 1, retryAfter: .seconds(2)) == .seconds(2))
        #expect(policy.delay(attempt: 1, retryAfter: .seconds(600)) == .seconds(30))
        #expect(RetryPolicy.retryAfter("1.5") == .milliseconds(1500))
        #expect(RetryPolicy.retryAfter("soon") == nil)
    }
}

@Suite("EKS client: endpoints and credential invalidation", .timeLimit(.minutes(1)))
struct EKSClientEndpointTests {
    @Test(
        "plain http only to a loopback address, never to a name that merely starts with 127.",
        arguments: [
            ("http://127.0.0.1:8080", true), ("http://127.1.2.3", true), ("http://localhost:1", true),
            ("http://[::1]:8080", true), ("https://eks.example.com", true), ("http://127.evil.example", false),
            ("http://127.0.0.1.evil.example", false), ("http://eks.us-west-2.amazonaws.com", false),
            ("http://0127.0.0.1", false),
        ])
    func loopbackOnly(endpoint: String, allowed: Bool) throws {
        let make = {
            try EKSClient(
                region: "us-west-2", endpoint: URL(string: endpoint)!, httpClient: .shared,
                credentials: StaticCredentials(), logger: EKSTest.quietLogger)
        }
        if allowed {
            _ = try make()
        } else {
            #expect(throws: EKSError.self) { _ = try make() }
        }
    }

    @Test("a signature AWS refuses invalidates any provider, through the protocol")
    func invalidatesThroughTheProtocol() async throws {
        let recorder = InvalidationRecorder()
        _ = try await EKSTest.with(credentials: recorder) { standIn, client in
            await #expect(throws: EKSError.self) {
                _ = try await client.listAllPodIdentityAssociations(cluster: standIn.clusterName)
            }
        }
        #expect(recorder.count >= 1)
    }
}
