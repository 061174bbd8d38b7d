import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import PodIdentityAWS
import PodIdentityCore
import PodIdentityTestSupport
import ServiceLifecycle
import Synchronization

/// An in-process stand-in for the EKS API, speaking its wire format (botocore's EKS model:
/// REST paths, query names, JSON shapes, `x-amzn-ErrorType` errors) and verifying SigV4.
/// Faults are injected per request for the failure tests.
public final class EKSStandIn: Sendable {
    public static let accessKeyID = "AKIDSTANDIN0EXAMPLE"
    public static let secretAccessKey = "standin/secret/KEY+example0000000000000"

    public enum Fault: Sendable {
        case status(Int, type: String, message: String, retryAfter: String? = nil)
        case hang(Duration)
        case body(String)
    }

    public struct Request: Sendable {
        public var operation: String
        public var query: [String: String]
    }

    public let region: String
    public let clusterName: String
    public let ipFamily: String
    private let state = Mutex<State>(State())
    /// Decides, for each request in order, whether to answer with a fault.
    private let faults = Mutex<@Sendable (Request, Int) -> Fault?>({ _, _ in nil })

    private struct State {
        var associations: [PodIdentityAssociationSummary] = []
        public var requests: [Request] = []
        var nextID = 1
        var credentialsValidAfter: Date = .distantPast
    }

    public init(region: String = "us-west-2", clusterName: String = "test-cluster", ipFamily: String = "ipv4") {
        self.region = region
        self.clusterName = clusterName
        self.ipFamily = ipFamily
    }

    public var requests: [Request] { state.withLock { $0.requests } }

    public func setFaults(_ decide: @escaping @Sendable (Request, Int) -> Fault?) {
        faults.withLock { $0 = decide }
    }

    @discardableResult
    public func add(namespace: String, serviceAccount: String) -> PodIdentityAssociationSummary {
        state.withLock { state in
            let id = String(format: "a-%016d", state.nextID)
            state.nextID += 1
            let association = PodIdentityAssociationSummary(
                clusterName: clusterName, namespace: namespace, serviceAccount: serviceAccount,
                associationArn: "arn:aws:eks:\(region):111122223333:podidentityassociation/\(clusterName)/\(id)",
                associationId: id, ownerArn: nil)
            state.associations.append(association)
            return association
        }
    }

    public func remove(namespace: String, serviceAccount: String) {
        state.withLock {
            $0.associations.removeAll { $0.namespace == namespace && $0.serviceAccount == serviceAccount }
        }
    }

