import Foundation
import PodIdentityAWS
import Testing

/// One case folder of AWS's SigV4 test suite (see Fixtures/sigv4/README.md).
///
/// Only name and folder are held, so that listing the cases cannot fail; ``load()`` reads and
/// parses the files inside the test, where a broken case fails on its own.
struct SigV4TestCase: CustomTestStringConvertible, Sendable {
    let name: String
    let directory: URL

    var testDescription: String { name }

    /// Every case folder under `root`, sorted by name.
    static func all(in root: URL) -> [SigV4TestCase] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.sorted().compactMap { (name: String) -> SigV4TestCase? in
            let directory = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory),
                isDirectory.boolValue
            else {
                return nil
            }
            return SigV4TestCase(name: name, directory: directory)
        }
    }

    /// `context.json`: who signs, where, when, and how.
    struct Context: Decodable, Sendable {
        struct Credentials: Decodable, Sendable {
            var accessKeyID: String
            var secretAccessKey: String
            var token: String?

            enum CodingKeys: String, CodingKey {
                case accessKeyID = "access_key_id"
                case secretAccessKey = "secret_access_key"
                case token
            }
        }

        var credentials: Credentials
        var region: String
        var service: String
        var timestamp: String
        var normalize: Bool
        var signBody: Bool
        var omitSessionToken: Bool?

        enum CodingKeys: String, CodingKey {
            case credentials, region, service, timestamp, normalize
            case signBody = "sign_body"
            case omitSessionToken = "omit_session_token"
        }
    }

    /// A case's files, parsed.
    struct Loaded {
        var context: Context
        var request: SigV4Request
        var signedRequest: SigV4Request
        var canonicalRequest: String
        var stringToSign: String
        var signature: String

        var credentials: AWSCredentials {
            AWSCredentials(
                accessKeyID: context.credentials.accessKeyID,
                secretAccessKey: context.credentials.secretAccessKey,
                sessionToken: context.credentials.token
            )
        }

        /// The signer configured as the case says.
        var signer: SigV4Signer {
            var signer = SigV4Signer(service: context.service, region: context.region)
            signer.normalizePath = context.normalize
            signer.signBody = context.signBody
            signer.signSessionToken = !(context.omitSessionToken ?? false)
            return signer
        }

        func date() throws -> Date {
            // A fresh formatter per call: ISO8601DateFormatter is not Sendable.
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            guard let date = formatter.date(from: context.timestamp) else {
                throw SigV4TestCaseError("timestamp \(context.timestamp) is not ISO 8601")
            }
            return date
        }
    }

    func load() throws -> Loaded {
        let context = try JSONDecoder().decode(Context.self, from: Data(contentsOf: file("context.json")))
        let request = try Self.parseRequest(Array(Data(contentsOf: file("request.txt"))))
        let signedRequest = try Self.parseRequest(Array(Data(contentsOf: file("header-signed-request.txt"))))
        let canonicalRequest = try expected("header-canonical-request.txt")
        let stringToSign = try expected("header-string-to-sign.txt")
        let signature = try expected("header-signature.txt")
        return Loaded(
            context: context,
            request: request,
            signedRequest: signedRequest,
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature
        )
    }

    private func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// An expected output file; the suite's files end without a newline, but one trailing
    /// newline (as an editor might add) is tolerated.
    private func expected(_ name: String) throws -> String {
        var text = try String(decoding: Data(contentsOf: file(name)), as: UTF8.self)
        // "\r\n" is a single Character, so one removeLast() drops either line end.
        if text.last == "\n" || text.last == "\r\n" {
            text.removeLast()
        }
        return text
    }

    /// Parses a raw HTTP/1.1 request as the suite writes it.
    ///
    /// Request line `METHOD target VERSION`, where the target may itself contain spaces
    /// (`get-space-*`), so method and version are taken from the ends. Header lines are
    /// `Name:value`; a line that starts with a space or tab continues the previous value
    /// (`get-header-value-multiline`) and is kept with its line break, for the signer to fold.
    /// The body is everything after the first blank line; LF and CRLF line ends both work.
    static func parseRequest(_ bytes: [UInt8]) throws -> SigV4Request {
        let lineFeed = UInt8(ascii: "\n")
        let carriageReturn = UInt8(ascii: "\r")

        // Find the blank line that ends the head.
        var headEnd = bytes.count
        var bodyStart = bytes.count
        var index = 0
        while index < bytes.count {
            if bytes[index] == lineFeed {
                var next = index + 1
                if next < bytes.count && bytes[next] == carriageReturn {
                    next += 1
                }
                if next < bytes.count && bytes[next] == lineFeed {
                    headEnd = index
                    bodyStart = next + 1
                    break
                }
            }
            index += 1
        }

        var lines: [String] = bytes[0..<headEnd]
            .split(separator: lineFeed, omittingEmptySubsequences: false)
            .map { (line: ArraySlice<UInt8>) -> String in
                let trimmed = line.last == carriageReturn ? line.dropLast() : line
                return String(decoding: trimmed, as: UTF8.self)
            }
        while lines.last?.isEmpty == true {
            lines.removeLast()
        }
        guard let requestLine = lines.first,
            let firstSpace = requestLine.firstIndex(of: " "),
            let lastSpace = requestLine.lastIndex(of: " "),
            firstSpace < lastSpace
        else {
            throw SigV4TestCaseError("no request line in \(lines.first ?? "<empty>")")
        }
        let method = String(requestLine[..<firstSpace])
        let target = String(requestLine[requestLine.index(after: firstSpace)..<lastSpace])
        var path = target
        var query = ""
        if let questionMark = target.firstIndex(of: "?") {
            path = String(target[..<questionMark])
            query = String(target[target.index(after: questionMark)...])
        }

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            if line.hasPrefix(" ") || line.hasPrefix("\t") {
                guard !headers.isEmpty else {
                    throw SigV4TestCaseError("continuation line before any header: \(line)")
                }
                headers[headers.count - 1].value += "\n" + line
                continue
            }
            guard let colon = line.firstIndex(of: ":") else {
                throw SigV4TestCaseError("header line without a colon: \(line)")
            }
            headers.append((name: String(line[..<colon]), value: String(line[line.index(after: colon)...])))
        }

        return SigV4Request(
            method: method,
            path: path,
            query: query,
            headers: headers,
            body: Array(bytes[min(bodyStart, bytes.count)...])
        )
    }
}

struct SigV4TestCaseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
