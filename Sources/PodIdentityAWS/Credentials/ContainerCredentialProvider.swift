import AsyncHTTPClient
import Foundation
import NIOHTTP1
import PodIdentitySources

/// Credentials from a container credentials endpoint: the ECS agent, or the EKS Pod Identity
/// agent (which is how a pod that this webhook mutated gets its credentials, and how the
/// webhook itself may get them).
///
/// As in the SDKs: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is a path on the ECS agent
/// (`http://169.254.170.2`); otherwise `AWS_CONTAINER_CREDENTIALS_FULL_URI` is the whole URL,
/// https anywhere or plain http only to loopback or to the ECS/EKS agent addresses. The
/// `Authorization` header is the content of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read
/// again on every call because the kubelet rotates it, or else `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
public struct ContainerCredentialProvider: CredentialProvider {
    public let name = "container"
    private let environment: [String: String]
    private let httpClient: HTTPClient
    private let timeout: Duration
    private let relativeURIBase: String

    /// - Parameters:
    ///   - timeout: for the whole request.
    ///   - relativeURIBase: where `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is appended; the ECS
    ///     agent's address, replaced only by tests.
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient,
        timeout: Duration = .seconds(2), relativeURIBase: String = "http://169.254.170.2"
    ) {
        self.environment = environment
        self.httpClient = httpClient
        self.timeout = timeout
        self.relativeURIBase = relativeURIBase
    }

    public func credentials() async throws -> AWSCredentials {
        let url = try endpoint()
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization = try authorizationToken() {
            request.headers.add(name: "Authorization", value: authorization)
        }
        let answer: CredentialHTTPAnswer
        do {
            answer = try await CredentialHTTP.send(request, client: httpClient, timeout: timeout)
        } catch let failure as CredentialHTTPFailure {
            throw CredentialProviderError.failed("container credentials endpoint \(url): \(failure)")
        }
        guard answer.isSuccess else {
            var text = "container credentials endpoint \(url) answered HTTP \(answer.status)"
            if let reason = CredentialJSON.errorReason(answer.body) { text += " (\(reason))" }
            throw CredentialProviderError.failed(text)
        }
        return try CredentialJSON.decode(answer.body, source: "container credentials endpoint \(url)")
    }

    private func value(_ name: String) -> String? { environment.nonBlankValue(name) }

    /// The URL to ask, by the SDKs' rules.
    func endpoint() throws -> String {
        if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            let path = relative.hasPrefix("/") ? relative : "/" + relative
            return CredentialHTTP.trimmingTrailingSlashes(relativeURIBase) + path
        }
        guard let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") else {
            throw CredentialProviderError.notConfigured(
                "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set")
        }
        guard let url = URL(string: full), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else {
            throw CredentialProviderError.failed("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL: \(full)")
        }
        switch scheme {
        case "https":
            return full
        case "http" where Self.isAllowedPlainHTTPHost(host):
            return full
        case "http":
            throw CredentialProviderError.failed(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http only to a loopback address or the "
                    + "ECS/EKS container agent (169.254.170.2, 169.254.170.23, fd00:ec2::23); host \(host) is neither")
        default:
            throw CredentialProviderError.failed(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http or https URL, not \(scheme)")
        }
    }

    /// The `Authorization` header value, read afresh from the token file if one is named.
    private func authorizationToken() throws -> String? {
        let token: String
        if let path = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw CredentialProviderError.failed(
                    "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path): \(error.localizedDescription)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else {
                throw CredentialProviderError.failed("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path) is empty")
            }
        } else if let configured = value("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            token = configured.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            return nil
        }
        // A line break would let the token inject headers.
        guard !token.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            throw CredentialProviderError.failed("the container authorization token contains a line break")
        }
        return token
    }

    // MARK: - Allowed hosts

    /// Loopback (127.0.0.0/8, `localhost`, `::1`) and the ECS/EKS agent addresses
    /// (169.254.170.2, 169.254.170.23, fd00:ec2::23); brackets around IPv6 are accepted.
    static func isAllowedPlainHTTPHost(_ host: String) -> Bool {
        if HostAddress.isLoopback(host) { return true }
        var host = host.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let address = HostAddress.parseIPv4(host) {
            return address == [169, 254, 170, 2] || address == [169, 254, 170, 23]
        }
        return HostAddress.parseIPv6(host) == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x23]
    }
}
