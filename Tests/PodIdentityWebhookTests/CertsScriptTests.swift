import Foundation
import PodIdentityCore
import PodIdentityTestSupport
import Testing

/// `certs/generate.sh` run as users run it, and the real webhook binary serving what it writes.
@Suite("certs/generate.sh", .serialized, .timeLimit(.minutes(5)))
struct CertsScriptTests {
    static let script = CommandLineTests.repositoryRoot.appendingPathComponent("certs/generate.sh").path
    static let opensslPath = ChildProcess.which("openssl") ?? "/usr/bin/openssl"
    static let curlPath = ChildProcess.which("curl") ?? "/usr/bin/curl"
    /// The names the API server may use for the Service `svc` in namespace `ns`.
    static let serviceNames = ["svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local"]

    struct ToolError: Error, CustomStringConvertible {
        var description: String
    }

    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("piw-certs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs `certs/generate.sh` for the Service `svc` in namespace `ns`, plus `arguments`.
    static func generate(_ arguments: [String]) async throws -> CommandLineTests.Output {
        try await CommandLineTests.runTool(script, ["--service", "svc", "--namespace", "ns"] + arguments)
    }

    /// Runs openssl and returns its standard output; a failure throws with openssl's message.
    static func openssl(_ arguments: [String]) async throws -> String {
        let output = try await CommandLineTests.runTool(opensslPath, arguments)
        guard output.status == 0 else {
            throw ToolError(description: "openssl \(arguments.joined(separator: " ")) failed: \(output.stderr)")
        }
        return output.stdout
    }

    static func fileSerial(_ path: String) async throws -> String {
        try await openssl(["x509", "-noout", "-serial", "-in", path]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The serial of the certificate a new TLS connection to the webhook gets ("" if none).
    static func servedSerial(port: Int) async throws -> String {
        let command =
            "\(opensslPath) s_client -connect 127.0.0.1:\(port) -servername svc.ns.svc </dev/null 2>/dev/null"
            + " | \(opensslPath) x509 -noout -serial"
        let output = try await CommandLineTests.runTool("/bin/bash", ["-c", command])
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// curl to the webhook on loopback under `host`, verifying the certificate against `ca` only.
    static func curl(
        ca: String, port: Int, path: String, host: String = "svc.ns.svc", arguments: [String] = []
    ) async throws -> CommandLineTests.Output {
        try await CommandLineTests.runTool(
            curlPath,
            [
                "--silent", "--show-error", "--fail", "--max-time", "10", "--noproxy", "*", "--cacert", ca,
                "--resolve", "\(host):\(port):127.0.0.1",
            ] + arguments + ["https://\(host):\(port)\(path)"])
    }

    /// The body of an extension in `openssl x509 -noout -ext …` output: the indented lines under
    /// its heading, joined.
    static func extensionValue(_ heading: String, in text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix(heading) }) else { return nil }
        return lines[(start + 1)...].prefix(while: { $0.hasPrefix(" ") })
            .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    static func permissions(_ path: String) throws -> Int {
        guard let value = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] else { return -1 }
        switch value {
        case let number as NSNumber: return number.intValue
        case let number as Int: return number
        case let number as UInt: return Int(number)
        case let number as UInt16: return Int(number)
        default: return -1
        }
    }

    static func text(of file: URL) -> String {
        String(decoding: (try? Data(contentsOf: file)) ?? Data(), as: UTF8.self)
    }

    /// The webhook's port from its JSON log (`"message":"listening","listener":"webhook"`).
    static func webhookPort(inLog log: String) -> Int? {
        for line in log.split(separator: "\n") {
            guard let entry = try? JSONValue.parse(Data(line.utf8)),
                entry["message"]?.stringValue == "listening", entry["listener"]?.stringValue == "webhook",
                let port = entry["port"]?.stringValue
            else { continue }
            return Int(port)
        }
        return nil
    }

    @Test("makes a CA and a serving certificate that verifies, with exactly the Service's DNS names and serverAuth")
    func makesCertificates() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let run = try await Self.generate(["--out", out.path])
        try #require(run.status == 0, "\(run.stderr)")
        let ca = out.appendingPathComponent("ca.crt").path, crt = out.appendingPathComponent("tls.crt").path
        for name in ["ca.crt", "ca.key", "tls.crt", "tls.key"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) missing")
        }
        #expect(try Self.permissions(out.appendingPathComponent("tls.key").path) == 0o600)
        #expect(try Self.permissions(out.appendingPathComponent("ca.key").path) == 0o600)
        #expect(run.stderr.contains("keep it secret"))

        let verify = try await CommandLineTests.runTool(Self.opensslPath, ["verify", "-CAfile", ca, crt])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("\(crt): OK"))

