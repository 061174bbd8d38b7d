import Foundation
import PodIdentityKubernetes
import Testing

@testable import pod_identity_webhook

@Suite("kubeconfig", .timeLimit(.minutes(1)))
struct KubeconfigTests {
    static func write(_ text: String, files: [String: String] = [:]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, contents) in files { try Data(contents.utf8).write(to: directory.appendingPathComponent(name)) }
        let path = directory.appendingPathComponent("config").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func config(user: String, server: String = "https://api.example:6443", cluster: String = "") -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: main
        contexts:
        - name: other
          context: {cluster: nowhere, user: nobody}
        - name: main
          context: {cluster: prod, user: admin}
        clusters:
        - name: prod
          cluster:
            server: \(server)
        \(cluster)
        users:
        - name: admin
          user:
        \(user)
        """
    }

    @Test("the current context's server, CA file (relative to the kubeconfig) and token")
    func tokenAndCAFile() throws {
        let path = try Self.write(
            Self.config(user: "    token: s3cr3t-token", cluster: "    certificate-authority: ca.pem"),
            files: ["ca.pem": "not really a certificate"])
        // The CA must parse: a broken one is an error at start, with the file named, not the token.
        #expect {
            _ = try Kubeconfig.load(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("does not parse") && !text.contains("s3cr3t-token")
        }
    }

    @Test("a token file is re-read per request, so it is kept as a path")
    func tokenFile() throws {
        let path = try Self.write(Self.config(user: "    tokenFile: token"), files: ["token": "abc"])
        let configuration = try Kubeconfig.load(path: path)
        #expect(configuration.server.absoluteString == "https://api.example:6443")
        guard case .tokenFile(let file) = configuration.credentials else {
            Issue.record("expected a token file, got \(configuration)")
            return
        }
        #expect(file.hasSuffix("/token"))
        #expect(configuration.description.contains("the token file"))
    }

    @Test(
        "what it cannot use stops the webhook at start with a clear message",
        arguments: [
            ("    exec: {command: aws}", "authenticates with exec"),
            ("    client-certificate-data: \(Data("x".utf8).base64EncodedString())", "no client key"),
            ("    tokenFile: /nonexistent/token", "is not readable"),
        ])
    func unusable(user: String, message: String) throws {
        let path = try Self.write(Self.config(user: user))
        #expect {
            _ = try Kubeconfig.load(path: path)
        } throws: { "\($0)".contains(message) }
    }

    @Test("plain http only to a loopback API server")
    func plainHTTP() throws {
        let loopback = try Self.write(Self.config(user: "    token: t", server: "http://127.0.0.1:8080"))
        #expect(try Kubeconfig.load(path: loopback).server.port == 8080)
        let remote = try Self.write(Self.config(user: "    token: t", server: "http://api.example:8080"))
        #expect { _ = try Kubeconfig.load(path: remote) } throws: { "\($0)".contains("must be https") }
    }

    @Test("in-cluster configuration needs the service host and the mounted token")
    func inCluster() throws {
        #expect { _ = try KubernetesConfiguration.inCluster(environment: [:]) } throws: {
            "\($0)".contains("KUBERNETES_SERVICE_HOST")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("token".utf8).write(to: directory.appendingPathComponent("token"))
        try Data("ca".utf8).write(to: directory.appendingPathComponent("ca.crt"))
        let configuration = try KubernetesConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            directory: directory.path)
        #expect(configuration.server.absoluteString == "https://10.0.0.1:443")
    }
}
