import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import PodIdentityTestSupport
import ServiceLifecycle
import Synchronization

/// An in-process stand-in for the Kubernetes API, for ServiceAccounts only: discovery, GET,
/// paginated LIST (a consistent snapshot per continue token) and WATCH (replay from the event
/// log, live events, bookmarks, `410 Expired`), over plain HTTP with a bearer token. Watch
/// semantics follow Kubernetes': `resourceVersion` N replays every change after N (410 when N is
/// older than the last `expire()`); unset or "0" starts with a synthetic ADDED per object.
///
/// Tests drive it with `apply`, `delete`, `bookmark`, `expire`, `dropWatches`, `setDelay` and
/// `setDown`, and read back what clients asked for in `requests`. Every open watch ends when
/// `serve` returns, so shutting the server down never waits on a watch.
///
/// `serve` is plain HTTP. `serveTLS` is the same over HTTPS, for clients that only send a
/// bearer token over TLS, as kubectl (client-go's clientcmd) does: over `http://` it drops
/// the kubeconfig's credentials and every request arrives without `Authorization`.
public final class KubernetesStandIn: Sendable {
    /// One request as it arrived.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [String: String]
        /// Whether the bearer token matched (false also while the stand-in is down and the token was not checked).
        public var authorized: Bool
        public var accept: String?

