import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PodIdentityAWSTestSupport
import PodIdentityCore
import PodIdentityTestSupport
import ServiceLifecycle
import Synchronization

/// In-process stand-ins for the three credential endpoints the providers call: a container
/// credentials endpoint (ECS / EKS Pod Identity agent), STS `AssumeRoleWithWebIdentity`, and the
/// EC2 instance metadata service (IMDSv2). They record what arrived and check what the real ones
/// check (authorization header, IMDS session token).
final class FakeCredentialEndpoints: Sendable {
    static let accessKeyID = "ASIAFAKEENDPOINT0001"
    static let secretAccessKey = "fake/endpoint/SECRET+key00000000000000000"
    static let sessionToken = "IQoJb3JpZ2luFAKE//session+token=="
    /// What STS answers as the session token, in its XML-escaped form, to check unescaping.
    static let stsSessionToken = "IQoJ&fake<sts>token\"'"
    static let expirationText = "2026-11-23T12:00:00Z"
    /// 2026-11-23T12:00:00Z.
    static let expiration = Date(timeIntervalSince1970: 1_795_435_200)
    static let imdsToken = "AQAEAFAKE-imds-session-token=="
    static let roleName = "node-role"

    enum STSMode: Sendable {
        case success
        case invalidIdentityToken
    }

    struct ContainerRequest: Sendable {
        var path: String
        var authorization: String?
    }

    struct STSRequest: Sendable {
        var form: [String: String]
        var contentType: String?
        var hadAuthorization: Bool
    }

    struct IMDSRequest: Sendable {
        var method: String
        var path: String
        var token: String?
        var ttl: String?
    }

    struct State: Sendable {
        /// The Authorization value the container endpoint requires; nil accepts anything.
        var containerAuthorization: String?
        var containerStatus = 200
        /// Replaces the container endpoint's answer body when set.
        var containerBody: String?
        var containerExpiration = FakeCredentialEndpoints.expirationText
        var containerRequests: [ContainerRequest] = []
        var stsMode = STSMode.success
        var stsRequests: [STSRequest] = []
        /// The instance profile's role; nil answers the role list with 404.
        var imdsRole: String? = FakeCredentialEndpoints.roleName
        var imdsRequests: [IMDSRequest] = []
    }

    private let state = Mutex<State>(State())

    init(configure: (inout State) -> Void = { _ in }) {
        state.withLock { configure(&$0) }
    }

    func update(_ change: (inout State) -> Void) {
        state.withLock { change(&$0) }
    }

    var snapshot: State { state.withLock { $0 } }

