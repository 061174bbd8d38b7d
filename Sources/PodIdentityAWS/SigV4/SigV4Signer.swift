import Crypto
import Foundation

// MARK: - Request

/// An HTTP request in the shape AWS Signature Version 4 signs: method, wire path, raw query, headers, body.
///
/// The signature covers the request exactly as it goes on the wire, so the signer takes that and
/// nothing richer (no `URLRequest`, no client library type): what is signed and what the service
/// receives cannot drift apart, signing stays a pure function, and AWS's test vectors map onto it
/// one to one.
public struct SigV4Request: Sendable {
    /// The HTTP method, e.g. `GET`; signed exactly as given, since that is what the server sees.
    public var method: String
    /// The path as sent on the wire (already percent-encoded), without the query; empty means `/`.
    public var path: String
    /// The raw query string as sent, without the leading `?`; may be empty.
    public var query: String
    /// The headers as sent, in order; a name may repeat. Include `Host`: the signer does not invent it.
    public var headers: [(name: String, value: String)]
    /// The body; its SHA-256 is part of every signature.
    public var body: [UInt8]

    /// Creates a request from its wire form.
    ///
    /// `query` is used as given; build it with ``encodeQuery(_:)`` (or the `queryItems:`
    /// initializer) so that the bytes sent and the bytes signed are the same.
    public init(
        method: String,
        path: String,
        query: String = "",
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// Creates a request whose query is built from name/value pairs with AWS's URI encoding.
    ///
    /// Values such as pagination tokens contain `+`, `/` and `=`; encoding them the way SigV4
    /// canonicalizes them means the query on the wire is already canonical, and every AWS
    /// implementation (this one, botocore, the service) reads it the same way.
    public init(
        method: String,
        path: String,
        queryItems: [(String, String)],
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = []
    ) {
        self.init(method: method, path: path, query: Self.encodeQuery(queryItems), headers: headers, body: body)
    }

    /// Joins name/value pairs into a query string, `name=value&…`, each side URI-encoded the AWS way.
    ///
    /// Pairs keep the given order (the canonical request sorts them, the wire does not need to).
    /// Unreserved characters `A-Z a-z 0-9 - . _ ~` stay as they are; every other UTF-8 byte becomes
    /// `%XX` with uppercase hex, so a space is `%20` (never `+`) and `+` is `%2B`.
    public static func encodeQuery(_ items: [(String, String)]) -> String {
        var parts: [String] = []
        parts.reserveCapacity(items.count)
        for (name, value) in items {
            parts.append(uriEncode(name) + "=" + uriEncode(value))
        }
        return parts.joined(separator: "&")
    }

    /// URI-encodes text the way SigV4 does: unreserved characters kept, every other UTF-8 byte `%XX`.
    ///
    /// Foundation's percent-encoding keeps characters (`+`, `/`, `=`, …) that SigV4 requires to be
    /// encoded, so a signer cannot rely on it.
    public static func uriEncode(_ text: String) -> String {
        SigV4Canonical.percentEncode(text.utf8, keepingSlashes: false)
    }
}

// MARK: - Result

/// Everything signing produced: the intermediate strings, the signature, and the headers to send.
///
/// The canonical request and string to sign are kept because they are what AWS's
/// `SignatureDoesNotMatch` errors echo back, so comparing them is how a signing problem is found;
/// they are also what the test vectors check.
public struct SigV4Signature: Sendable {
    /// The canonical request (method, URI, query, headers, signed headers, payload hash), `\n`-separated.
    public var canonicalRequest: String
    /// `AWS4-HMAC-SHA256`, the date, the credential scope and the hex SHA-256 of the canonical request.
    public var stringToSign: String
    /// The signature: lowercase hex HMAC-SHA256 of the string to sign under the derived signing key.
    public var signature: String
    /// The value of the `Authorization` header.
    public var authorization: String
    /// The signed header names, lowercase, sorted, `;`-separated.
    public var signedHeaders: String
    /// Headers the request must carry besides `Authorization`, as (name, value).
    ///
    /// Always `X-Amz-Date`; `X-Amz-Security-Token` when the credentials have a session token;
    /// `X-Amz-Content-SHA256` when ``SigV4Signer/signBody`` is on and the request had none.
    public var headersToAdd: [(String, String)]
}

// MARK: - Signer

/// Signs requests with AWS Signature Version 4 (header-based, `AWS4-HMAC-SHA256`).
///
/// The webhook talks to AWS APIs directly instead of through an SDK, so it needs its own signer.
/// This one is a pure function of request, credentials and time: no clock, no I/O, no state, so
/// it is deterministic, safe to share across tasks, and checked byte for byte against AWS's
/// official test suite and against botocore.
public struct SigV4Signer: Sendable {
    /// The signing name of the service, e.g. `eks` or `sts`; the third part of the credential scope.
    public var service: String
    /// The region, e.g. `us-east-1`; the second part of the credential scope.
    public var region: String
    /// Whether the canonical URI has dot segments removed and repeated slashes collapsed.
    ///
    /// On for every service but S3, which treats the path as an opaque object key.
    public var normalizePath: Bool = true
    /// Whether to add and sign an `X-Amz-Content-SHA256` header holding the body hash.
    ///
    /// The body hash is part of the canonical request either way; only S3 (and the test
    /// vectors' `sign_body` cases) also want it as a header. Off by default because botocore's
    /// `SigV4Auth`, and so the EKS and STS APIs, do not send it.
    public var signBody: Bool = false
    /// Whether `X-Amz-Security-Token` is part of the signature when there is a session token.
    ///
    /// On for all ordinary AWS APIs. Off reproduces the rare services that want the token added
    /// after signing (AWS's `post-sts-header-after` vector); the header is still sent.
    public var signSessionToken: Bool = true