        let text = try await Self.openssl([
            "x509", "-noout", "-in", crt, "-subject", "-nameopt", "RFC2253", "-ext",
            "subjectAltName,extendedKeyUsage,basicConstraints",
        ])
        let names = Self.extensionValue("X509v3 Subject Alternative Name", in: text)?.components(separatedBy: ", ")
        #expect(names?.sorted() == Self.serviceNames.map { "DNS:\($0)" }.sorted(), "\(text)")
        #expect(Self.extensionValue("X509v3 Extended Key Usage", in: text) == "TLS Web Server Authentication")
        #expect(Self.extensionValue("X509v3 Basic Constraints", in: text) == "CA:FALSE")
        #expect(text.contains("subject=CN=svc.ns.svc\n"))

        // stdout is the caBundle alone, on one line: base64 of ca.crt.
        #expect(run.stdout.split(separator: "\n").count == 1)
        let caPEM = try Data(contentsOf: URL(fileURLWithPath: ca))
        #expect(Data(base64Encoded: run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == caPEM)
    }

    @Test(
        "--key-type picks the key of the serving certificate",
        arguments: [
            ("ec256", ["id-ecPublicKey", "NIST CURVE: P-256"]), ("ec384", ["id-ecPublicKey", "NIST CURVE: P-384"]),
            ("rsa2048", ["rsaEncryption", "Public-Key: (2048 bit)"]),
            ("rsa4096", ["rsaEncryption", "Public-Key: (4096 bit)"]),
        ])
    func keyType(_ keyType: String, _ expected: [String]) async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let run = try await Self.generate(["--key-type", keyType, "--out", out.path])
        try #require(run.status == 0, "\(run.stderr)")
        let crt = out.appendingPathComponent("tls.crt").path
        let text = try await Self.openssl(["x509", "-noout", "-text", "-in", crt])
        for fragment in expected {
            #expect(text.contains(fragment), "\(keyType): \(fragment) not in\n\(text)")
        }
        let verify = try await CommandLineTests.runTool(
            Self.opensslPath, ["verify", "-CAfile", out.appendingPathComponent("ca.crt").path, crt])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    @Test("--reissue keeps the CA and issues a new serving pair; without a CA it refuses and writes nothing")
    func reissue() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let refused = try await Self.generate(["--reissue", "--out", out.path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("holds no ca.crt and ca.key"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))

        let first = try await Self.generate(["--out", out.path])
        try #require(first.status == 0, "\(first.stderr)")
        let caFile = out.appendingPathComponent("ca.crt"), caKeyFile = out.appendingPathComponent("ca.key")
        let crt = out.appendingPathComponent("tls.crt").path, keyFile = out.appendingPathComponent("tls.key")
        let ca = try Data(contentsOf: caFile), caKey = try Data(contentsOf: caKeyFile)
        let key = try Data(contentsOf: keyFile)
        let serial = try await Self.fileSerial(crt)

        let second = try await Self.generate(["--reissue", "--out", out.path])
        try #require(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("using the existing CA"))
        #expect(try Data(contentsOf: caFile) == ca)
        #expect(try Data(contentsOf: caKeyFile) == caKey)
        #expect(try Data(contentsOf: keyFile) != key, "a rotation brings a new key")
        let newSerial = try await Self.fileSerial(crt)
        #expect(newSerial != serial)
        #expect(second.stdout == first.stdout, "the caBundle stays the same")
        let verify = try await CommandLineTests.runTool(Self.opensslPath, ["verify", "-CAfile", caFile.path, crt])
        #expect(verify.status == 0, "\(verify.stderr)")
    }

    @Test(
        "a bad option exits non-zero with a message and writes nothing",
        arguments: [
            (["--key-type", "dsa"], "--key-type must be one of rsa2048, rsa4096, ec256, ec384"),
            (["--days", "ten"], "--days must be a whole number of days"),
            (["--ca-days", "0"], "--ca-days must be a whole number of days"),
            (["--service", "Web_Hook"], "is not a valid Service name"),
            (["--bogus"], "unknown option: --bogus"),
            (["--namespace"], "--namespace needs a value"),
        ])
    func badOption(_ arguments: [String], _ message: String) async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let run = try await CommandLineTests.runTool(Self.script, arguments + ["--out", out.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("the webhook serves it under the Service's name; a reissue reaches new connections without a restart")
    func servesAndRotates() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let generated = try await Self.generate(["--out", out.path])
        try #require(generated.status == 0, "\(generated.stderr)")
        let ca = out.appendingPathComponent("ca.crt").path
        let crt = out.appendingPathComponent("tls.crt").path, key = out.appendingPathComponent("tls.key").path

        let log = directory.appendingPathComponent("webhook.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
        process.arguments = [
            "serve", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--tls-cert", crt, "--tls-key", key,
            "--tls-reload-interval", "100ms", "--association", "default/app", "--log-format", "json",
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("POD_IDENTITY_WEBHOOK_") }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // Poll the log file: blocking reads would hold a thread the cooperative pool needs.
        var port: Int?
        let deadline = ContinuousClock.now + .seconds(30)
        while port == nil, process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            port = Self.webhookPort(inLog: Self.text(of: log))
        }
        let webhookPort = try #require(port, "the webhook did not start: \(Self.text(of: log))")

        let healthz = try await Self.curl(ca: ca, port: webhookPort, path: "/healthz")
        #expect(healthz.status == 0, "\(healthz.stderr)")
        #expect(healthz.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        let reviewFile = directory.appendingPathComponent("review.json")
        try Reviews.body().write(to: reviewFile)
        let review = try await Self.curl(
            ca: ca, port: webhookPort, path: "/mutate",
            arguments: ["--data-binary", "@\(reviewFile.path)", "--header", "Content-Type: application/json"])
        #expect(review.status == 0, "\(review.stderr)")
        let answer = try JSONValue.parse(Data(review.stdout.utf8))
        #expect(answer["response"]?["allowed"] == true)
        #expect(answer["response"]?["patchType"] == "JSONPatch")
        let wrongName = try await Self.curl(ca: ca, port: webhookPort, path: "/healthz", host: "other.ns.svc")
        #expect(wrongName.status != 0, "a name the certificate does not hold must not verify")

        let firstSerial = try await Self.fileSerial(crt)
        let servedFirst = try await Self.servedSerial(port: webhookPort)
        #expect(servedFirst == firstSerial)

        // Rotation, with a different key type on purpose: the new pair must still load.
        let reissued = try await Self.generate(["--reissue", "--key-type", "rsa2048", "--out", out.path])
        try #require(reissued.status == 0, "\(reissued.stderr)")
        let secondSerial = try await Self.fileSerial(crt)
        #expect(secondSerial != firstSerial)
        var served = servedFirst
        let rotationDeadline = ContinuousClock.now + .seconds(20)
        while served != secondSerial, ContinuousClock.now < rotationDeadline {
            try await Task.sleep(for: .milliseconds(100))
            served = try await Self.servedSerial(port: webhookPort)
        }
        #expect(served == secondSerial, "the new certificate is not served: \(Self.text(of: log))")
        let afterRotation = try await Self.curl(ca: ca, port: webhookPort, path: "/healthz")
        #expect(afterRotation.status == 0, "the same ca.crt verifies the new certificate: \(afterRotation.stderr)")
        #expect(process.isRunning, "the webhook kept running")
        #expect(Self.text(of: log).contains("loaded new serving certificate"))

        process.terminate()
        let stopDeadline = ContinuousClock.now + .seconds(10)
        while process.isRunning, ContinuousClock.now < stopDeadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!process.isRunning)
    }
}
