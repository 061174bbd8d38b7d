import Foundation
import PodIdentityKubernetesTestSupport
import PodIdentityTestSupport
import Testing

/// The stand-in is only worth its tests if the real client accepts it: `kubectl` discovers
/// ServiceAccounts, pages through them, gets one, watches them and is refused without the token.
///
/// Over HTTPS (`serveTLS`): kubectl sends the kubeconfig's token only to an `https://` server.
@Suite("The Kubernetes stand-in speaks the API as kubectl expects", .timeLimit(.minutes(2)))
struct KubernetesStandInKubectlTests {
    static var kubectl: String { ProcessInfo.processInfo.environment["KUBECTL"] ?? "/usr/bin/kubectl" }

    /// A kubeconfig, a discovery cache and a self-signed certificate of their own, so nothing is
    /// read from or left in `~/.kube`.
    struct Workspace {
        let directory: URL
        let certificatePEM: String
        let keyPEM: String

        init() async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "piw-kubectl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let certificate = directory.appendingPathComponent("tls.crt"),
                key = directory.appendingPathComponent("tls.key")
            let openssl = try #require(ChildProcess.which("openssl"), "openssl is not installed")
            let made = try await ChildProcess.run(
                openssl,
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=kubernetes-stand-in", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key.path, "-out", certificate.path,
                ])
            try #require(made.status == 0, "\(made.standardError)")
            certificatePEM = try String(contentsOf: certificate, encoding: .utf8)
            keyPEM = try String(contentsOf: key, encoding: .utf8)
        }

        var kubeconfig: String { directory.appendingPathComponent("kubeconfig").path }

        /// Writes the kubeconfig for the stand-in on `port`, with its token or `token`.
        func configure(_ standIn: KubernetesStandIn, port: Int, token: String? = nil) throws {
            try standIn.kubeconfig(port: port, token: token, certificateAuthorityPEM: certificatePEM)
                .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        }

        var environment: [String: String] {
            ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": directory.path]
        }

        func arguments(_ arguments: [String]) -> [String] {
            ["--kubeconfig", kubeconfig, "--cache-dir", directory.appendingPathComponent("cache").path] + arguments
        }

        func kubectl(_ arguments: [String]) async throws -> ChildProcess.Output {
            try await ChildProcess.run(
                KubernetesStandInKubectlTests.kubectl, self.arguments(arguments), environment: environment)
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    static func seed(_ standIn: KubernetesStandIn) {
        standIn.apply(
            namespace: "shop", name: "checkout",
            annotations: ["eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/checkout"])
        standIn.apply(namespace: "shop", name: "cart")
        standIn.apply(namespace: "default", name: "default")
        standIn.apply(namespace: "kube-system", name: "coredns")
        standIn.apply(namespace: "shop", name: "default")
    }

    /// The top-level JSON objects in `text`, which kubectl prints one after another.
    static func objects(in text: String) throws -> [[String: Any]] {
        var objects: [[String: Any]] = []
        let bytes = Array(text.utf8)
        var depth = 0, start = 0, inString = false, escaped = false
        for (index, byte) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"):
                if depth == 0 { start = index }
                depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 {
                    let object = try JSONSerialization.jsonObject(with: Data(bytes[start...index]))
                    objects.append(try #require(object as? [String: Any]))
                }
            default: break
            }
        }
        return objects
    }

    static func name(_ object: Any?) -> String? {
        guard let object = object as? [String: Any], let metadata = object["metadata"] as? [String: Any] else {
            return nil
        }
        return "\(metadata["namespace"] as? String ?? "")/\(metadata["name"] as? String ?? "")"
    }

    @Test("kubectl get sa -A --chunk-size=2 pages through every ServiceAccount with limit and continue")
    func listsInChunks() async throws {
        let standIn = KubernetesStandIn()
        Self.seed(standIn)
        let workspace = try await Workspace()
        defer { workspace.remove() }
        try await standIn.serveTLS(certificatePEM: workspace.certificatePEM, keyPEM: workspace.keyPEM) { port in
            try workspace.configure(standIn, port: port)
            let output = try await workspace.kubectl(["get", "sa", "-A", "-o", "json", "--chunk-size=2"])
            #expect(output.status == 0, "\(output.standardError)")
            let list = try #require(try Self.objects(in: output.standardOutput).first)
            let items = try #require(list["items"] as? [Any])
            #expect(
                items.compactMap(Self.name)
                    == ["default/default", "kube-system/coredns", "shop/cart", "shop/checkout", "shop/default"])
            let lists = standIn.requests.filter { $0.path == "/api/v1/serviceaccounts" && !$0.isWatch }
            #expect(lists.count == 3)
            #expect(lists.allSatisfy { $0.query["limit"] == "2" && $0.authorized })
            #expect(lists.first?.query["continue"] == nil)
            #expect(lists.dropFirst().allSatisfy { !($0.query["continue"] ?? "").isEmpty })
        }
    }

    @Test("kubectl get sa -n NS NAME returns the object; a missing one fails with NotFound")
    func getsOne() async throws {
        let standIn = KubernetesStandIn()
        Self.seed(standIn)
        let workspace = try await Workspace()
        defer { workspace.remove() }
        try await standIn.serveTLS(certificatePEM: workspace.certificatePEM, keyPEM: workspace.keyPEM) { port in
            try workspace.configure(standIn, port: port)
            let output = try await workspace.kubectl(["get", "sa", "-n", "shop", "checkout", "-o", "json"])
            #expect(output.status == 0, "\(output.standardError)")
            let object = try #require(try Self.objects(in: output.standardOutput).first)
            #expect(Self.name(object) == "shop/checkout")
            let metadata = try #require(object["metadata"] as? [String: Any])
            #expect(
                (metadata["annotations"] as? [String: String])?["eks.amazonaws.com/role-arn"]
                    == "arn:aws:iam::111122223333:role/checkout")
            #expect(metadata["resourceVersion"] as? String == "2")
            #expect(standIn.requests.contains { $0.path == "/api/v1/namespaces/shop/serviceaccounts/checkout" })

            let missing = try await workspace.kubectl(["get", "sa", "-n", "shop", "ghost", "-o", "json"])
            #expect(missing.status != 0)
            #expect(missing.standardError.contains("NotFound"), "\(missing.standardError)")
            #expect(missing.standardError.contains("serviceaccounts \"ghost\" not found"))
        }
    }

    @Test("kubectl get sa -A -w prints the initial list as ADDED and a later change as MODIFIED")
    func watches() async throws {
        let standIn = KubernetesStandIn()
        Self.seed(standIn)
        let workspace = try await Workspace()
        defer { workspace.remove() }
        let output = try await standIn.serveTLS(certificatePEM: workspace.certificatePEM, keyPEM: workspace.keyPEM) {
            port in
            try workspace.configure(standIn, port: port)
            // kubectl ends the watch itself after --request-timeout (it exits 0, having sent
            // timeout=5s and no timeoutSeconds); timeout(1) is the guard should it not.
            async let watching = ChildProcess.run(
                ChildProcess.which("timeout") ?? "/usr/bin/timeout",
                ["30", Self.kubectl]
                    + workspace.arguments([
                        "get", "sa", "-A", "-w", "--output-watch-events", "-o", "json", "--request-timeout=5s",
                    ]),
                environment: workspace.environment)
            // Generous: kubectl starts slowly on a loaded machine (the dispatcher, then kubectl).
            let deadline = ContinuousClock.now + .seconds(20)
            while standIn.openWatchCount == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(standIn.openWatchCount == 1)
            try await Task.sleep(for: .seconds(1))
            standIn.apply(
                namespace: "shop", name: "cart",
                annotations: ["eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/cart"])
            return try await watching
        }
        let events = try Self.objects(in: output.standardOutput)
        let added = events.filter { $0["type"] as? String == "ADDED" }.compactMap { Self.name($0["object"]) }
        #expect(
            Set(added) == ["default/default", "kube-system/coredns", "shop/cart", "shop/checkout", "shop/default"],
            "\(output.standardOutput)\n\(output.standardError)")
        let modified = events.filter { $0["type"] as? String == "MODIFIED" }
        #expect(modified.count == 1)
        #expect(modified.compactMap { Self.name($0["object"]) } == ["shop/cart"])
        let watches = standIn.requests.filter(\.isWatch)
        #expect(watches.count == 1)
        #expect(watches.first?.path == "/api/v1/serviceaccounts")
        #expect(watches.first?.query["resourceVersion"] == "6")
    }

    @Test("kubectl with a wrong token is refused as unauthorized")
    func wrongToken() async throws {
        let standIn = KubernetesStandIn(token: "right-token")
        Self.seed(standIn)
        let workspace = try await Workspace()
        defer { workspace.remove() }
        try await standIn.serveTLS(certificatePEM: workspace.certificatePEM, keyPEM: workspace.keyPEM) { port in
            try workspace.configure(standIn, port: port, token: "wrong-token")
            let output = try await workspace.kubectl(["get", "sa", "-A", "-o", "json"])
            #expect(output.status != 0)
            #expect(
                output.standardError.contains("Unauthorized") || output.standardError.contains("You must be logged in"),
                "\(output.standardError)")
            #expect(!standIn.requests.isEmpty)
            #expect(standIn.requests.allSatisfy { !$0.authorized })
        }
    }
}
