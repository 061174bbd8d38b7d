import Foundation
import PodIdentityCore
import PodIdentityKubernetes
import Yams

/// Reads a kubeconfig's current context into a `KubernetesConfiguration`: `server`,
/// `certificate-authority(-data)`, and a bearer `token`, `tokenFile` or
/// `client-certificate(-data)`/`client-key(-data)`. Relative paths are relative to the
/// kubeconfig's folder, as kubectl reads them. Anything it cannot use is a clear error at
/// start; credentials never appear in a message.
enum Kubeconfig {
    static func load(path: String) throws(KubernetesError) -> KubernetesConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw KubernetesError("cannot read --kubeconfig \(path): \(error.localizedDescription)")
        }
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw KubernetesError("--kubeconfig \(path) is not YAML: \(error)")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        return try parse(document, folder: folder, path: path)
    }

    static func parse(_ document: Any?, folder: URL, path: String) throws(KubernetesError) -> KubernetesConfiguration {
        func fail(_ message: String) -> KubernetesError { KubernetesError("--kubeconfig \(path): \(message)") }
        guard let root = document as? [String: Any] else { throw fail("not a kubeconfig (no top-level mapping)") }
        guard let current = root["current-context"] as? String, !current.isEmpty else {
            throw fail("no current-context")
        }
        func named(_ list: String, _ name: String, _ field: String) throws(KubernetesError) -> [String: Any] {
            let entries = root[list] as? [[String: Any]] ?? []
            guard let entry = entries.first(where: { ($0["name"] as? String) == name }) else {
                throw fail("\(list) has no entry named \"\(name)\"")
            }
            return entry[field] as? [String: Any] ?? [:]
        }
        let context = try named("contexts", current, "context")
        guard let clusterName = context["cluster"] as? String else { throw fail("context \"\(current)\" names no cluster") }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let serverText = cluster["server"] as? String, let server = URL(string: serverText), server.host != nil
        else { throw fail("cluster \"\(clusterName)\" has no usable server") }

        func bytes(_ object: [String: Any], inline: String, file: String) throws(KubernetesError) -> [UInt8]? {
            if let data = object[inline] as? String {
                guard let decoded = Data(base64Encoded: data.filter { !$0.isWhitespace }) else {
                    throw fail("\(inline) is not base64")
                }
                return Array(decoded)
            }
            if let name = object[file] as? String {
                let url = name.hasPrefix("/") ? URL(fileURLWithPath: name) : folder.appendingPathComponent(name)
                do {
                    return Array(try Data(contentsOf: url))
                } catch {
                    throw fail("cannot read \(file) \(url.path): \(error.localizedDescription)")
                }
            }
            return nil
        }
        let authority = try bytes(cluster, inline: "certificate-authority-data", file: "certificate-authority")

        var credentials = KubernetesConfiguration.Credentials.none
        if let userName = context["user"] as? String {
            let user = try named("users", userName, "user")
            for unsupported in ["exec", "auth-provider", "username"] where user[unsupported] != nil {
                throw fail(
                    "user \"\(userName)\" authenticates with \(unsupported), which this webhook does not support: "
                        + "use a token, tokenFile or client certificate")
            }
            if let token = user["token"] as? String, !token.isEmpty {
                credentials = .token(token)
            } else if let file = user["tokenFile"] as? String {
                let resolved = file.hasPrefix("/") ? file : folder.appendingPathComponent(file).path
                guard FileManager.default.isReadableFile(atPath: resolved) else {
                    throw fail("tokenFile \(resolved) is not readable")
                }
                credentials = .tokenFile(resolved)
            } else if let certificate = try bytes(user, inline: "client-certificate-data", file: "client-certificate") {
                guard let key = try bytes(user, inline: "client-key-data", file: "client-key") else {
                    throw fail("user \"\(userName)\" has a client certificate but no client key")
                }
                credentials = .clientCertificate(certificatePEM: certificate, keyPEM: key)
            }
        }
        do {
            let configuration = try KubernetesConfiguration(
                server: server, certificateAuthorityPEM: authority, credentials: credentials)
            _ = try KubernetesClient.httpConfiguration(for: configuration)  // certificates and keys parse
            return configuration
        } catch {
            throw fail(error.description)
        }
    }
}
