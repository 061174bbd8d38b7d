import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// Credentials of the EC2 instance profile, from the instance metadata service (IMDSv2).
///
/// A session token is fetched with `PUT /latest/api/token` under a short timeout: off EC2 (or
/// in a pod whose hop limit keeps IMDS out of reach) nothing answers, and the chain must move on
/// quickly, so that is `.notConfigured`. `AWS_EC2_METADATA_DISABLED=true` turns it off;
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` or `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6` choose
/// the endpoint, as in the SDKs.
public struct IMDSCredentialProvider: CredentialProvider {
    public let name = "imds"
    private let environment: [String: String]
    private let httpClient: HTTPClient
    private let endpoint: URL?
    private let connectTimeout: Duration
    private let timeout: Duration

    static let tokenTTLHeader = "X-aws-ec2-metadata-token-ttl-seconds"
    static let tokenHeader = "X-aws-ec2-metadata-token"
    static let rolesPath = "/latest/meta-data/iam/security-credentials/"

    /// - Parameters:
    ///   - endpoint: overrides the environment and the default `http://169.254.169.254`.
    ///   - connectTimeout: for the token request, which is what tells whether IMDS is there at all.
    ///   - timeout: for each of the two metadata reads that follow.
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient,
        endpoint: URL? = nil, connectTimeout: Duration = .seconds(1), timeout: Duration = .seconds(2)
    ) {
        self.environment = environment
        self.httpClient = httpClient
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }

    private func value(_ name: String) -> String? { environment.nonBlankValue(name) }

    /// The endpoint without a trailing slash.
    func endpointBase() throws -> String {
        if let endpoint { return CredentialHTTP.trimmingTrailingSlashes(endpoint.absoluteString) }
        if let configured = value("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
            let lowered = configured.lowercased()
            guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
                throw CredentialProviderError.failed(
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http or https URL: \(configured)")
            }
            return CredentialHTTP.trimmingTrailingSlashes(configured)
        }
        switch value("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")?.lowercased() {
        case nil, "ipv4"?: return "http://169.254.169.254"
        case "ipv6"?: return "http://[fd00:ec2::254]"
        case let other?:
            throw CredentialProviderError.failed(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, not \(other)")
        }
    }

    public func credentials() async throws -> AWSCredentials {
        if value("AWS_EC2_METADATA_DISABLED")?.lowercased() == "true" {
            throw CredentialProviderError.notConfigured("AWS_EC2_METADATA_DISABLED is true")
        }
        let base = try endpointBase()

        // 1. A session token; no answer means no IMDS here.
        var tokenRequest = HTTPClientRequest(url: base + "/latest/api/token")
        tokenRequest.method = .PUT
        tokenRequest.headers.add(name: Self.tokenTTLHeader, value: "21600")
        let tokenAnswer: CredentialHTTPAnswer
        do {
            tokenAnswer = try await CredentialHTTP.send(
                tokenRequest, client: httpClient, timeout: connectTimeout, limit: 4096)
        } catch is CredentialHTTPFailure {
            throw CredentialProviderError.notConfigured("no instance metadata service reachable")
        }
        guard tokenAnswer.isSuccess else {
            throw CredentialProviderError.failed(
                "IMDS token request (PUT /latest/api/token) answered HTTP \(tokenAnswer.status)")
        }
        let token = String(decoding: tokenAnswer.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, !token.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            throw CredentialProviderError.failed("IMDS answered an empty or malformed session token")
        }

        // 2. The instance profile's role name.
        let roles = try await get(Self.rolesPath, base: base, token: token, what: "role list")
        guard roles.status != 404 else {
            throw CredentialProviderError.notConfigured("the EC2 instance has no IAM instance profile")
        }
        guard roles.isSuccess else {
            throw CredentialProviderError.failed("IMDS role list (GET \(Self.rolesPath)) answered HTTP \(roles.status)")
        }
        let firstRole = String(decoding: roles.body, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty }
        guard let role = firstRole else {
            throw CredentialProviderError.notConfigured("the EC2 instance has no IAM instance profile")
        }

        // 3. The role's credentials.
        let path = Self.rolesPath + SigV4Request.uriEncode(role)
        let answer = try await get(path, base: base, token: token, what: "credentials of role \(role)")
        guard answer.isSuccess else {
            throw CredentialProviderError.failed(
                "IMDS credentials of role \(role) (GET \(path)) answered HTTP \(answer.status)")
        }
        return try CredentialJSON.decode(answer.body, source: "IMDS credentials of role \(role)")
    }

    private func get(_ path: String, base: String, token: String, what: String) async throws -> CredentialHTTPAnswer {
        var request = HTTPClientRequest(url: base + path)
        request.method = .GET
        request.headers.add(name: Self.tokenHeader, value: token)
        do {
            return try await CredentialHTTP.send(request, client: httpClient, timeout: timeout, limit: 64 * 1024)
        } catch let failure as CredentialHTTPFailure {
            throw CredentialProviderError.failed("IMDS \(what): \(failure)")
        }
    }
}
