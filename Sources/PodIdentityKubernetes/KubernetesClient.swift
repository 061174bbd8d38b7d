import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import PodIdentityCore

/// The three ServiceAccount calls the webhook makes, over AsyncHTTPClient, JSON only:
/// a paginated LIST of all namespaces, a WATCH from a resource version, and one GET.
public struct KubernetesClient: Sendable {
    public let configuration: KubernetesConfiguration
    private let http: HTTPClient
    private let requestTimeout: Duration

    public init(configuration: KubernetesConfiguration, http: HTTPClient, requestTimeout: Duration = .seconds(30)) {
        self.configuration = configuration
        self.http = http
        self.requestTimeout = requestTimeout
    }

    /// The HTTP client configuration for `configuration`: its CA (else the system roots), its
    /// client certificate if any, and short connect timeouts.
    public static func httpConfiguration(for configuration: KubernetesConfiguration) throws(KubernetesError)
        -> HTTPClient.Configuration
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let pem = configuration.certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(pem))
            }
            if case .clientCertificate(let certificate, let key) = configuration.credentials {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            }
        } catch {
            throw KubernetesError("the kubeconfig's certificate or key does not parse: \(error)")
        }
        var http = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(5)))
        http.httpVersion = .http1Only  // a watch holds its connection; keep it off a shared h2 connection
        return http
    }

    public struct Page: Sendable {
        public var items: [ServiceAccountObject]
        public var continueToken: String?
        public var resourceVersion: String
    }

    /// One page of `GET /api/v1/serviceaccounts?limit=…&continue=…`.
    public func list(limit: Int, continueToken: String?) async throws(KubernetesError) -> Page {
        var query = [("limit", String(limit))]
        if let continueToken { query.append(("continue", continueToken)) }
        let data = try await send(path: "/api/v1/serviceaccounts", query: query, limit: 64 << 20)
        let list: ListObject
        do {
            list = try JSONDecoder().decode(ListObject.self, from: data)
        } catch {
            throw KubernetesError("the ServiceAccount list does not decode: \(error)")
        }
        let token = list.metadata?.continue.flatMap { $0.isEmpty ? nil : $0 }
        return Page(
            items: list.items ?? [], continueToken: token, resourceVersion: list.metadata?.resourceVersion ?? "")
    }

    /// `GET /api/v1/namespaces/NS/serviceaccounts/NAME`; nil when there is none (404).
    public func get(_ ref: ServiceAccountRef) async throws(KubernetesError) -> ServiceAccountObject? {
        let path = "/api/v1/namespaces/\(Self.segment(ref.namespace))/serviceaccounts/\(Self.segment(ref.name))"
        let data: Data
        do {
            data = try await send(path: path, query: [], limit: 1 << 20)
        } catch where error.status == 404 {
            return nil
        }
        do {
            return try JSONDecoder().decode(ServiceAccountObject.self, from: data)
        } catch {
            throw KubernetesError("the ServiceAccount \(ref) does not decode: \(error)")
        }
    }

    /// `GET /api/v1/serviceaccounts?watch=1&resourceVersion=…&allowWatchBookmarks=true&timeoutSeconds=…`:
    /// hands every event to `onEvent` until the server ends the stream (normally after
    /// `timeoutSeconds`). An `ERROR` event is thrown as a `KubernetesError` with its code
    /// (410: list again).
    public func watch(
        resourceVersion: String, timeoutSeconds: Int, onEvent: (WatchEvent) async -> Void
    ) async throws(KubernetesError) {
        let query = [
            ("watch", "1"), ("resourceVersion", resourceVersion), ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", String(timeoutSeconds)),
        ]
        let response: HTTPClientResponse
        do {
            response = try await http.execute(
                try request(path: "/api/v1/serviceaccounts", query: query),
                timeout: .seconds(Int64(timeoutSeconds) + 30))
        } catch let error as KubernetesError {
            throw error
        } catch {
            throw KubernetesError("watch failed: \(error)")
        }
        guard response.status.code == 200 else {
            throw await Self.failure(response, path: "watch")
        }
        var line: [UInt8] = []
        do {
            for try await buffer in response.body {
                for byte in buffer.readableBytesView {
                    guard byte == UInt8(ascii: "\n") else {
                        line.append(byte)
                        guard line.count <= 4 << 20 else { throw KubernetesError("a watch event is over 4 MiB") }
                        continue
                    }
                    if !line.isEmpty { try await deliver(line, to: onEvent) }
                    line.removeAll(keepingCapacity: true)
                }
            }
        } catch let error as KubernetesError {
            throw error
        } catch {
            throw KubernetesError("watch stream broke: \(error)")
        }
        if !line.isEmpty { try await deliver(line, to: onEvent) }
    }

    private func deliver(_ line: [UInt8], to onEvent: (WatchEvent) async -> Void) async throws(KubernetesError) {
        let event: WatchEventObject
        do {
            event = try JSONDecoder().decode(WatchEventObject.self, from: Data(line))
        } catch {
            throw KubernetesError("a watch event does not decode: \(error)")
        }
        switch event.type {
        case "ADDED": await onEvent(.added(event.object.serviceAccount))
        case "MODIFIED": await onEvent(.modified(event.object.serviceAccount))
        case "DELETED": await onEvent(.deleted(event.object.serviceAccount))
        case "BOOKMARK": await onEvent(.bookmark(resourceVersion: event.object.metadata?.resourceVersion ?? ""))
        case "ERROR":
            throw KubernetesError(
                "the watch ended with an error: \(event.object.message ?? event.object.reason ?? "no message")",
                status: event.object.code)
        default: break
        }
    }

    // MARK: HTTP

    private func send(path: String, query: [(String, String)], limit: Int) async throws(KubernetesError) -> Data {
        do {
            let response = try await http.execute(
                try request(path: path, query: query), timeout: .nanoseconds(requestTimeout.nanosecondsClamped))
            guard (200..<300).contains(Int(response.status.code)) else {
                throw await Self.failure(response, path: path)
            }
            return Data(buffer: try await response.body.collect(upTo: limit))
        } catch let error as KubernetesError {
            throw error
        } catch {
            throw KubernetesError("\(path): \(error)")
        }
    }

    private func request(path: String, query: [(String, String)]) throws(KubernetesError) -> HTTPClientRequest {
        var components = URLComponents()
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        // `+` is a space in a query: encode it, continue tokens are base64.
        let encodedQuery =
            (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let base = configuration.server.absoluteString.hasSuffix("/")
            ? String(configuration.server.absoluteString.dropLast()) : configuration.server.absoluteString
        var request = HTTPClientRequest(url: base + path + (encodedQuery.isEmpty ? "" : "?" + encodedQuery))
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "pod-identity-webhook/\(PodIdentityVersion.current)")
        switch configuration.credentials {
        case .token(let token):
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        case .tokenFile(let path):
            let token: String
            do {
                token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw KubernetesError("cannot read the token file \(path): \(error.localizedDescription)")
            }
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        case .none, .clientCertificate:
            break
        }
        return request
    }

    private static func failure(_ response: HTTPClientResponse, path: String) async -> KubernetesError {
        let body = (try? await response.body.collect(upTo: 64 << 10)).map { Data(buffer: $0) } ?? Data()
        let status = try? JSONDecoder().decode(StatusObject.self, from: body)
        let code = Int(response.status.code)
        let message = status?.message ?? status?.reason ?? response.status.reasonPhrase
        return KubernetesError("\(path) answered HTTP \(code): \(message)", status: code)
    }

    /// A path segment: namespaces and names are DNS labels, but never trust that in a URL.
    private static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? text
    }
}

