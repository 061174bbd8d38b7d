import AsyncHTTPClient
import Foundation
import PodIdentityCore
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PodIdentitySources

/// The two EKS operations the webhook needs; a protocol so the poller is tested against fakes.
public protocol EKSAPI: Sendable {
    func listPodIdentityAssociations(
        cluster: String, namespace: String?, serviceAccount: String?, nextToken: String?, maxResults: Int
    ) async throws -> PodIdentityAssociationPage
    func describeCluster(_ name: String) async throws -> ClusterDescription
}

extension EKSAPI {
    /// Every association of the cluster, page by page (100 per page), refusing a `nextToken`
    /// that repeats or a listing that never ends.
    public func listAllPodIdentityAssociations(
        cluster: String, maxPages: Int = 1000
    ) async throws -> [PodIdentityAssociationSummary] {
        var all: [PodIdentityAssociationSummary] = []
        var token: String?
        var seen: Set<String> = []
        for _ in 0..<maxPages {
            let page = try await listPodIdentityAssociations(
                cluster: cluster, namespace: nil, serviceAccount: nil, nextToken: token, maxResults: 100)
            all.append(contentsOf: page.associations)
            guard let next = page.nextToken, !next.isEmpty else { return all }
            guard seen.insert(next).inserted else {
                throw EKSError(type: "PaginationLoop", message: "EKS returned the same nextToken twice", status: 0)
            }
            token = next
        }
        throw EKSError(type: "PaginationLoop", message: "more than \(maxPages) pages of associations", status: 0)
    }
}

/// The EKS REST API over AsyncHTTPClient, signed with SigV4.
public struct EKSClient: EKSAPI {
    public let region: String
    public let endpoint: URL
    private let httpClient: HTTPClient
    private let credentials: any CredentialProvider
    private let retry: RetryPolicy
    private let requestTimeout: Duration
    private let logger: Logger
    private let onRequest: @Sendable (_ operation: String, _ status: Int) -> Void

    /// - Parameters:
    ///   - endpoint: `--eks-endpoint`; nil means `https://eks.REGION.amazonaws.com`
    ///     (`.amazonaws.com.cn` in China regions). Plain http is allowed only to loopback.
    ///   - onRequest: told each HTTP attempt's operation and status (0 without an answer), for metrics.
    public init(
        region: String, endpoint: URL? = nil, httpClient: HTTPClient, credentials: any CredentialProvider,
        retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(10), logger: Logger,
        onRequest: @escaping @Sendable (String, Int) -> Void = { _, _ in }
    ) throws {
        self.region = region
        let url = try endpoint ?? Self.defaultEndpoint(region: region)
        guard url.scheme == "https" || (url.scheme == "http" && HostAddress.isLoopback(url.host ?? "")) else {
            throw EKSError(
                type: "InvalidEndpoint", message: "--eks-endpoint must be https (plain http only to loopback): \(url)",
                status: 0)
        }
        self.endpoint = url
        self.httpClient = httpClient
        self.credentials = credentials
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.logger = logger
        self.onRequest = onRequest
    }

    public static func defaultEndpoint(region: String) throws -> URL {
        guard let url = AWSEndpoint.regional(service: "eks", region: region) else {
            throw EKSError(type: "InvalidRegion", message: "\"\(region)\" is not an AWS region", status: 0)
        }
        return url
    }

    public func listPodIdentityAssociations(
        cluster: String, namespace: String?, serviceAccount: String?, nextToken: String?, maxResults: Int
    ) async throws -> PodIdentityAssociationPage {
        var query: [(String, String)] = [("maxResults", String(maxResults))]
        if let namespace { query.append(("namespace", namespace)) }
        if let serviceAccount { query.append(("serviceAccount", serviceAccount)) }
        if let nextToken { query.append(("nextToken", nextToken)) }
        let data = try await send(
            operation: "ListPodIdentityAssociations",
            path: "/clusters/\(SigV4Request.uriEncode(cluster))/pod-identity-associations", query: query)
        do {
            return try JSONDecoder().decode(PodIdentityAssociationPage.self, from: data)
        } catch {
            throw EKSError(
                type: "InvalidResponse", message: "ListPodIdentityAssociations answer does not decode: \(error)",
                status: 200)
        }
    }

    public func describeCluster(_ name: String) async throws -> ClusterDescription {
        let data = try await send(
            operation: "DescribeCluster", path: "/clusters/\(SigV4Request.uriEncode(name))", query: [])
        do {
            return try JSONDecoder().decode(ClusterDescription.self, from: data)
        } catch {
            throw EKSError(
                type: "InvalidResponse", message: "DescribeCluster answer does not decode: \(error)", status: 200)
        }
    }

    /// One signed GET with retries for throttling and server faults.
    private func send(operation: String, path: String, query: [(String, String)]) async throws -> Data {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await sendOnce(operation: operation, path: path, query: query)
            } catch let error as EKSError where error.isRetryable && attempt < retry.maxAttempts {
                let wait = retry.delay(attempt: attempt, retryAfter: error.retryAfter)
                logger.warning(
                    "EKS request failed, retrying",
                    metadata: [
                        "aws.operation": "\(operation)", "error": "\(error.description)", "attempt": "\(attempt)",
                        "retry_in_ms":
                            "\(wait.milliseconds)",
                    ])
                try await Task.sleep(for: wait)
            }
        }
    }

    private func sendOnce(operation: String, path: String, query: [(String, String)]) async throws -> Data {
        let credentials = try await self.credentials.credentials()
        let hostHeader = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        let basePath = endpoint.path.hasSuffix("/") ? String(endpoint.path.dropLast()) : endpoint.path
        let unsigned = SigV4Request(
            method: "GET", path: basePath + path, queryItems: query,
            headers: [(name: "host", value: hostHeader), (name: "accept", value: "application/json")])
        let signed = SigV4Signer(service: "eks", region: region).signed(
            unsigned, credentials: credentials, date: Date())
        var request = HTTPClientRequest(
            url:
                "\(endpoint.scheme ?? "https")://\(hostHeader)\(signed.path)\(signed.query.isEmpty ? "" : "?" + signed.query)"
        )
        request.method = .GET
        for (name, value) in signed.headers where name.lowercased() != "host" {
            request.headers.add(name: name, value: value)
        }
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: .nanoseconds(requestTimeout.nanosecondsClamped))
            body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            onRequest(operation, 0)
            throw EKSError(
                type: "Timeout", message: "no answer from \(endpoint.host ?? "EKS") within \(requestTimeout)", status: 0
            )
        } catch {
            onRequest(operation, 0)
            throw EKSError(type: "TransportError", message: "\(error)", status: 0)
        }
        let status = Int(response.status.code)
        onRequest(operation, status)
        let data = Data(buffer: body)
        guard (200..<300).contains(status) else {
            var error = EKSError.from(
                status: status, errorTypeHeader: response.headers.first(name: "x-amzn-ErrorType"), body: data)
            error.retryAfter = RetryPolicy.retryAfter(response.headers.first(name: "Retry-After"))
            if error.type == "ExpiredTokenException" || error.type == "InvalidSignatureException" {
                await self.credentials.invalidate()
            }
            throw error
        }
        return data
    }
}
