import AsyncHTTPClient
import Foundation
import PodIdentityCore
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PodIdentitySources

/// The credentials JSON that the container credentials endpoint (ECS agent, EKS Pod Identity
/// agent) and the EC2 instance metadata service answer:
/// `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`, IMDS adding `"Code": "Success"`.
///
/// Error messages name missing fields and codes, never values: the answer holds the secret.
enum CredentialJSON {
    private struct Body: Decodable {
        var code: String?
        var message: String?
        var accessKeyID: String?
        var secretAccessKey: String?
        var token: String?
        var expiration: String?

        enum CodingKeys: String, CodingKey {
            case code = "Code"
            case message = "Message"
            case accessKeyID = "AccessKeyId"
            case secretAccessKey = "SecretAccessKey"
            case token = "Token"
            case expiration = "Expiration"
        }
    }

    /// Decodes a successful answer of `source` ("container credentials endpoint", "IMDS").
    ///
    /// The expiration is required: without it the chain would cache temporary credentials
    /// forever and keep signing with them after they stopped working.
    static func decode(_ data: Data, source: String) throws -> AWSCredentials {
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: data)
        } catch {
            throw CredentialProviderError.failed("\(source) answer is not a JSON object of credentials")
        }
        if let code = body.code, code != "Success" {
            var text = "\(source) answered Code \(short(code))"
            if let message = body.message, !message.isEmpty { text += ": \(short(message))" }
            throw CredentialProviderError.failed(text)
        }
        var missing: [String] = []
        let keyID = body.accessKeyID ?? "", secret = body.secretAccessKey ?? ""
        let expirationText = body.expiration ?? ""
        if keyID.isEmpty { missing.append("AccessKeyId") }
        if secret.isEmpty { missing.append("SecretAccessKey") }
        if expirationText.isEmpty { missing.append("Expiration") }
        guard missing.isEmpty else {
            throw CredentialProviderError.failed("\(source) answer lacks \(missing.joined(separator: ", "))")
        }
        guard let expiration = parseISO8601(expirationText) else {
            throw CredentialProviderError.failed(
                "\(source) answer has an Expiration that is not an ISO 8601 time: \(short(expirationText))")
        }
        let token = body.token.flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }

    /// `Code: Message` (or either alone) from a JSON error answer, for error messages; nil when
    /// the answer is not such JSON. The raw body is never quoted.
    static func errorReason(_ data: Data) -> String? {
        guard let body = try? JSONDecoder().decode(Body.self, from: data) else { return nil }
        let parts = [body.code, body.message].compactMap { $0 }.filter { !$0.isEmpty }.map { short($0) }
        return parts.isEmpty ? nil : parts.joined(separator: ": ")
    }

    /// Text from an answer, cut to a length fit for one log line, line breaks flattened.
    static func short(_ text: String, limit: Int = 200) -> String {
        let flat = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        return flat.count > limit ? String(flat.prefix(limit)) + "…" : flat
    }

    // MARK: - ISO 8601

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)`, the form AWS writes expirations in,
    /// with or without fractional seconds. Hand-written so that it is the same on every platform
    /// and independent of locales and formatter configuration.
    static func parseISO8601(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start >= 0, start + count <= bytes.count else { return nil }
            var value = 0
            for index in start..<(start + count) {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }

        guard let year = digits(0, 4), byte(4) == UInt8(ascii: "-"),
            let month = digits(5, 2), byte(7) == UInt8(ascii: "-"),
            let day = digits(8, 2),
            let separator = byte(10),
            separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == UInt8(ascii: " "),
            let hour = digits(11, 2), byte(13) == UInt8(ascii: ":"),
            let minute = digits(14, 2), byte(16) == UInt8(ascii: ":"),
            let second = digits(17, 2)
        else { return nil }

        var index = 19
        var fraction = 0.0
        if byte(index) == UInt8(ascii: ".") || byte(index) == UInt8(ascii: ",") {
            index += 1
            var scale = 0.1
            let start = index
            while let next = byte(index), next >= UInt8(ascii: "0"), next <= UInt8(ascii: "9") {
                fraction += Double(next - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }

        var offsetSeconds = 0
        guard let zone = byte(index) else { return nil }
        switch zone {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let offsetHours = digits(index + 1, 2) else { return nil }
            index += 3
            if byte(index) == UInt8(ascii: ":") { index += 1 }
            guard let offsetMinutes = digits(index, 2), offsetHours < 24, offsetMinutes < 60 else { return nil }
            index += 2
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (zone == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        guard index == bytes.count else { return nil }

        guard (1...12).contains(month), day >= 1,
            day <= CivilDate.daysInMonth(year: Int64(year), month: Int64(month)),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        // A leap second is read as the last second of the minute.
        let clampedSecond = min(second, 59)
        let days = Int(CivilDate(year: Int64(year), month: Int64(month), day: Int64(day)).daysSinceEpoch)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + clampedSecond - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}

// MARK: - HTTP

/// An answer of a credential endpoint: status and body.
struct CredentialHTTPAnswer: Sendable {
    var status: Int
    var body: Data

    var isSuccess: Bool { (200..<300).contains(status) }
}

/// No answer came: the endpoint was not reached or did not answer in time.
enum CredentialHTTPFailure: Error, CustomStringConvertible {
    case timedOut(Duration)
    case transport(String)

    var description: String {
        switch self {
        case .timedOut(let timeout): "no answer within \(timeout)"
        case .transport(let problem): problem
        }
    }
}

enum CredentialHTTP {
    /// Sends `request` and collects at most `limit` bytes of answer, within `timeout` overall.
    ///
    /// Throws `CredentialHTTPFailure` when no complete answer arrived, `CancellationError` when
    /// the task was cancelled.
    static func send(
        _ request: HTTPClientRequest, client: HTTPClient, timeout: Duration, limit: Int = 1 << 20
    ) async throws -> CredentialHTTPAnswer {
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanosecondsClamped))
            let body = try await response.body.collect(upTo: limit)
            return CredentialHTTPAnswer(status: Int(response.status.code), body: Data(buffer: body))
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            throw CredentialHTTPFailure.timedOut(timeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw CredentialHTTPFailure.transport("\(error)")
        }
    }

    /// `base` without a trailing slash, so that a path starting with `/` can be appended.
    static func trimmingTrailingSlashes(_ base: String) -> String {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }
}