    /// Creates a signer for one service in one region, with the defaults every API but S3 uses.
    public init(service: String, region: String) {
        self.service = service
        self.region = region
    }

    /// Header names never signed: hop-by-hop headers and those proxies or SDKs rewrite in transit.
    ///
    /// A signed header that something on the way changes breaks the signature; this is the list
    /// botocore leaves out, plus `authorization`, which cannot sign itself.
    static let unsignedHeaderNames: Set<String> = [
        "authorization", "connection", "expect", "keep-alive", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
        "x-amzn-trace-id",
    ]

    /// Signs `request` as of `date` and returns the signature and the headers to add.
    ///
    /// All of the request's headers are signed except ``unsignedHeaderNames``. Any `X-Amz-Date`
    /// in the request is replaced by the one for `date`, and any `X-Amz-Security-Token` by the
    /// credentials' token when they have one. A request that already carries
    /// `X-Amz-Content-SHA256` (for example `UNSIGNED-PAYLOAD`) has that value used as the payload
    /// hash, as botocore and S3 do.
    public func sign(_ request: SigV4Request, credentials: AWSCredentials, date: Date) -> SigV4Signature {
        let amzDate = Self.amzDate(for: date)
        let dateStamp = String(amzDate.prefix(8))
        let scope = "\(dateStamp)/\(region)/\(service)/aws4_request"
        let token: String? = credentials.sessionToken.flatMap { $0.isEmpty ? nil : $0 }

        let providedPayloadHash = request.headers
            .last { SigV4Canonical.headerName($0.name) == "x-amz-content-sha256" }
            .map { SigV4Canonical.trimAll($0.value) }
        let payloadHash = providedPayloadHash ?? SigV4Canonical.hexSHA256(request.body)
        let addsPayloadHeader = signBody && providedPayloadHash == nil

        var headersToAdd: [(String, String)] = [("X-Amz-Date", amzDate)]
        if let token {
            headersToAdd.append(("X-Amz-Security-Token", token))
        }
        if addsPayloadHeader {
            headersToAdd.append(("X-Amz-Content-SHA256", payloadHash))
        }

        // The headers that take part in the signature, in order of appearance.
        var replaced: Set<String> = ["x-amz-date"]
        if token != nil {
            replaced.insert("x-amz-security-token")
        }
        var signing: [(name: String, value: String)] = []
        for header in request.headers {
            let name = SigV4Canonical.headerName(header.name)
            if !Self.unsignedHeaderNames.contains(name) && !replaced.contains(name) {
                signing.append((name: name, value: header.value))
            }
        }
        signing.append((name: "x-amz-date", value: amzDate))
        if let token, signSessionToken {
            signing.append((name: "x-amz-security-token", value: token))
        }
        if addsPayloadHeader {
            signing.append((name: "x-amz-content-sha256", value: payloadHash))
        }

        let (canonicalHeaders, signedHeaders) = SigV4Canonical.headers(signing)
        let canonicalRequest = [
            request.method,
            SigV4Canonical.uri(request.path, normalize: normalizePath),
            SigV4Canonical.query(request.query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")

        let stringToSign = [
            "AWS4-HMAC-SHA256",
            amzDate,
            scope,
            SigV4Canonical.hexSHA256(Array(canonicalRequest.utf8)),
        ].joined(separator: "\n")

        var key = Array("AWS4\(credentials.secretAccessKey)".utf8)
        for part in [dateStamp, region, service, "aws4_request"] {
            key = SigV4Canonical.hmacSHA256(key: key, message: Array(part.utf8))
        }
        let signature = SigV4Canonical.hex(SigV4Canonical.hmacSHA256(key: key, message: Array(stringToSign.utf8)))

        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"

        return SigV4Signature(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature,
            authorization: authorization,
            signedHeaders: signedHeaders,
            headersToAdd: headersToAdd
        )
    }

    /// Returns `request` signed: with `X-Amz-Date`, the session token if any, and `Authorization`.
    ///
    /// Headers the signature replaces (an old `Authorization`, `X-Amz-Date`, a token when the
    /// credentials bring one) are removed first, so signing again, as a retry does, yields a
    /// request with each of them exactly once.
    public func signed(_ request: SigV4Request, credentials: AWSCredentials, date: Date) -> SigV4Request {
        let signature = sign(request, credentials: credentials, date: date)
        var replaced: Set<String> = ["authorization"]
        for (name, _) in signature.headersToAdd {
            replaced.insert(SigV4Canonical.headerName(name))
        }
        var result = request
        result.headers.removeAll { replaced.contains(SigV4Canonical.headerName($0.name)) }
        for (name, value) in signature.headersToAdd {
            result.headers.append((name: name, value: value))
        }
        result.headers.append((name: "Authorization", value: signature.authorization))
        return result
    }

    /// Formats `date` as SigV4's `X-Amz-Date`, `yyyyMMdd'T'HHmmss'Z'` in UTC (e.g. `20150830T123600Z`).
    ///
    /// Computed with `CivilDate` rather than a `DateFormatter`, so it does not depend on locale,
    /// time zone settings or shared mutable formatter state. Fractions of a second are dropped; dates outside years 1–9999 are clamped.
    public static func amzDate(for date: Date) -> String {
        let interval = date.timeIntervalSince1970
        let clamped = interval.isFinite ? min(max(interval.rounded(.down), -62_135_596_800), 253_402_300_799) : 0
        let seconds = Int64(clamped)
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let date = CivilDate(daysSinceEpoch: days)
        let (year, month, day) = (date.year, date.month, date.day)

        func padded(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let hour = secondOfDay / 3_600
        let minute = secondOfDay % 3_600 / 60
        let second = secondOfDay % 60
        return
            "\(padded(year, 4))\(padded(month, 2))\(padded(day, 2))T\(padded(hour, 2))\(padded(minute, 2))\(padded(second, 2))Z"
    }
}

// MARK: - Canonicalization

/// The byte-level pieces of the canonical request (an implementation detail of `SigV4Signer`).
enum SigV4Canonical {
    private static let slash = UInt8(ascii: "/")
    private static let dot = UInt8(ascii: ".")
    private static let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
    private static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The canonical URI: optionally normalized, then every byte but unreserved ones and `/` encoded.
    ///
    /// The path is encoded even though it is already encoded on the wire: for every service but
    /// S3, AWS signs the encoding of the encoded path (`%20` becomes `%2520`), and so does botocore.
    static func uri(_ path: String, normalize: Bool) -> String {
        var bytes = Array(path.utf8)
        if normalize {
            bytes = removeDotSegments(bytes)
        }
        if bytes.isEmpty {
            return "/"
        }
        return percentEncode(bytes, keepingSlashes: true)
    }

    /// Removes `.` and `..` segments and empty segments (repeated slashes), as AWS normalizes paths.
    ///
    /// The result always starts with `/`. It ends with `/` when the input did and something is
    /// left besides the root, the rule botocore follows (so `/a/b/..` gives `/a`, not `/a/`).
    static func removeDotSegments(_ path: [UInt8]) -> [UInt8] {
        var kept: [ArraySlice<UInt8>] = []
        for segment in path.split(separator: slash, omittingEmptySubsequences: true) {
            if segment.count == 1 && segment.first == dot {
                continue
            }
            if segment.count == 2 && segment.allSatisfy({ $0 == dot }) {
                if !kept.isEmpty {
                    kept.removeLast()
                }
                continue
            }
            kept.append(segment)
        }
        var result: [UInt8] = [slash]
        for (index, segment) in kept.enumerated() {
            if index > 0 {
                result.append(slash)
            }
            result.append(contentsOf: segment)
        }
        if !kept.isEmpty && path.last == slash {
            result.append(slash)
        }
        return result
    }

    /// The canonical query: each name and value decoded then re-encoded, sorted by name, then value.
    ///
    /// Decoding first makes an already-encoded query (`%E1%88%B4`) and a raw one (`ሴ`) canonicalize
    /// alike, as the vectors require; `+` is a literal plus, not a space. A parameter without `=`
    /// gets an empty value; empty parameters (`a=1&&b=2`) are skipped.
    static func query(_ query: String) -> String {
        var pairs: [(name: String, value: String)] = []
        let equals = UInt8(ascii: "=")
        for component in Array(query.utf8).split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let name: ArraySlice<UInt8>
            let value: ArraySlice<UInt8>
            if let position = component.firstIndex(of: equals) {
                name = component[component.startIndex..<position]
                value = component[component.index(after: position)..<component.endIndex]
            } else {
                name = component
                value = []
            }
            pairs.append(
                (
                    name: percentEncode(percentDecode(name), keepingSlashes: false),
                    value: percentEncode(percentDecode(value), keepingSlashes: false)
                ))
        }
        pairs.sort { lhs, rhs in
            if lhs.name != rhs.name {
                return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8)
            }
            return lhs.value.utf8.lexicographicallyPrecedes(rhs.value.utf8)
        }
        return pairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// The canonical header block (`name:value\n` per name, sorted) and the signed header list.
    ///
    /// Values of a repeated name are joined with `,` in order of appearance; each value is
    /// trimmed and its inner whitespace runs, line breaks of folded values included, become one space.
    static func headers(_ headers: [(name: String, value: String)]) -> (canonical: String, signed: String) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for header in headers {
            let name = headerName(header.name)
            if values[name] == nil {
                order.append(name)
            }
            values[name, default: []].append(trimAll(header.value))
        }
        let names = order.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var canonical = ""
        for name in names {
            canonical += name + ":" + (values[name] ?? []).joined(separator: ",") + "\n"
        }
        return (canonical, names.joined(separator: ";"))
    }

    /// A header name as signed: surrounding whitespace removed, lowercase.
    static func headerName(_ name: String) -> String {
        trimAll(name).lowercased()
    }

    /// Trims ASCII whitespace at both ends and turns each inner run (spaces, tabs, CR, LF) into one space.
    ///
    /// This is SigV4's `Trimall`; counting line breaks as whitespace is what folds a multi-line
    /// (obs-fold) header value into one line, as in `get-header-value-multiline`.
    static func trimAll(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for byte in value.utf8 {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D:
                pendingSpace = !out.isEmpty
            default:
                if pendingSpace {
                    out.append(0x20)
                    pendingSpace = false
                }
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Percent-encodes bytes: unreserved `A-Z a-z 0-9 - . _ ~` kept, optionally `/`, the rest `%XX` (uppercase).
    static func percentEncode<Bytes: Sequence>(_ bytes: Bytes, keepingSlashes: Bool) -> String
    where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        for byte in bytes {
            if isUnreserved(byte) || (keepingSlashes && byte == slash) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(upperHexDigits[Int(byte >> 4)])
                out.append(upperHexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes (either hex case) to bytes; a `%` not followed by two hex digits stays literal.
    static func percentDecode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), bytes.endIndex - index >= 3,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// Lowercase hex, as SigV4 writes hashes and signatures.
    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(lowerHexDigits[Int(byte >> 4)])
            out.append(lowerHexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}
