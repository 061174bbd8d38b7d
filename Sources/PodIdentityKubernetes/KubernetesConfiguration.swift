import Foundation
import PodIdentityCore
import PodIdentitySources

/// How to reach the Kubernetes API: a kubeconfig's current context (read by the executable),
/// or the in-cluster configuration. Credentials are never printed: `description` names only
/// their kind.
public struct KubernetesConfiguration: Sendable, CustomStringConvertible {
    public enum Credentials: Sendable {
        case none
        /// A bearer token given inline.
        case token(String)
        /// A bearer token file, re-read for every request (the kubelet rotates projected tokens).
        case tokenFile(String)
        /// A client certificate and key, PEM.
        case clientCertificate(certificatePEM: [UInt8], keyPEM: [UInt8])
    }

    /// `https://HOST:PORT` (plain `http` only to a loopback address, for stand-ins).
    public var server: URL
    /// The CA bundle that signs the API server's certificate, PEM; nil means the system roots.
    public var certificateAuthorityPEM: [UInt8]?
    public var credentials: Credentials

    public init(server: URL, certificateAuthorityPEM: [UInt8]? = nil, credentials: Credentials) throws(KubernetesError) {
        guard server.scheme == "https" || (server.scheme == "http" && HostAddress.isLoopback(server.host ?? "")) else {
            throw KubernetesError("the API server must be https (plain http only to loopback), got \(server)")
        }
        self.server = server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.credentials = credentials
    }

    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`_PORT`, the pod's projected
    /// token (re-read as it rotates) and the cluster CA.
    public static func inCluster(
        environment: [String: String], directory: String = serviceAccountDirectory
    ) throws(KubernetesError) -> KubernetesConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw KubernetesError(
                "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no --kubeconfig given")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        guard let url = URL(string: "https://\(hostPart):\(port)") else {
            throw KubernetesError("KUBERNETES_SERVICE_HOST/PORT do not make a URL: \(hostPart):\(port)")
        }
        let tokenPath = directory + "/token", caPath = directory + "/ca.crt"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubernetesError(
                "\(tokenPath) is not readable: the webhook's pod needs its service account token mounted "
                    + "(automountServiceAccountToken) to follow ServiceAccounts")
        }
        let ca: Data
        do {
            ca = try Data(contentsOf: URL(fileURLWithPath: caPath))
        } catch {
            throw KubernetesError("cannot read the cluster CA \(caPath): \(error.localizedDescription)")
        }
        return try KubernetesConfiguration(
            server: url, certificateAuthorityPEM: Array(ca), credentials: .tokenFile(tokenPath))
    }

    public var description: String {
        let kind =
            switch credentials {
            case .none: "no credentials"
            case .token: "a bearer token"
            case .tokenFile(let path): "the token file \(path)"
            case .clientCertificate: "a client certificate"
            }
        return "\(server.absoluteString) with \(kind)"
    }
}

/// A Kubernetes API failure, in words for an operator; never holds credentials.
public struct KubernetesError: Error, CustomStringConvertible, Equatable {
    public var description: String
    /// The HTTP status, when the API answered.
    public var status: Int?
    /// 410 Gone (or an `ERROR` event with code 410): the resource version is too old; list again.
    public var isGone: Bool { status == 410 }

    public init(_ description: String, status: Int? = nil) {
        self.description = description
        self.status = status
    }
}