    // MARK: - HTTP

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/clusters/:name/pod-identity-associations") { request, context in
            try await self.answer(request, context, operation: "ListPodIdentityAssociations") { query in
                try self.list(cluster: context.parameters.require("name"), query: query)
            }
        }
        router.post("/clusters/:name/pod-identity-associations") { request, context in
            let body = try await request.body.collect(upTo: 1 << 20)
            return try await self.answer(request, context, operation: "CreatePodIdentityAssociation", body: body) { _ in
                try self.create(cluster: context.parameters.require("name"), body: Data(buffer: body))
            }
        }
        router.delete("/clusters/:name/pod-identity-associations/:id") { request, context in
            try await self.answer(request, context, operation: "DeletePodIdentityAssociation") { _ in
                try self.delete(cluster: context.parameters.require("name"), id: context.parameters.require("id"))
            }
        }
        router.get("/clusters/:name") { request, context in
            try await self.answer(request, context, operation: "DescribeCluster") { _ in
                let name = try context.parameters.require("name")
                guard name == self.clusterName else {
                    throw StandInError.notFound("No cluster found for name: \(name).")
                }
                return .object([
                    "cluster": .object([
                        "name": .string(name),
                        "arn": .string("arn:aws:eks:\(self.region):111122223333:cluster/\(name)"),
                        "status": "ACTIVE", "version": "1.34",
                        "kubernetesNetworkConfig": .object([
                            "ipFamily": .string(self.ipFamily), "serviceIpv4Cidr": "10.100.0.0/16",
                        ]),
                    ])
                ])
            }
        }
        return router
    }

    enum StandInError: Error {
        case notFound(String)
        case invalid(String)
    }

    private func answer(
        _ request: Request_, _ context: BasicRequestContext, operation: String, body: ByteBuffer? = nil,
        _ handle: ([String: String]) throws -> JSONValue
    ) async throws -> Response {
        let query = Self.parseQuery(request.uri.query ?? "")
        let index = state.withLock { state in
            state.requests.append(Request(operation: operation, query: query))
            return state.requests.count - 1
        }
        if let problem = verifySignature(request, body: body.map { Array(buffer: $0) } ?? []) {
            return Self.error(403, type: "InvalidSignatureException", message: problem)
        }
        if let fault = faults.withLock({ $0 })(Request(operation: operation, query: query), index) {
            switch fault {
            case .status(let status, let type, let message, let retryAfter):
                var response = Self.error(status, type: type, message: message)
                if let retryAfter { response.headers[HTTPField.Name("Retry-After")!] = retryAfter }
                return response
            case .hang(let duration):
                try await Task.sleep(for: duration)
            case .body(let text):
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        do {
            let value = try handle(query)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: value.jsonString)))
        } catch StandInError.notFound(let message) {
            return Self.error(404, type: "ResourceNotFoundException", message: message)
        } catch StandInError.invalid(let message) {
            return Self.error(400, type: "InvalidParameterException", message: message)
        }
    }

    typealias Request_ = Hummingbird.Request

    static func error(_ status: Int, type: String, message: String) -> Response {
        Response(
            status: .init(code: status),
            headers: [
                HTTPField.Name("x-amzn-ErrorType")!: "\(type):http://internal.amazon.com/coral/com.amazonaws.eks/",
                .contentType: "application/json",
            ],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(["message": .string(message)]).jsonString)))
    }

    private func list(cluster: String, query: [String: String]) throws -> JSONValue {
        guard cluster == clusterName else { throw StandInError.notFound("No cluster found for name: \(cluster).") }
        let maxResults = Int(query["maxResults"] ?? "100") ?? 100
        guard (1...100).contains(maxResults) else { throw StandInError.invalid("maxResults must be between 1 and 100") }
        let all = state.withLock { $0.associations }.filter { association in
            (query["namespace"].map { $0 == association.namespace } ?? true)
                && (query["serviceAccount"].map { $0 == association.serviceAccount } ?? true)
        }
        // The token is opaque to clients: base64 of the offset, so it holds + / = like real ones.
        var start = 0
        if let token = query["nextToken"] {
            guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
                let offset = Int(text.split(separator: ":").last ?? "")
            else { throw StandInError.invalid("The nextToken is invalid.") }
            start = offset
        }
        let page = all.dropFirst(start).prefix(maxResults)
        var members: [String: JSONValue] = [
            "associations": .array(
                page.map {
                    .object([
                        "clusterName": .string($0.clusterName ?? cluster), "namespace": .string($0.namespace),
                        "serviceAccount": .string($0.serviceAccount),
                        "associationArn": .string($0.associationArn ?? ""),
                        "associationId": .string($0.associationId ?? ""),
                    ])
                })
        ]
        if start + page.count < all.count {
            members["nextToken"] = .string(Data("page>>?:\(start + page.count)".utf8).base64EncodedString())
        }
        return .object(members)
    }

    private func create(cluster: String, body: Data) throws -> JSONValue {
        guard cluster == clusterName else { throw StandInError.notFound("No cluster found for name: \(cluster).") }
        guard let request = try? JSONValue.parse(body), let namespace = request["namespace"]?.stringValue,
            let serviceAccount = request["serviceAccount"]?.stringValue, let roleArn = request["roleArn"]?.stringValue
        else { throw StandInError.invalid("namespace, serviceAccount and roleArn are required") }
        let association = add(namespace: namespace, serviceAccount: serviceAccount)
        return .object(["association": Self.full(association, roleArn: roleArn)])
    }

    private func delete(cluster: String, id: String) throws -> JSONValue {
        let removed: PodIdentityAssociationSummary? = state.withLock { state in
            guard let index = state.associations.firstIndex(where: { $0.associationId == id }) else { return nil }
            return state.associations.remove(at: index)
        }
        guard cluster == clusterName, let removed else {
            throw StandInError.notFound("No Pod Identity Association found for id: \(id).")
        }
        return .object(["association": Self.full(removed, roleArn: "arn:aws:iam::111122223333:role/deleted")])
    }

    private static func full(_ association: PodIdentityAssociationSummary, roleArn: String) -> JSONValue {
        .object([
            "clusterName": .string(association.clusterName ?? ""), "namespace": .string(association.namespace),
            "serviceAccount": .string(association.serviceAccount), "roleArn": .string(roleArn),
            "associationArn": .string(association.associationArn ?? ""),
            "associationId": .string(association.associationId ?? ""), "tags": .object([:]),
            "createdAt": .number(1_763_900_000), "modifiedAt": .number(1_763_900_000),
        ])
    }

    /// Recomputes the request's SigV4 signature from what arrived and the known secret.
    private func verifySignature(_ request: Hummingbird.Request, body: [UInt8]) -> String? {
        guard let authorization = request.headers[.authorization] else { return "Missing Authentication Token" }
        guard let amzDate = request.headers[HTTPField.Name("x-amz-date")!],
            let date = Self.parseAmzDate(amzDate)
        else { return "missing or bad X-Amz-Date" }
        let parts = authorization.replacingOccurrences(of: "AWS4-HMAC-SHA256 ", with: "").components(separatedBy: ", ")
        var fields: [String: String] = [:]
        for part in parts {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"],
            let signature = fields["Signature"]
        else { return "malformed Authorization header" }
        let scope = credential.split(separator: "/")
        guard scope.count == 5, scope[0] == Self.accessKeyID else {
            return "The security token included in the request is invalid."
        }
        guard scope[2] == region, scope[3] == "eks" else {
            return "Credential should be scoped to a valid region and service"
        }
        let names = signedHeaders.split(separator: ";").map(String.init)
        var headers: [(name: String, value: String)] = []
        for name in names {
            if name == "host" {
                headers.append((name: "host", value: request.head.authority ?? ""))
            } else if let fieldName = HTTPField.Name(name) {
                for value in request.headers[values: fieldName] { headers.append((name: name, value: value)) }
            }
        }
        let unsigned = SigV4Request(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers,
            body: body)
        let token = request.headers[HTTPField.Name("x-amz-security-token")!]
        var signer = SigV4Signer(service: "eks", region: region)
        signer.signSessionToken = true
        let expected = signer.sign(
            unsigned,
            credentials: AWSCredentials(
                accessKeyID: Self.accessKeyID, secretAccessKey: Self.secretAccessKey, sessionToken: token,
                expiration: nil),
            date: date)
        guard expected.signature == signature else {
            return "The request signature we calculated does not match the signature you provided."
        }
        return nil
    }

    static func parseAmzDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.date(from: text)
    }

    public static func parseQuery(_ query: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value =
                parts.count > 1
                ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
            result[key] = value
        }
        return result
    }

    /// Runs the stand-in on a loopback port for the duration of `body`.
    public func serve<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        try await LoopbackServer.serve(router(), body)
    }
}