        public var isWatch: Bool { query["watch"] == "1" || query["watch"] == "true" }
    }

    /// A ServiceAccount as stored.
    public struct ServiceAccount: Sendable, Equatable {
        public var namespace: String
        public var name: String
        public var uid: String
        public var resourceVersion: String
        public var creationTimestamp: String
        public var annotations: [String: String]
    }

    /// The watch event types, as on the wire.
    public enum EventType: String, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED"
    }

    /// A watch ended by `dropWatches()`: the connection is closed without ending the chunked body.
    struct WatchDropped: Error {}

    private struct Key: Hashable, Comparable {
        var namespace: String
        var name: String
        static func < (lhs: Key, rhs: Key) -> Bool { (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name) }
    }

    private struct Event {
        var resourceVersion: Int
        var type: EventType
        var object: ServiceAccount
    }

    /// Which objects a LIST or WATCH covers: its path's namespace and a `fieldSelector` on name or namespace.
    private struct Scope: Sendable {
        var namespace: String?
        var name: String?

        func covers(_ account: ServiceAccount) -> Bool {
            (namespace.map { $0 == account.namespace } ?? true) && (name.map { $0 == account.name } ?? true)
        }
    }

    private struct Watcher {
        var scope: Scope
        var bookmarks: Bool
        var continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
    }

    private struct State {
        var token: String
        var accounts: [Key: ServiceAccount] = [:]
        var resourceVersion = 1
        /// Watches from below this, and continue tokens taken below it, answer 410 Expired.
        var compactedResourceVersion = 0
        var log: [Event] = []
        /// The items of each paginated list, by "rv|scope" (the continue token holds rv, index and scope).
        var snapshots: [String: [ServiceAccount]] = [:]
        var requests: [Request] = []
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 1
        var delay: Duration = .zero
        var down = false
        var stopped = false
    }

    private let state: Mutex<State>

    public init(token: String = "standin-token") {
        state = Mutex(State(token: token))
    }

    // MARK: - Test controls

    /// The bearer token requests must carry.
    public var token: String { state.withLock { $0.token } }

    /// Changes the bearer token: from now on requests with the old one get 401.
    public func rotateToken(_ token: String) {
        state.withLock { $0.token = token }
    }

    public var requests: [Request] { state.withLock { $0.requests } }

    /// Watch streams currently open (registered and not yet ended).
    public var openWatchCount: Int { state.withLock { $0.watchers.count } }

    /// The current resourceVersion.
    public var resourceVersion: String { state.withLock { String($0.resourceVersion) } }

    /// Every ServiceAccount, sorted by namespace then name.
    public var serviceAccounts: [ServiceAccount] {
        state.withLock { $0.accounts.sorted { $0.key < $1.key }.map(\.value) }
    }

    /// Creates the ServiceAccount (ADDED) or replaces its annotations (MODIFIED). Returns its new resourceVersion.
    @discardableResult
    public func apply(namespace: String, name: String, annotations: [String: String] = [:]) -> String {
        state.withLock { state in
            state.resourceVersion += 1
            let key = Key(namespace: namespace, name: name)
            let type: EventType
            var account: ServiceAccount
            if let existing = state.accounts[key] {
                type = .modified
                account = existing
                account.annotations = annotations
            } else {
                type = .added
                account = ServiceAccount(
                    namespace: namespace, name: name, uid: UUID().uuidString.lowercased(), resourceVersion: "",
                    creationTimestamp: Self.timestamp(), annotations: annotations)
            }
            account.resourceVersion = String(state.resourceVersion)
            state.accounts[key] = account
            Self.record(Event(resourceVersion: state.resourceVersion, type: type, object: account), in: &state)
            return account.resourceVersion
        }
    }

    /// Deletes the ServiceAccount (DELETED). Returns the new resourceVersion, or nil when there was none.
    @discardableResult
    public func delete(namespace: String, name: String) -> String? {
        state.withLock { state in
            guard var account = state.accounts.removeValue(forKey: Key(namespace: namespace, name: name)) else {
                return nil
            }
            state.resourceVersion += 1
            account.resourceVersion = String(state.resourceVersion)
            Self.record(Event(resourceVersion: state.resourceVersion, type: .deleted, object: account), in: &state)
            return account.resourceVersion
        }
    }

    /// Sends a BOOKMARK at the current resourceVersion to the watches that asked for bookmarks.
    public func bookmark() {
        state.withLock { state in
            let line = Self.line(type: "BOOKMARK", object: Self.bookmarkObject(state.resourceVersion))
            for watcher in state.watchers.values where watcher.bookmarks { watcher.continuation.yield(line) }
        }
    }

    /// Compacts history, as etcd does: the resourceVersion moves on (a change elsewhere) and
    /// everything handed out before now is too old. Watches from an older resourceVersion and
    /// continue tokens of earlier lists answer 410 Expired; a fresh LIST and a watch from its
    /// resourceVersion work.
    public func expire() {
        state.withLock { state in
            state.resourceVersion += 1
            state.compactedResourceVersion = state.resourceVersion
            state.log.removeAll { $0.resourceVersion <= state.compactedResourceVersion }
            state.snapshots.removeAll()
        }
    }

    /// Ends every open watch abruptly: the connection closes mid-stream, without the last chunk.
    public func dropWatches() {
        let watchers = state.withLock { state in
            defer { state.watchers.removeAll() }
            return state.watchers.values
        }
        for watcher in watchers { watcher.continuation.finish(throwing: WatchDropped()) }
    }

    /// Delays every GET and LIST answer (not watches) by `duration`.
    public func setDelay(_ duration: Duration) {
        state.withLock { $0.delay = duration }
    }

    /// While down, every request gets 503. Open watches stay open: call `dropWatches()` as well for an outage.
    public func setDown(_ down: Bool) {
        state.withLock { $0.down = down }
    }

    /// A kubeconfig for the stand-in on `port`, with the current token or `token`: `http://`, or
    /// `https://` trusting `certificateAuthorityPEM` when it is given (for `serveTLS`).
    public func kubeconfig(port: Int, token: String? = nil, certificateAuthorityPEM: String? = nil) -> String {
        let token = token ?? self.token
        let cluster =
            if let certificateAuthorityPEM {
                """
                    server: https://127.0.0.1:\(port)
                    certificate-authority-data: \(Data(certificateAuthorityPEM.utf8).base64EncodedString())
                """
            } else {
                """
                    server: http://127.0.0.1:\(port)
                """
            }
        // A JSON string is a YAML double-quoted scalar.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let quoted = String(decoding: (try? encoder.encode(token)) ?? Data("\"\"".utf8), as: UTF8.self)
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: standin
              cluster:
            \(cluster)
            users:
            - name: standin
              user:
                token: \(quoted)
            contexts:
            - name: standin
              context:
                cluster: standin
                user: standin
                namespace: default
            current-context: standin

            """
    }

    /// Runs the stand-in on a loopback port for the duration of `body`. Open watches end when
    /// `body` returns or throws, before the server shuts down.
    public func serve<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        state.withLock { $0.stopped = false }
        return try await LoopbackServer.serve(router()) { port in
            defer { self.stop() }
            return try await body(port)
        }
    }

    /// `serve` over HTTPS with the PEM certificate chain and key: `certificatePEM` is what a
    /// client trusts (`kubeconfig(port:certificateAuthorityPEM:)`) when it is self-signed.
    public func serveTLS<T: Sendable>(
        certificatePEM: String, keyPEM: String, _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        let quiet = Logger(label: "kubernetes-stand-in", factory: { _ in SwiftLogNoOpLogHandler() })
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router(), server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: quiet)
        state.withLock { $0.stopped = false }
        return try await LoopbackServer.withRunning(
            ServiceGroup(services: [app], logger: quiet), onExit: { continuation.finish() }
        ) {
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port != 0 else { throw ServerDidNotStart() }
            defer { self.stop() }
            return try await body(port)
        }
    }

    /// Ends every open watch cleanly, and every watch opened from now on at once.
    private func stop() {
        let watchers = state.withLock { state in
            state.stopped = true
            defer { state.watchers.removeAll() }
            return state.watchers.values
        }
        for watcher in watchers { watcher.continuation.finish() }
    }

    // MARK: - HTTP

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        // Added first, so it also wraps the not-found responder.
        router.add(middleware: Gate(standIn: self))
        router.get("/version") { _, _ in Self.json(Self.version) }
        router.get("/api") { request, _ in
            Self.json(Self.apiVersions(address: request.head.authority ?? "127.0.0.1"))
        }
        router.get("/apis") { _, _ in Self.json(#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#) }
        router.get("/api/v1") { _, _ in Self.json(Self.resourceList) }
        router.get("/api/v1/serviceaccounts") { request, _ in
            try await self.listOrWatch(request, namespace: nil)
        }
        router.get("/api/v1/namespaces/:namespace") { _, context in
            try await self.namespace(context.parameters.require("namespace"))
        }
        router.get("/api/v1/namespaces/:namespace/serviceaccounts") { request, context in
            try await self.listOrWatch(request, namespace: context.parameters.require("namespace"))
        }
        router.get("/api/v1/namespaces/:namespace/serviceaccounts/:name") { _, context in
            try await self.get(
                namespace: context.parameters.require("namespace"), name: context.parameters.require("name"))
        }
        return router
    }

    /// Records every request, then answers 503 while down, 401 without the token, and a Status for unknown paths.
    private struct Gate: RouterMiddleware {
        typealias Context = BasicRequestContext
        let standIn: KubernetesStandIn

        func handle(
            _ request: Hummingbird.Request, context: Context,
            next: (Hummingbird.Request, Context) async throws -> Response
        ) async throws -> Response {
            let query = KubernetesStandIn.parseQuery(request.uri.query ?? "")
            let presented = request.headers[.authorization]
            let (down, authorized) = standIn.state.withLock { state in
                let authorized = !state.down && presented == "Bearer \(state.token)"
                state.requests.append(
                    Request(
                        method: request.method.rawValue, path: request.uri.path, query: query, authorized: authorized,
                        accept: request.headers[.accept]))
                return (state.down, authorized)
            }
            if down {
                return KubernetesStandIn.status(
                    503, reason: "ServiceUnavailable", message: "the server is currently unable to handle the request")
            }
            guard authorized else {
                return KubernetesStandIn.status(401, reason: "Unauthorized", message: "Unauthorized")
            }
            do {
                return try await next(request, context)
            } catch let error as HTTPError {
                // The router's own answers: no route (404) or not a GET (405).
                switch error.status.code {
                case 404:
                    return KubernetesStandIn.status(
                        404, reason: "NotFound", message: "the server could not find the requested resource")
                case 405:
                    return KubernetesStandIn.status(
                        405, reason: "MethodNotAllowed",
                        message: "the server does not allow this method on the requested resource")
                default:
                    return KubernetesStandIn.status(
                        error.status.code, reason: "InternalError", message: error.body ?? error.status.reasonPhrase)
                }
            }
        }
    }

    private func get(namespace: String, name: String) async throws -> Response {
        try await pause()
        guard let account = state.withLock({ $0.accounts[Key(namespace: namespace, name: name)] }) else {
            return Self.status(
                404, reason: "NotFound", message: "serviceaccounts \"\(name)\" not found",
                details: ["name": name, "kind": "serviceaccounts"])
        }
        return Self.json(Self.encode(Self.wire(account)))
    }

    /// kubectl asks for the namespace after a NotFound. A namespace exists while it holds a
    /// ServiceAccount (every real one holds `default`).
    private func namespace(_ name: String) async throws -> Response {
        try await pause()
        let oldest = state.withLock { state in
            state.accounts.values.filter { $0.namespace == name }.min { $0.creationTimestamp < $1.creationTimestamp }
        }
        guard let oldest else {
            return Self.status(
                404, reason: "NotFound", message: "namespaces \"\(name)\" not found",
                details: ["name": name, "kind": "namespaces"])
        }
        return Self.json(
            Self.encode([
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": [
                    "name": name, "resourceVersion": "1", "creationTimestamp": oldest.creationTimestamp,
                    "labels": ["kubernetes.io/metadata.name": name],
                ],
                "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"],
            ]))
    }

    private func listOrWatch(_ request: Hummingbird.Request, namespace: String?) async throws -> Response {
        let query = Self.parseQuery(request.uri.query ?? "")
        var scope = Scope(namespace: namespace)
        for term in (query["fieldSelector"] ?? "").split(separator: ",") {
            let pair = term.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "metadata.name": scope.name = pair[1].trimmingPrefix("=").description
            case "metadata.namespace": scope.namespace = pair[1].trimmingPrefix("=").description
            default:
                return Self.status(
                    400, reason: "BadRequest",
                    message:
                        "\"\(pair[0])\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
            }
        }
        if query["watch"] == "1" || query["watch"] == "true" { return watch(scope: scope, query: query) }
        try await pause()
        return list(scope: scope, query: query)
    }

    private func pause() async throws {
        let delay = state.withLock { $0.delay }
        if delay > .zero { try await Task.sleep(for: delay) }
    }

    // MARK: LIST

    private func list(scope: Scope, query: [String: String]) -> Response {
        let limit = max(0, Int(query["limit"] ?? "") ?? 0)
        let scopeKey = "\(scope.namespace ?? "")/\(scope.name ?? "")"
        enum Outcome {
            case page(rv: Int, items: ArraySlice<ServiceAccount>, next: String?, remaining: Int)
            case failure(Response)
        }
        let outcome: Outcome = state.withLock { state in
            var snapshotRV = state.resourceVersion
            var all: [ServiceAccount]
            var start = 0
            if let token = query["continue"], !token.isEmpty {
                guard let decoded = Data(base64Encoded: token).map({ String(decoding: $0, as: UTF8.self) }),
                    case let parts = decoded.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false),
                    parts.count == 3, let rv = Int(parts[0]), let index = Int(parts[1]), String(parts[2]) == scopeKey
                else {
                    return .failure(Self.status(400, reason: "BadRequest", message: "continue key is not valid"))
                }
                guard rv >= state.compactedResourceVersion, let snapshot = state.snapshots["\(rv)|\(scopeKey)"] else {
                    return .failure(
                        Self.status(
                            410, reason: "Expired",
                            message: "The provided continue parameter is too old to display a consistent list result."
                                + " You can start a new list without the continue parameter."))
                }
                snapshotRV = rv
                all = snapshot
                start = min(index, snapshot.count)
            } else {
                all = state.accounts.sorted { $0.key < $1.key }.map(\.value).filter(scope.covers)
            }
            let end = limit > 0 ? min(all.count, start + limit) : all.count
            var next: String?
            if end < all.count {
                state.snapshots["\(snapshotRV)|\(scopeKey)"] = all
                next = Data("\(snapshotRV)|\(end)|\(scopeKey)".utf8).base64EncodedString()
            }
            return .page(rv: snapshotRV, items: all[start..<end], next: next, remaining: all.count - end)
        }
        switch outcome {
        case .failure(let response):
            return response
        case .page(let rv, let items, let next, let remaining):
            var metadata: [String: Any] = ["resourceVersion": String(rv)]
            if let next {
                metadata["continue"] = next
                metadata["remainingItemCount"] = remaining
            }
            return Self.json(
                Self.encode([
                    "kind": "ServiceAccountList", "apiVersion": "v1", "metadata": metadata,
                    "items": items.map(Self.wire),
                ]))
        }
    }

    // MARK: WATCH

    private func watch(scope: Scope, query: [String: String]) -> Response {
        let bookmarks = query["allowWatchBookmarks"] == "true" || query["allowWatchBookmarks"] == "1"
        let requested = Int(query["resourceVersion"] ?? "") ?? 0
        // As Kubernetes: without a resourceVersion (or with "0") a watch starts with a synthetic
        // ADDED for every current object, then changes; with one, it replays the log after it.
        // With sendInitialEvents (a watch-list) a BOOKMARK marks where the initial events end.
        let watchList = query["sendInitialEvents"] == "true" || query["sendInitialEvents"] == "1"
        let initialEvents = watchList || requested == 0
        let timeout = Int(query["timeoutSeconds"] ?? "").flatMap { $0 > 0 ? Duration.seconds($0) : nil }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
        let id = state.withLock { state in
            defer { state.nextWatcher += 1 }
            return state.nextWatcher
        }
        continuation.onTermination = { _ in self.state.withLock { _ = $0.watchers.removeValue(forKey: id) } }
        // Replay and registration happen under one lock, so no event is lost or sent twice. The
        // stream is finished outside the lock: `onTermination` takes it too.
        let registered = state.withLock { state -> Bool in
            if state.stopped { return false }
            if initialEvents {
                for account in state.accounts.sorted(by: { $0.key < $1.key }).map(\.value) where scope.covers(account) {
                    continuation.yield(Self.line(type: EventType.added.rawValue, object: Self.wire(account)))
                }
                if bookmarks && watchList {
                    var object = Self.bookmarkObject(state.resourceVersion)
                    object["metadata"] = [
                        "resourceVersion": String(state.resourceVersion),
                        "annotations": ["k8s.io/initial-events-end": "true"],
                    ]
                    continuation.yield(Self.line(type: "BOOKMARK", object: object))
                }
            } else {
                guard requested >= state.compactedResourceVersion else {
                    let status = Self.statusObject(
                        410, reason: "Expired",
                        message: "too old resource version: \(requested) (\(state.compactedResourceVersion))")
                    continuation.yield(Self.line(type: "ERROR", object: status))
                    return false
                }
                for event in state.log where event.resourceVersion > requested && scope.covers(event.object) {
                    continuation.yield(Self.line(type: event.type.rawValue, object: Self.wire(event.object)))
                }
            }
            state.watchers[id] = Watcher(scope: scope, bookmarks: bookmarks, continuation: continuation)
            return true
        }
        if !registered { continuation.finish() }
        let body = ResponseBody { writer in
            defer { self.state.withLock { _ = $0.watchers.removeValue(forKey: id) } }
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    if let timeout {
                        group.addTask {
                            guard (try? await Task.sleep(for: timeout)) != nil else { return }
                            continuation.finish()
                        }
                    }
                    defer { group.cancelAll() }
                    for try await line in stream { try await writer.write(line) }
                }
            } onGracefulShutdown: {
                continuation.finish()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
    }

    // MARK: - Wire format

    private static func record(_ event: Event, in state: inout State) {
        state.log.append(event)
        let line = line(type: event.type.rawValue, object: wire(event.object))
        for watcher in state.watchers.values where watcher.scope.covers(event.object) {
            watcher.continuation.yield(line)
        }
    }

    private static func wire(_ account: ServiceAccount) -> [String: Any] {
        var metadata: [String: Any] = [
            "name": account.name, "namespace": account.namespace, "uid": account.uid,
            "resourceVersion": account.resourceVersion, "creationTimestamp": account.creationTimestamp,
        ]
        if !account.annotations.isEmpty { metadata["annotations"] = account.annotations }
        return ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata]
    }

    private static func bookmarkObject(_ resourceVersion: Int) -> [String: Any] {
        ["kind": "ServiceAccount", "apiVersion": "v1", "metadata": ["resourceVersion": String(resourceVersion)]]
    }

    private static func line(type: String, object: [String: Any]) -> ByteBuffer {
        ByteBuffer(string: encode(["type": type, "object": object]) + "\n")
    }

    private static func statusObject(
        _ code: Int, reason: String, message: String, details: [String: String]? = nil
    ) -> [String: Any] {
        var object: [String: Any] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [String: Any](), "status": "Failure",
            "message": message, "reason": reason, "code": code,
        ]
        if let details { object["details"] = details }
        return object
    }

    static func status(_ code: Int, reason: String, message: String, details: [String: String]? = nil) -> Response {
        Response(
            status: .init(code: code), headers: [.contentType: "application/json"],
            body: .init(
                byteBuffer: ByteBuffer(
                    string: encode(statusObject(code, reason: reason, message: message, details: details)))))
    }

    private static func json(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static func encode(_ object: [String: Any]) -> String {
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }

    private static func apiVersions(address: String) -> String {
        encode([
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": address]],
        ])
    }

    private static let resourceList = encode([
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
        "resources": [
            [
                "name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
                "verbs": ["get"], "shortNames": ["ns"],
            ],
            [
                "name": "serviceaccounts", "singularName": "serviceaccount", "namespaced": true,
                "kind": "ServiceAccount", "verbs": ["get", "list", "watch"], "shortNames": ["sa"],
            ],
        ],
    ])

    private static let version = encode([
        "major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
        "gitTreeState": "clean", "buildDate": "2025-04-22T16:02:27Z", "goVersion": "go1.23.6", "compiler": "gc",
        "platform": "linux/amd64",
    ])

    /// Splits a query string into names and values, percent- and `+`-decoded.
    public static func parseQuery(_ query: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }
}
