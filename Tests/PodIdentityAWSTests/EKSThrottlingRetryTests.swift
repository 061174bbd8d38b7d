import AsyncHTTPClient
import Foundation
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import Synchronization
import Testing

/// AWS also throttles with HTTP 400 and the error type in `x-amzn-ErrorType` (the JSON
/// protocols' `ThrottlingException`, `TooManyRequestsException`, EC2's `RequestLimitExceeded`),
/// not only with 429. The client must read the type, not the status, and retry those with
/// backoff, while other 400s stay final.
@Suite("EKS client: throttling answered with HTTP 400", .serialized, .timeLimit(.minutes(2)))
struct EKSThrottlingRetryTests {
    /// The status of every HTTP attempt, in order, as the client reports them for metrics.
    final class Statuses: Sendable {
        private let recorded = Mutex<[Int]>([])
        func append(_ status: Int) { recorded.withLock { $0.append(status) } }
        var all: [Int] { recorded.withLock { $0 } }
    }

    /// Runs `body` with a client on the stand-in that reports every attempt's status.
    static func withRecordingClient(
        _ standIn: EKSStandIn = EKSStandIn(), _ body: @Sendable (EKSStandIn, EKSClient, Statuses) async throws -> Void
    ) async throws {
        let statuses = Statuses()
        try await standIn.serve { port in
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let client = try EKSClient(
                    region: standIn.region, endpoint: URL(string: "http://127.0.0.1:\(port)")!, httpClient: http,
                    credentials: StaticCredentials(), retry: EKSTest.fastRetry(), logger: EKSTest.quietLogger,
                    onRequest: { _, status in statuses.append(status) })
                try await body(standIn, client, statuses)
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw error
            }
        }
    }

    @Test(
        "a 400 throttling answer is retried until EKS answers",
        arguments: ["ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"])
    func retried(_ type: String) async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await Self.withRecordingClient(standIn) { standIn, client, statuses in
            standIn.setFaults { _, index in index < 2 ? .status(400, type: type, message: "Rate exceeded") : nil }
            let all = try await client.listAllPodIdentityAssociations(cluster: standIn.clusterName)
            #expect(all.map(\.ref) == [ServiceAccountRef(namespace: "shop", name: "checkout")])
            #expect(standIn.requests.count == 3)
            #expect(statuses.all == [400, 400, 200])
        }
    }

    @Test("a 400 throttling answer honours Retry-After")
    func retryAfter() async throws {
        try await Self.withRecordingClient { standIn, client, statuses in
            standIn.setFaults { _, index in
                index == 0
                    ? .status(400, type: "ThrottlingException", message: "Rate exceeded", retryAfter: "0.3") : nil
            }
            let start = ContinuousClock.now
            _ = try await client.describeCluster(standIn.clusterName)
            // The fast retry policy alone waits at most 20 ms: only Retry-After explains 300.
            #expect(ContinuousClock.now - start >= .milliseconds(300))
            #expect(statuses.all == [400, 200])
        }
    }

    @Test("throttling that never stops ends after the last attempt with the throttling error")
    func exhausted() async throws {
        try await Self.withRecordingClient { standIn, client, statuses in
            standIn.setFaults { _, _ in .status(400, type: "ThrottlingException", message: "Rate exceeded") }
            await #expect {
                _ = try await client.describeCluster(standIn.clusterName)
            } throws: { error in
                let error = error as? EKSError
                return error?.type == "ThrottlingException" && error?.status == 400 && error?.isThrottling == true
            }
            #expect(statuses.all == Array(repeating: 400, count: RetryPolicy().maxAttempts))
        }
    }

    @Test(
        "other 400s are final: no retry",
        arguments: ["InvalidParameterException", "InvalidRequestException", "ValidationException"])
    func otherBadRequestsNotRetried(_ type: String) async throws {
        try await Self.withRecordingClient { standIn, client, statuses in
            standIn.setFaults { _, _ in .status(400, type: type, message: "bad request") }
            await #expect {
                _ = try await client.describeCluster(standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == type
            }
            #expect(statuses.all == [400])
        }
    }

    @Test("through the source: a sync and a miss lookup throttled with 400 still succeed")
    func throughTheSource() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await Self.withRecordingClient(standIn) { standIn, client, statuses in
            var configuration = EKSAssociationSource.Configuration(cluster: standIn.clusterName)
            configuration.missLookupTimeout = .seconds(10)
            let source = EKSAssociationSource(client: client, configuration: configuration, logger: EKSTest.quietLogger)
            // Every first attempt of a request is throttled.
            let throttledOnce = Mutex<Set<String>>([])
            standIn.setFaults { request, _ in
                let key = request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: "&")
                let first = throttledOnce.withLock { $0.insert(key).inserted }
                return first ? .status(400, type: "ThrottlingException", message: "Rate exceeded") : nil
            }
            #expect(await source.syncOnce())
            #expect(source.snapshot.serviceAccounts == [ServiceAccountRef(namespace: "shop", name: "checkout")])
            standIn.add(namespace: "shop", serviceAccount: "cart")
            #expect(await source.association(of: ServiceAccountRef(namespace: "shop", name: "cart")).found)
            #expect(statuses.all == [400, 200, 400, 200])
        }
    }
}
