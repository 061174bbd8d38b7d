import Foundation
import PodIdentityAWS
import Testing

/// The signer against AWS's own SigV4 test suite (Fixtures/sigv4, one folder per case), plus
/// the parts the suite does not pin down: query encoding, date formatting, re-signing, redaction.
@Suite("SigV4 signer", .timeLimit(.minutes(5)))
struct SigV4SignerTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/sigv4")
    static let cases = SigV4TestCase.all(in: fixtures)

    @Test("the AWS test suite is there (38 header-signing cases)")
    func caseCount() {
        #expect(Self.cases.count >= 30, "found \(Self.cases.count) cases in \(Self.fixtures.path)")
    }

    @Test("canonical request, string to sign and signature equal AWS's", arguments: SigV4SignerTests.cases)
    func awsVector(_ testCase: SigV4TestCase) throws {
        let vector = try testCase.load()
        let signer = vector.signer
        let date = try vector.date()
        let signature = signer.sign(vector.request, credentials: vector.credentials, date: date)

        #expect(signature.canonicalRequest == vector.canonicalRequest)
        #expect(signature.stringToSign == vector.stringToSign)
        #expect(signature.signature == vector.signature)

        let scope =
            "\(vector.context.timestamp.prefix(10).replacingOccurrences(of: "-", with: ""))/\(vector.context.region)/\(vector.context.service)/aws4_request"
        #expect(
            signature.authorization
                == "AWS4-HMAC-SHA256 Credential=\(vector.credentials.accessKeyID)/\(scope), SignedHeaders=\(signature.signedHeaders), Signature=\(vector.signature)"
        )

        // The signed request carries the headers of header-signed-request.txt (order aside:
        // the suite puts the token before the date, for example).
        let signed = signer.signed(vector.request, credentials: vector.credentials, date: date)
        #expect(signed.method == vector.signedRequest.method)
        #expect(signed.path == vector.signedRequest.path)
        #expect(signed.query == vector.signedRequest.query)
        #expect(signed.body == vector.signedRequest.body)
        #expect(Self.headerLines(signed) == Self.headerLines(vector.signedRequest))
    }

    /// Headers as sorted `lowercase-name:raw value` lines, to compare header sets regardless of order.
    static func headerLines(_ request: SigV4Request) -> [String] {
        request.headers.map { "\($0.name.lowercased()):\($0.value)" }.sorted()
    }

    @Test("query pairs are URI-encoded the AWS way")
    func queryEncoding() throws {
        #expect(
            SigV4Request.encodeQuery([("a+b", "c/d=e"), ("with space", "-._~"), ("ሴ", "ü")])
                == "a%2Bb=c%2Fd%3De&with%20space=-._~&%E1%88%B4=%C3%BC"
        )
        #expect(SigV4Request.encodeQuery([]) == "")
        #expect(SigV4Request.encodeQuery([("empty", "")]) == "empty=")
        #expect(SigV4Request.uriEncode("AZaz09-._~ +/=%") == "AZaz09-._~%20%2B%2F%3D%25")

        // A query built this way is already canonical: the signer sorts it but changes no byte.
        let request = SigV4Request(
            method: "GET",
            path: "/clusters/prod/pod-identity-associations",
            queryItems: [("maxResults", "100"), ("nextToken", "eyJ+a/b==")],
            headers: [(name: "Host", value: "eks.us-east-1.amazonaws.com")]
        )
        #expect(request.query == "maxResults=100&nextToken=eyJ%2Ba%2Fb%3D%3D")
        let signature = SigV4Signer(service: "eks", region: "us-east-1")
            .sign(request, credentials: Self.credentials(), date: Date(timeIntervalSince1970: 1_795_435_200))
        let lines = signature.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)
        try #require(lines.count > 2)
        #expect(lines[2] == "maxResults=100&nextToken=eyJ%2Ba%2Fb%3D%3D")
    }

    @Test("an already-encoded path is encoded again, as AWS and botocore sign it")
    func pathIsEncodedTwice() throws {
        let request = SigV4Request(
            method: "GET", path: "/example%20space/a+b", headers: [(name: "Host", value: "example.amazonaws.com")])
        let signature = SigV4Signer(service: "service", region: "us-east-1")
            .sign(request, credentials: Self.credentials(), date: Date(timeIntervalSince1970: 1_440_938_160))
        let lines = signature.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)
        try #require(lines.count > 1)
        #expect(lines[1] == "/example%2520space/a%2Bb")
    }

    @Test("X-Amz-Date is UTC, whole seconds, yyyyMMdd'T'HHmmss'Z'")
    func amzDate() {
        #expect(SigV4Signer.amzDate(for: Date(timeIntervalSince1970: 1_440_938_160)) == "20150830T123600Z")
        #expect(SigV4Signer.amzDate(for: Date(timeIntervalSince1970: 1_440_938_160.999)) == "20150830T123600Z")
        #expect(SigV4Signer.amzDate(for: Date(timeIntervalSince1970: 1_709_251_199)) == "20240229T235959Z")
        #expect(SigV4Signer.amzDate(for: Date(timeIntervalSince1970: 1_795_435_200)) == "20261123T120000Z")
        #expect(SigV4Signer.amzDate(for: Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(SigV4Signer.amzDate(for: Date(timeIntervalSince1970: -1)) == "19691231T235959Z")
    }

    @Test("signing a signed request again replaces the signing headers instead of repeating them")
    func resigning() {
        let signer = SigV4Signer(service: "eks", region: "us-east-1")
        let credentials = Self.credentials(token: "session-token")
        let request = SigV4Request(
            method: "GET", path: "/clusters/c", headers: [(name: "Host", value: "eks.us-east-1.amazonaws.com")])
        let once = signer.signed(request, credentials: credentials, date: Date(timeIntervalSince1970: 1_795_435_200))
        let twice = signer.signed(once, credentials: credentials, date: Date(timeIntervalSince1970: 1_795_435_260))
        let fresh = signer.signed(request, credentials: credentials, date: Date(timeIntervalSince1970: 1_795_435_260))

        #expect(Self.headerLines(twice) == Self.headerLines(fresh))
        for name in ["host", "x-amz-date", "x-amz-security-token", "authorization"] {
            #expect(twice.headers.filter { $0.name.lowercased() == name }.count == 1, "\(name) once")
        }
    }

    @Test("credentials never print their secret or session token")
    func credentialsAreRedacted() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        let token = "IQoJb3JpZ2luX2VjEXAMPLE//session+token=="
        let withToken = AWSCredentials(
            accessKeyID: "AKIDEXAMPLE",
            secretAccessKey: secret,
            sessionToken: token,
            expiration: Date(timeIntervalSince1970: 1_795_435_200)
        )
        let withoutToken = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: secret)

        for credentials in [withToken, withoutToken] {
            var dumped = ""
            dump(credentials, to: &dumped)
            let texts = [
                credentials.description, credentials.debugDescription, String(describing: credentials),
                String(reflecting: credentials), "\(credentials)", dumped,
            ]
            for text in texts {
                #expect(text.contains("AKIDEXAMPLE"))
                #expect(!text.contains(secret))
                #expect(!text.contains(String(secret.prefix(8))))
                #expect(!text.contains(token))
                #expect(!text.contains(String(token.prefix(8))))
            }
        }
        #expect(withToken.description.contains("sessionToken: <redacted>"))
        #expect(withoutToken.description.contains("sessionToken: none"))
    }

    static func credentials(token: String? = nil) -> AWSCredentials {
        AWSCredentials(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: token
        )
    }
}
