import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Credentials from STS `AssumeRoleWithWebIdentity` with a projected service account token
/// (IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, optionally `AWS_ROLE_SESSION_NAME`.
///
/// The call is unsigned, as in the SDKs: the web identity token is the proof. The token file is
/// read again on every call, because the kubelet rotates it.
public struct WebIdentityCredentialProvider: CredentialProvider {
    public let name = "web-identity"
    private let environment: [String: String]
    private let httpClient: HTTPClient
    private let stsEndpoint: URL?
    private let timeout: Duration

    /// - Parameters:
    ///   - stsEndpoint: nil means the regional STS endpoint of `AWS_REGION` / `AWS_DEFAULT_REGION`,
    ///     or the global one without a region.
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient,
        stsEndpoint: URL? = nil, timeout: Duration = .seconds(5)
    ) {
        self.environment = environment
        self.httpClient = httpClient
        self.stsEndpoint = stsEndpoint
        self.timeout = timeout
    }

    /// `https://sts.REGION.amazonaws.com` (`.amazonaws.com.cn` in China regions), or the global
    /// `https://sts.amazonaws.com` without a region.
    public static func defaultEndpoint(region: String?) throws -> URL {
        guard let region, !region.isEmpty else { return URL(string: "https://sts.amazonaws.com")! }
        guard let url = AWSEndpoint.regional(service: "sts", region: region) else {
            throw CredentialProviderError.failed("\"\(region)\" is not an AWS region")
        }
        return url
    }

    private func value(_ name: String) -> String? { environment.nonBlankValue(name) }

    public func credentials() async throws -> AWSCredentials {
        let tokenFileSetting = value("AWS_WEB_IDENTITY_TOKEN_FILE"), roleArnSetting = value("AWS_ROLE_ARN")
        guard let tokenFile = tokenFileSetting, let roleArn = roleArnSetting else {
            if tokenFileSetting == nil && roleArnSetting == nil {
                throw CredentialProviderError.notConfigured("AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set")
            }
            throw CredentialProviderError.failed(
                tokenFileSetting == nil
                    ? "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not"
                    : "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
        }
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
        } catch {
            throw CredentialProviderError.failed(
                "cannot read AWS_WEB_IDENTITY_TOKEN_FILE \(tokenFile): \(error.localizedDescription)")
        }
        guard !token.isEmpty else {
            throw CredentialProviderError.failed("AWS_WEB_IDENTITY_TOKEN_FILE \(tokenFile) is empty")
        }
        let sessionName =
            value("AWS_ROLE_SESSION_NAME") ?? "pod-identity-webhook-\(Int(Date().timeIntervalSince1970))"
        let endpoint =
            try stsEndpoint ?? Self.defaultEndpoint(region: value("AWS_REGION") ?? value("AWS_DEFAULT_REGION"))

        let form = SigV4Request.encodeQuery([
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", roleArn),
            ("RoleSessionName", sessionName),
            ("WebIdentityToken", token),
        ])
        var request = HTTPClientRequest(url: CredentialHTTP.trimmingTrailingSlashes(endpoint.absoluteString) + "/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "text/xml")
        request.body = .bytes(ByteBuffer(string: form))

        let host = endpoint.host ?? endpoint.absoluteString
        let answer: CredentialHTTPAnswer
        do {
            answer = try await CredentialHTTP.send(request, client: httpClient, timeout: timeout)
        } catch let failure as CredentialHTTPFailure {
            throw CredentialProviderError.failed("STS AssumeRoleWithWebIdentity at \(host): \(failure)")
        }
        let text = String(decoding: answer.body, as: UTF8.self)
        guard answer.isSuccess else {
            if let error = STSXML.element("Error", in: Substring(text)) {
                let code = STSXML.text("Code", in: error) ?? "HTTP \(answer.status)"
                let message = STSXML.text("Message", in: error) ?? ""
                throw CredentialProviderError.failed(
                    "STS AssumeRoleWithWebIdentity failed: \(CredentialJSON.short(code)): \(CredentialJSON.short(message, limit: 500))"
                )
            }
            throw CredentialProviderError.failed("STS AssumeRoleWithWebIdentity failed: HTTP \(answer.status)")
        }
        return try Self.parse(text)
    }

    /// Reads the `Credentials` of an `AssumeRoleWithWebIdentityResponse`.
    static func parse(_ text: String) throws -> AWSCredentials {
        guard let credentials = STSXML.element("Credentials", in: Substring(text)) else {
            throw CredentialProviderError.failed("STS AssumeRoleWithWebIdentity answer has no Credentials")
        }
        let keyID = STSXML.text("AccessKeyId", in: credentials) ?? ""
        let secret = STSXML.text("SecretAccessKey", in: credentials) ?? ""
        let token = STSXML.text("SessionToken", in: credentials) ?? ""
        let expirationText = STSXML.text("Expiration", in: credentials) ?? ""
        var missing: [String] = []
        if keyID.isEmpty { missing.append("AccessKeyId") }
        if secret.isEmpty { missing.append("SecretAccessKey") }
        if token.isEmpty { missing.append("SessionToken") }
        if expirationText.isEmpty { missing.append("Expiration") }
        guard missing.isEmpty else {
            throw CredentialProviderError.failed(
                "STS AssumeRoleWithWebIdentity answer lacks \(missing.joined(separator: ", "))")
        }
        guard let expiration = CredentialJSON.parseISO8601(expirationText) else {
            throw CredentialProviderError.failed(
                "STS AssumeRoleWithWebIdentity answer has an Expiration that is not an ISO 8601 time: "
                    + CredentialJSON.short(expirationText))
        }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}

/// Just enough XML reading for STS answers: the content of the first element of a name, and
/// its text with entities and CDATA resolved. STS answers are flat, namespace-default,
/// machine-written documents; a full parser (FoundationXML) is not worth the dependency.
enum STSXML {
    /// The raw content of the first `<name>` (or `<name …>`) element in `text`, up to its
    /// `</name>`; empty for `<name/>`; nil when there is none.
    static func element(_ name: String, in text: Substring) -> Substring? {
        let open = "<" + name, close = "</" + name + ">"
        var searchFrom = text.startIndex
        while let found = text[searchFrom...].range(of: open) {
            let after = found.upperBound
            guard after < text.endIndex else { return nil }
            let next = text[after]
            guard next == ">" || next == "/" || next.isWhitespace else {
                searchFrom = after
                continue
            }
            guard let tagEnd = text[after...].firstIndex(of: ">") else { return nil }
            if text[text.index(before: tagEnd)] == "/" { return text[tagEnd..<tagEnd] }
            let contentStart = text.index(after: tagEnd)
            guard let end = text[contentStart...].range(of: close) else { return nil }
            return text[contentStart..<end.lowerBound]
        }
        return nil
    }

    /// The text of the first element `name`, trimmed, entities unescaped.
    static func text(_ name: String, in text: Substring) -> String? {
        element(name, in: text).map { unescape($0).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Resolves `&amp; &lt; &gt; &quot; &apos;`, numeric references and CDATA sections.
    static func unescape(_ raw: Substring) -> String {
        var result = ""
        var rest = raw[...]
        while let ampersandOrCDATA = rest.firstIndex(where: { $0 == "&" || $0 == "<" }) {
            result += rest[..<ampersandOrCDATA]
            rest = rest[ampersandOrCDATA...]
            if rest.hasPrefix("<![CDATA[") {
                let inner = rest.dropFirst(9)
                guard let end = inner.range(of: "]]>") else {
                    result += inner
                    return result
                }
                result += inner[..<end.lowerBound]
                rest = inner[end.upperBound...]
                continue
            }
            if rest.first == "<" {
                result.append("<")
                rest = rest.dropFirst()
                continue
            }
            // An entity: up to the next ";" within a short distance.
            let limit = rest.index(rest.startIndex, offsetBy: 12, limitedBy: rest.endIndex) ?? rest.endIndex
            guard let semicolon = rest[..<limit].firstIndex(of: ";") else {
                result.append("&")
                rest = rest.dropFirst()
                continue
            }
            let entity = rest[rest.index(after: rest.startIndex)..<semicolon]
            if let resolved = replacement(for: entity) {
                result += resolved
                rest = rest[rest.index(after: semicolon)...]
            } else {
                result.append("&")
                rest = rest.dropFirst()
            }
        }
        result += rest
        return result
    }

    private static func replacement(for entity: Substring) -> String? {
        switch entity {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        default:
            guard entity.hasPrefix("#") else { return nil }
            let number = entity.dropFirst()
            let value: UInt32?
            if number.hasPrefix("x") || number.hasPrefix("X") {
                value = UInt32(number.dropFirst(), radix: 16)
            } else {
                value = UInt32(number, radix: 10)
            }
            return value.flatMap { Unicode.Scalar($0) }.map { String(Character($0)) }
        }
    }
}