    // MARK: - HTTP

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/credentials") { request, _ in self.container(request) }
        router.get("/v2/credentials/:id") { request, _ in self.container(request) }
        router.post("/") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            return self.sts(request, body: String(buffer: body))
        }
        router.put("/latest/api/token") { request, _ in
            self.imds(request) { _ in Self.text(200, Self.imdsToken) }
        }
        router.get("/latest/meta-data/iam/security-credentials") { request, _ in
            self.imds(request) { state in
                guard let role = state.imdsRole else { return Self.text(404, "") }
                return Self.text(200, role + "\n")
            }
        }
        router.get("/latest/meta-data/iam/security-credentials/:role") { request, context in
            let role = try context.parameters.require("role")
            return self.imds(request) { state in
                guard role == state.imdsRole else { return Self.text(404, "") }
                return Self.json(
                    200,
                    .object([
                        "Code": "Success", "LastUpdated": "2026-11-23T05:59:59Z", "Type": "AWS-HMAC",
                        "AccessKeyId": .string(Self.accessKeyID), "SecretAccessKey": .string(Self.secretAccessKey),
                        "Token": .string(Self.sessionToken), "Expiration": .string(Self.expirationText),
                    ]))
            }
        }
        return router
    }

    private func container(_ request: Request) -> Response {
        let authorization = request.headers[.authorization]
        let current = state.withLock { state in
            state.containerRequests.append(ContainerRequest(path: request.uri.path, authorization: authorization))
            return state
        }
        if let required = current.containerAuthorization, authorization != required {
            return Self.json(401, .object(["Code": "AccessDenied", "Message": "invalid authorization token"]))
        }
        if let body = current.containerBody {
            return Self.text(current.containerStatus, body, contentType: "application/json")
        }
        guard current.containerStatus == 200 else {
            return Self.json(
                current.containerStatus, .object(["Code": "InternalError", "Message": "the agent is unwell"]))
        }
        return Self.json(
            200,
            .object([
                "AccessKeyId": .string(Self.accessKeyID), "SecretAccessKey": .string(Self.secretAccessKey),
                "Token": .string(Self.sessionToken), "AccountId": "111122223333",
                "Expiration": .string(current.containerExpiration),
            ]))
    }

    private func sts(_ request: Request, body: String) -> Response {
        let form = EKSStandIn.parseQuery(body)
        let mode = state.withLock { state in
            state.stsRequests.append(
                STSRequest(
                    form: form, contentType: request.headers[.contentType],
                    hadAuthorization: request.headers[.authorization] != nil))
            return state.stsMode
        }
        guard form["Action"] == "AssumeRoleWithWebIdentity", form["Version"] == "2011-06-15",
            let roleArn = form["RoleArn"], let session = form["RoleSessionName"], form["WebIdentityToken"] != nil
        else {
            return Self.stsError(400, code: "ValidationError", message: "missing or wrong parameters")
        }
        if mode == .invalidIdentityToken {
            return Self.stsError(
                400, code: "InvalidIdentityToken", message: "Incorrect token audience & issuer <sts.amazonaws.com>")
        }
        let role = roleArn.split(separator: "/").last.map(String.init) ?? "role"
        let xml = """
            <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <AssumeRoleWithWebIdentityResult>
                <Audience>sts.amazonaws.com</Audience>
                <AssumedRoleUser>
                  <AssumedRoleId>AROAFAKEROLEID:\(Self.escape(session))</AssumedRoleId>
                  <Arn>arn:aws:sts::111122223333:assumed-role/\(Self.escape(role))/\(Self.escape(session))</Arn>
                </AssumedRoleUser>
                <Provider>arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/FAKE</Provider>
                <Credentials>
                  <SessionToken>\(Self.escape(Self.stsSessionToken))</SessionToken>
                  <Expiration>\(Self.expirationText)</Expiration>
                  <SecretAccessKey>\(Self.escape(Self.secretAccessKey))</SecretAccessKey>
                  <AccessKeyId>\(Self.accessKeyID)</AccessKeyId>
                </Credentials>
                <SubjectFromWebIdentityToken>system:serviceaccount:default:app</SubjectFromWebIdentityToken>
              </AssumeRoleWithWebIdentityResult>
              <ResponseMetadata>
                <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
              </ResponseMetadata>
            </AssumeRoleWithWebIdentityResponse>
            """
        return Self.text(200, xml, contentType: "text/xml")
    }

    /// Records an IMDS request; the token PUT needs the TTL header, the reads need the session token.
    private func imds(_ request: Request, answer: (State) -> Response) -> Response {
        let token = request.headers[HTTPField.Name("X-aws-ec2-metadata-token")!]
        let ttl = request.headers[HTTPField.Name("X-aws-ec2-metadata-token-ttl-seconds")!]
        let current = state.withLock { state in
            state.imdsRequests.append(
                IMDSRequest(method: request.method.rawValue, path: request.uri.path, token: token, ttl: ttl))
            return state
        }
        if request.method == .put {
            guard let ttl, let seconds = Int(ttl), (1...21600).contains(seconds) else { return Self.text(400, "") }
        } else if token != Self.imdsToken {
            return Self.text(401, "")
        }
        return answer(current)
    }

    // MARK: - Answers

    static func text(_ status: Int, _ text: String, contentType: String = "text/plain") -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: contentType],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ status: Int, _ value: JSONValue) -> Response {
        text(status, value.jsonString, contentType: "application/json")
    }

    static func stsError(_ status: Int, code: String, message: String) -> Response {
        let xml = """
            <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <Error>
                <Type>Sender</Type>
                <Code>\(escape(code))</Code>
                <Message>\(escape(message))</Message>
              </Error>
              <RequestId>0b2d3e4f-0000-4000-8000-000000000000</RequestId>
            </ErrorResponse>
            """
        return text(status, xml, contentType: "text/xml")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&apos;")
    }

    // MARK: - Serving

    /// Runs the endpoints on a loopback port for the duration of `body`.
    func serve<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        try await LoopbackServer.serve(router(), body)
    }
}