/// One event of a ServiceAccount watch.
public enum WatchEvent: Sendable, Equatable {
    case added(ServiceAccountObject)
    case modified(ServiceAccountObject)
    case deleted(ServiceAccountObject)
    case bookmark(resourceVersion: String)
}

/// A ServiceAccount as the API sends it, reduced to what the webhook reads.
public struct ServiceAccountObject: Decodable, Sendable, Equatable {
    public struct Metadata: Decodable, Sendable, Equatable {
        public var name: String?
        public var namespace: String?
        public var resourceVersion: String?
        public var annotations: [String: String]?
    }

    public var metadata: Metadata?

    public init(namespace: String, name: String, resourceVersion: String? = nil, annotations: [String: String] = [:]) {
        metadata = Metadata(name: name, namespace: namespace, resourceVersion: resourceVersion, annotations: annotations)
    }

    /// Its facts, or nil when it has no name.
    public func info(prefix: String) -> ServiceAccountInfo? {
        guard let name = metadata?.name, let namespace = metadata?.namespace else { return nil }
        return ServiceAccountInfo(
            ref: ServiceAccountRef(namespace: namespace, name: name),
            annotations: (metadata?.annotations ?? [:]).lazy.map { (key: $0.key, value: $0.value) }, prefix: prefix)
    }
}

private struct ListObject: Decodable {
    struct Metadata: Decodable {
        var resourceVersion: String?
        var `continue`: String?
    }

    var metadata: Metadata?
    var items: [ServiceAccountObject]?
}

private struct StatusObject: Decodable {
    var message: String?
    var reason: String?
    var code: Int?
}

/// A watch event's object: a ServiceAccount, or a Status for `ERROR`.
private struct EventObject: Decodable {
    var metadata: ServiceAccountObject.Metadata?
    var message: String?
    var reason: String?
    var code: Int?

    var serviceAccount: ServiceAccountObject { ServiceAccountObject(metadata: metadata) }
}

private struct WatchEventObject: Decodable {
    var type: String
    var object: EventObject
}

extension ServiceAccountObject {
    fileprivate init(metadata: Metadata?) { self.metadata = metadata }
}
