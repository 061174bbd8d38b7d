import Foundation
import PodIdentityAWS
import PodIdentityTestSupport
import Testing

/// The EKS requests the webhook makes, signed by us and by botocore (Support/botocore_sign.py),
/// must produce the same canonical request, string to sign and `Authorization` header.
///
/// Needs `python3` with botocore (`$PYTHON` picks another interpreter); without it the tests
/// fail, saying so: a signer nobody cross-checked is not a passing signer.
@Suite("SigV4 signer agrees with botocore", .timeLimit(.minutes(5)))
struct BotocoreCrossCheckTests {
    @Test("EKS requests sign exactly as botocore signs them", arguments: EKSRequestCase.all)
    func matchesBotocore(_ testCase: EKSRequestCase) async throws {
        let date = Date(timeIntervalSince1970: 1_795_435_200)
        let timestamp = SigV4Signer.amzDate(for: date)
        #expect(timestamp == "20261123T120000Z")

        let credentials = AWSCredentials(
            accessKeyID: EKSRequestCase.accessKeyID,
            secretAccessKey: EKSRequestCase.secretAccessKey,
            sessionToken: testCase.sessionToken
        )
        let signer = SigV4Signer(service: "eks", region: testCase.region)
        let ours = signer.sign(testCase.request, credentials: credentials, date: date)

        let theirs = try await Botocore.sign(
            Botocore.Input(
                method: testCase.method,
                url: testCase.url,
                headers: Dictionary(
                    testCase.extraHeaders.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last }),
                body: testCase.body,
                accessKey: credentials.accessKeyID,
                secretKey: credentials.secretAccessKey,
                token: testCase.sessionToken,
                region: testCase.region,
                service: "eks",
                timestamp: timestamp
            )
        )

        #expect(ours.canonicalRequest == theirs.canonicalRequest)
        #expect(ours.stringToSign == theirs.stringToSign)
        #expect(ours.authorization == theirs.authorization)
        #expect(ours.signedHeaders == theirs.signedHeaders)

        // botocore adds the same signing headers, with the same values.
        for (name, value) in ours.headersToAdd {
            #expect(theirs.headers[name] == value, "\(name)")
        }
        #expect(theirs.headers["X-Amz-Security-Token"] == testCase.sessionToken)
    }
}

/// One EKS API request, in the two forms the signers take: ours (path, query, headers) and botocore's (URL).
struct EKSRequestCase: CustomTestStringConvertible, Sendable {
    static let accessKeyID = "AKIDEXAMPLE"
    static let secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    /// Shaped like an STS session token: base64 with `+`, `/` and `=`.
    static let exampleSessionToken = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token=="
    /// Shaped like an EKS pagination token: every character that needs encoding in a query.
    static let nextToken = "eyJ2IjoxLCJrIjoiQUJDK2RlZi9naGk9In0+/a b=="

    var label: String
    var method: String
    var region: String
    var path: String
    var queryItems: [(String, String)]
    var extraHeaders: [(name: String, value: String)]
    var body: String
    var sessionToken: String?

    var host: String {
        // The China partition's endpoints are under amazonaws.com.cn.
        region.hasPrefix("cn-") ? "eks.\(region).amazonaws.com.cn" : "eks.\(region).amazonaws.com"
    }

    var query: String { SigV4Request.encodeQuery(queryItems) }

    var url: String { "https://\(host)\(path)" + (query.isEmpty ? "" : "?\(query)") }

    /// Our request carries `Host` explicitly; botocore derives it from the URL.
    var request: SigV4Request {
        SigV4Request(
            method: method,
            path: path,
            query: query,
            headers: [(name: "Host", value: host)] + extraHeaders,
            body: Array(body.utf8)
        )
    }

    var testDescription: String {
        "\(label), \(region), \(sessionToken == nil ? "long-term keys" : "session token")"
    }

    static let all: [EKSRequestCase] = {
        var cases: [EKSRequestCase] = []
        for region in ["us-east-1", "cn-north-1"] {
            for token in [nil, EKSRequestCase.exampleSessionToken] {
                func add(
                    _ label: String,
                    _ method: String,
                    _ path: String,
                    query: [(String, String)] = [],
                    headers: [(name: String, value: String)] = [],
                    body: String = ""
                ) {
                    cases.append(
                        EKSRequestCase(
                            label: label, method: method, region: region, path: path, queryItems: query,
                            extraHeaders: headers, body: body, sessionToken: token
                        ))
                }
                add(
                    "ListPodIdentityAssociations", "GET", "/clusters/prod-cluster/pod-identity-associations",
                    query: [("maxResults", "100")])
                add(
                    "ListPodIdentityAssociations, next page, filtered", "GET",
                    "/clusters/prod-cluster/pod-identity-associations",
                    query: [
                        ("maxResults", "100"), ("nextToken", EKSRequestCase.nextToken), ("namespace", "kube-system"),
                        ("serviceAccount", "aws-node"),
                    ])
                add("DescribeCluster", "GET", "/clusters/my_cluster-1")
                add(
                    "DescribeCluster with Accept and User-Agent (not signed)", "GET", "/clusters/my_cluster-1",
                    headers: [
                        (name: "Accept", value: "application/json"),
                        (name: "User-Agent", value: "pod-identity-webhook/1.0"),
                    ])
                add(
                    "CreatePodIdentityAssociation (JSON body)", "POST",
                    "/clusters/prod-cluster/pod-identity-associations",
                    headers: [(name: "Content-Type", value: "application/json")],
                    body:
                        #"{"namespace":"default","serviceAccount":"app","roleArn":"arn:aws:iam::111122223333:role/app"}"#
                )
            }
        }
        return cases
    }()
}

/// Runs Support/botocore_sign.py.
enum Botocore {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Support/botocore_sign.py")

    /// `$PYTHON`, else `python3` from `PATH`.
    static var python: String { ProcessInfo.processInfo.environment["PYTHON"] ?? "python3" }

    /// The script's input. A `nil` token is left out of the JSON.
    ///
    /// Explicit coding keys rather than a snake-case key strategy: JSONEncoder applies such a
    /// strategy to dictionary keys too, which would mangle the header names.
    struct Input: Encodable {
        var method: String
        var url: String
        var headers: [String: String]
        var body: String
        var accessKey: String
        var secretKey: String
        var token: String?
        var region: String
        var service: String
        var timestamp: String

        enum CodingKeys: String, CodingKey {
            case method, url, headers, body, token, region, service, timestamp
            case accessKey = "access_key"
            case secretKey = "secret_key"
        }
    }

    struct Output: Decodable {
        var canonicalRequest: String
        var stringToSign: String
        var authorization: String
        var signedHeaders: String
        var headers: [String: String]

        enum CodingKeys: String, CodingKey {
            case authorization, headers
            case canonicalRequest = "canonical_request"
            case stringToSign = "string_to_sign"
            case signedHeaders = "signed_headers"
        }
    }

    static func sign(_ input: Input) async throws -> Output {
        let result = try await run([script.path], input: JSONEncoder().encode(input))
        guard result.status == 0 else {
            throw BotocoreError("botocore_sign.py exited with \(result.status): \(result.standardError)")
        }
        return try JSONDecoder().decode(Output.self, from: result.stdout)
    }

    /// Runs the Python interpreter with `arguments`, feeding `input` on stdin.
    static func run(_ arguments: [String], input: Data) async throws -> ChildProcess.Output {
        guard let env = ChildProcess.which("env") else { throw BotocoreError("no env on PATH") }
        return try await ChildProcess.run(env, [python] + arguments, stdin: input)
    }
}

struct BotocoreError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
