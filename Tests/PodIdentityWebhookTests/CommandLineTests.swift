import Foundation
import PodIdentityCore
@testable import pod_identity_webhook
import PodIdentityTestSupport
import Testing

/// The real `pod-identity-webhook` binary, run the way users run it.
@Suite("Command line", .serialized, .timeLimit(.minutes(5)))
struct CommandLineTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The binary next to this test bundle (both are built by `swift build --build-tests`).
    static var binary: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "pod-identity-webhook"),
            repositoryRoot.appendingPathComponent(".build/debug/pod-identity-webhook"),
        ]
        return (candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]).path
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) async throws
        -> Output
    {
        try await runTool(binary, arguments, stdin: stdin, environment: environment)
    }

    static func runTool(
        _ tool: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]
    ) async throws -> Output {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("POD_IDENTITY_WEBHOOK_") }
        env.merge(environment) { $1 }
        let output = try await ChildProcess.run(tool, arguments, environment: env, stdin: stdin)
        return Output(status: output.status, stdout: output.standardOutput, stderr: output.standardError)
    }

    static let podYAML = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
          namespace: shop
        spec:
          serviceAccountName: checkout
          containers:
          - name: app
            image: nginx
            env:
            - name: EXISTING
              value: "1"
        """

    @Test("mutate -o patch gives a patch that kubectl patch --local applies to the same pod as -o json")
    func mutatePatchAgreesWithKubectl() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("piw-mutate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let podFile = directory.appendingPathComponent("pod.yaml")
        try Data(Self.podYAML.utf8).write(to: podFile)
        let flags = [
            "--association", "shop/checkout", "--no-token-expiration-jitter", "--aws-default-region", "eu-west-1",
        ]
        let patch = try await Self.run(["mutate", podFile.path, "-o", "patch"] + flags)
        #expect(patch.status == 0, "\(patch.stderr)")
        #expect(patch.stderr.contains("shop/web service account checkout: mutated"))
        let patchFile = directory.appendingPathComponent("patch.json")
        try Data(patch.stdout.utf8).write(to: patchFile)
        let kubectl = try await Self.runTool(
            ProcessInfo.processInfo.environment["KUBECTL"] ?? "/usr/bin/kubectl",
            ["patch", "--local", "-f", podFile.path, "--type=json", "--patch-file", patchFile.path, "-o", "json"])
        #expect(kubectl.status == 0, "\(kubectl.stderr)")
        let json = try await Self.run(["mutate", podFile.path, "-o", "json"] + flags)
        #expect(json.status == 0)
        let ours = try JSONValue.parse(Data(json.stdout.utf8)), theirs = try JSONValue.parse(Data(kubectl.stdout.utf8))
        #expect(ours == theirs)
        guard case .array(let env)? = ours["spec"]?["containers"]?.firstElement?["env"] else {
            Issue.record("no env in \(json.stdout)")
            return
        }
        #expect(
            env.compactMap { $0["name"]?.stringValue } == [
                "EXISTING", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            ])
        #expect(
            ours["spec"]?["volumes"]?.firstElement?["projected"]?["sources"]?.firstElement?["serviceAccountToken"]?[
                "expirationSeconds"] == 86400)
    }

    @Test("mutate reads YAML from stdin and prints YAML; reads a whole AdmissionReview too")
    func mutateStdinAndReview() async throws {
        let yaml = try await Self.run(["mutate", "-"], stdin: Data(Self.podYAML.utf8))
        #expect(yaml.status == 0, "\(yaml.stderr)")
        let pod = try Documents.parse(Data(yaml.stdout.utf8))
        #expect(pod["metadata"]?["labels"]?["eks.amazonaws.com/pod-identity"] == "enabled")
        #expect(pod["spec"]?["containers"]?.firstElement?["env"]?.firstElement?["value"] == "1", "\"1\" stays a string")

        let review = Reviews.body(object: try Documents.parse(Data(Self.podYAML.utf8)).jsonValue)
        let notAssociated = try await Self.run(["mutate", "-o", "patch", "--association", "other/sa"], stdin: review)
        #expect(notAssociated.status == 0)
        #expect(notAssociated.stderr.contains("not-associated"))
        #expect(notAssociated.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    /// Whether `text` holds the bytes of `part` (String.contains would also find a canonically
    /// equivalent spelling, which is what these tests must tell apart).
    static func containsBytes(_ text: String, _ part: String) -> Bool {
        let haystack = Array(text.utf8), needle = Array(part.utf8)
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains {
            haystack[$0..<($0 + needle.count)].elementsEqual(needle)
        }
    }

    @Test("mutate prints every key and every number of its input as they came, -o json and -o yaml")
    func mutateKeepsKeysAndNumbers() async throws {
        let pod = #"""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop",
             "labels":{"K":"letter","\u212a":"sign"},"annotations":{"caf\u00e9":"nfc","cafe\u0301":"nfd"}},
             "spec":{"serviceAccountName":"checkout","terminationGracePeriodSeconds":30,
             "futureTuning":{"big":5.19647714921921e+16,"ratio":1.50,"huge":12345678901234567890,"exp":2E+3,"z":-0.0},
             "containers":[{"name":"app","image":"nginx"}]}}
            """#
        let flags = ["--association", "shop/checkout", "--no-token-expiration-jitter"]
        let json = try await Self.run(["mutate", "-o", "json"] + flags, stdin: Data(pod.utf8))
        #expect(json.status == 0, "\(json.stderr)")
        for literal in [
            #""big": 5.19647714921921e+16"#, #""ratio": 1.50"#, #""huge": 12345678901234567890"#, #""exp": 2E+3"#,
            #""z": -0.0"#, #""terminationGracePeriodSeconds": 30"#, #""K": "letter""#, "\"\u{212A}\": \"sign\"",
            "\"caf\u{E9}\": \"nfc\"", "\"cafe\u{301}\": \"nfd\"", #""eks.amazonaws.com/pod-identity": "enabled""#,
        ] {
            #expect(Self.containsBytes(json.stdout, literal), "-o json lost \(literal):\n\(json.stdout)")
        }
        let yaml = try await Self.run(["mutate", "-o", "yaml"] + flags, stdin: Data(pod.utf8))
        #expect(yaml.status == 0, "\(yaml.stderr)")
        for literal in [
            "big: 5.19647714921921e+16", "ratio: 1.50", "huge: 12345678901234567890", "exp: 2E+3", "z: -0.0",
            "K: letter", "\u{212A}: sign", "caf\u{E9}: nfc", "cafe\u{301}: nfd",
        ] {
            #expect(Self.containsBytes(yaml.stdout, literal), "-o yaml lost \(literal):\n\(yaml.stdout)")
        }
        // Both print the same document, which is the input plus the patch.
        let fromJSON = try Documents.parse(Data(json.stdout.utf8))
        let fromYAML = try Documents.parse(Data(yaml.stdout.utf8))
        #expect(fromJSON == fromYAML)
        let patch = try await Self.run(["mutate", "-o", "patch"] + flags, stdin: Data(pod.utf8))
        let applied = try JSONPatch(parsing: Data(patch.stdout.utf8)).apply(to: try LosslessJSON.parse(Data(pod.utf8)))
        #expect(applied == fromJSON)

        // YAML in: merge keys apply, YAML-only number spellings print as JSON spells them,
        // timestamps stay strings, and numbers JSON cannot hold are refused.
        let yamlPod = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: web
              namespace: shop
              labels: &base {team: a, K: letter}
              annotations:
                <<: *base
                team: b
            spec:
              serviceAccountName: checkout
              futureTuning: {hex: 0x1F, underscored: 1_000, plus: +5, half: .5, kept: 1.50, when: 2026-12-01}
              containers:
              - name: app
                image: nginx
            """
        let fromYAMLInput = try await Self.run(["mutate", "-o", "json"] + flags, stdin: Data(yamlPod.utf8))
        #expect(fromYAMLInput.status == 0, "\(fromYAMLInput.stderr)")
        let printed = try LosslessJSON.parse(Data(fromYAMLInput.stdout.utf8))
        #expect(printed["metadata"]?["annotations"] == ["K": "letter", "team": "b"])
        let tuning: LosslessJSON = [
            "hex": 31, "underscored": 1000, "plus": 5, "half": .number("0.5"), "kept": .number("1.50"),
            "when": "2026-12-01",
        ]
        #expect(printed["spec"]?["futureTuning"] == tuning)
        let infinite = try await Self.run(["mutate"] + flags, stdin: Data((yamlPod + "\n  x: .inf").utf8))
        #expect(infinite.status != 0)
        #expect(infinite.stderr.contains("JSON cannot represent"), "\(infinite.stderr)")
    }

    @Test(
        "bad input exits non-zero with a clear message on stderr and nothing on stdout",
        arguments: [
            ("not: [valid", "neither valid JSON nor valid YAML"),
            ("kind: Service\napiVersion: v1\n", "expected a Pod or an AdmissionReview"),
            ("", "input is empty"),
        ])
    func mutateBadInput(_ input: String, _ message: String) async throws {
        let output = try await Self.run(["mutate"], stdin: Data(input.utf8))
        #expect(output.status != 0)
        #expect(output.stderr.contains(message), "\(output.stderr)")
        #expect(output.stdout.isEmpty)
    }

    static let irsaServiceAccount = """
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: web
          namespace: shop
          annotations:
            eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/web
            eks.amazonaws.com/sts-regional-endpoints: "true"
        """

    static let irsaPod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web-0
          namespace: shop
        spec:
          serviceAccountName: web
          containers:
            - name: app
              image: nginx
        """

    static func irsaEnvironment(_ output: Output) throws -> [String: String] {
        let pod = try JSONValue.parse(Data(output.stdout.utf8))
        var environment: [String: String] = [:]
        if case .array(let containers)? = pod["spec"]?["containers"], case .array(let variables)? = containers.first?["env"] {
            for variable in variables {
                environment[variable["name"]?.stringValue ?? ""] = variable["value"]?.stringValue
            }
        }
        return environment
    }

    @Test("mutate applies ServiceAccounts given beside the pod: a YAML stream, a List, JSON; associations still win")
    func mutateWithServiceAccounts() async throws {
        let stream = Self.irsaServiceAccount + "\n---\n" + Self.irsaPod + "\n"
        let fromStream = try await Self.run(["mutate", "-o", "json"], stdin: Data(stream.utf8))
        #expect(fromStream.status == 0, "\(fromStream.stderr)")
        let environment = try Self.irsaEnvironment(fromStream)
        #expect(environment["AWS_ROLE_ARN"] == "arn:aws:iam::111122223333:role/web")
        #expect(environment["AWS_WEB_IDENTITY_TOKEN_FILE"] == "/var/run/secrets/eks.amazonaws.com/serviceaccount/token")
        #expect(environment["AWS_STS_REGIONAL_ENDPOINTS"] == "regional")
        #expect(environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == nil)

        let list = try Documents.parseAll(Data(stream.utf8))
        let listJSON = LosslessJSON.object([
            (key: "apiVersion", value: "v1"), (key: "kind", value: "List"), (key: "items", value: .array(list.reversed())),
        ])
        let fromList = try await Self.run(["mutate", "-o", "json"], stdin: listJSON.jsonData)
        #expect(fromList.status == 0, "\(fromList.stderr)")
        #expect(try Self.irsaEnvironment(fromList) == environment)

        // With an association for the same ServiceAccount, Pod Identity wins and the
        // ServiceAccount's sts-regional-endpoints still applies.
        let associated = try await Self.run(
            ["mutate", "-o", "json", "--association", "shop/web"], stdin: Data(stream.utf8))
        let podIdentity = try Self.irsaEnvironment(associated)
        #expect(podIdentity["AWS_ROLE_ARN"] == nil)
        #expect(podIdentity["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != nil)
        #expect(podIdentity["AWS_STS_REGIONAL_ENDPOINTS"] == "regional")

        // Two pods are one too many.
        let twoPods = try await Self.run(["mutate"], stdin: Data((Self.irsaPod + "\n---\n" + Self.irsaPod).utf8))
        #expect(twoPods.status != 0)
        #expect(twoPods.stderr.contains("expected one Pod or AdmissionReview"))
    }

    @Test("a missing file and a bad flag value are clear errors")
    func mutateBadArguments() async throws {
        let missing = try await Self.run(["mutate", "/nonexistent/pod.yaml"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read /nonexistent/pod.yaml"))
        let badAssociation = try await Self.run(["mutate", "--association", "nope"], stdin: Data(Self.podYAML.utf8))
        #expect(badAssociation.status != 0)
        #expect(badAssociation.stderr.contains("is not NAMESPACE/SERVICEACCOUNT"))
        let badExpiration = try await Self.run(
            ["mutate", "--token-expiration", "100000"], stdin: Data(Self.podYAML.utf8))
        #expect(badExpiration.status != 0)
        #expect(badExpiration.stderr.contains("--token-expiration must be between 600 and 86400"))
    }

    @Test("boolean flags take --name, --name=true and --name=false; the environment fills what flags leave out")
    func booleanFlagsAndEnvironment() async throws {
        func env(_ arguments: [String], _ environment: [String: String] = [:]) async throws -> [String] {
            let output = try await Self.run(
                ["mutate", "-o", "json"] + arguments, stdin: Data(Self.podYAML.utf8), environment: environment)
            #expect(output.status == 0, "\(output.stderr)")
            guard
                case .array(let env)? = try JSONValue.parse(Data(output.stdout.utf8))["spec"]?["containers"]?
                    .firstElement?["env"]
            else {
                return []
            }
            return env.compactMap { $0["name"]?.stringValue }
        }
        #expect(try await env(["--sts-regional-endpoint"]).contains("AWS_STS_REGIONAL_ENDPOINTS"))
        #expect(try await env(["--sts-regional-endpoint=true"]).contains("AWS_STS_REGIONAL_ENDPOINTS"))
        #expect(!(try await env(["--sts-regional-endpoint=false"]).contains("AWS_STS_REGIONAL_ENDPOINTS")))
        #expect(
            try await env([], ["POD_IDENTITY_WEBHOOK_STS_REGIONAL_ENDPOINT": "true"]).contains(
                "AWS_STS_REGIONAL_ENDPOINTS"))
        #expect(
            !(try await env(["--sts-regional-endpoint=false"], ["POD_IDENTITY_WEBHOOK_STS_REGIONAL_ENDPOINT": "true"])
                .contains("AWS_STS_REGIONAL_ENDPOINTS")), "the command line wins")
        #expect(try await env([], ["POD_IDENTITY_WEBHOOK_AWS_DEFAULT_REGION": "ap-south-1"]).contains("AWS_REGION"))
        let jitterOff = try await Self.run(
            ["mutate", "-o", "json"], stdin: Data(Self.podYAML.utf8),
            environment: [
                "POD_IDENTITY_WEBHOOK_TOKEN_EXPIRATION_JITTER": "false",
                "POD_IDENTITY_WEBHOOK_TOKEN_EXPIRATION": "3600",
            ])
        #expect(jitterOff.stdout.contains("\"expirationSeconds\": 3600"))
    }

    @Test("serve accepts the reference's flags: those that mean something here, and the rest with a warning")
    func referenceFlags() async throws {
        let output = try await Self.run([
            "--in-cluster=false", "--kubeconfig", "/tmp/kc", "--namespace=eks", "--annotation-prefix",
            "eks.amazonaws.com", "--token-audience", "sts.amazonaws.com",
            "--token-expiration=86400", "--sts-regional-endpoint=false", "--port=8443", "--version",
        ])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains(PodIdentityVersion.current))
        for flag in ["in-cluster", "namespace"] {
            #expect(output.stderr.contains("--\(flag) of the reference webhook has no effect"))
        }
        #expect(!output.stderr.contains("--kubeconfig of the reference webhook"))
        // IRSA's flags mean something here now.
        for flag in ["annotation-prefix", "token-audience"] {
            #expect(!output.stderr.contains("--\(flag) of the reference webhook"))
        }
    }

    @Test("environment values apply only to the subcommand that has the flag")
    func environmentPerSubcommand() async throws {
        let environment = ["POD_IDENTITY_WEBHOOK_LOG_LEVEL": "debug", "POD_IDENTITY_WEBHOOK_PORT": "1"]
        let version = try await Self.run(["version"], environment: environment)
        #expect(version.status == 0, "\(version.stderr)")
        #expect(version.stdout.hasPrefix("pod-identity-webhook "))
        let mutate = try await Self.run(["mutate", "-o", "patch"], stdin: Data(Self.podYAML.utf8), environment: environment)
        #expect(mutate.status == 0, "\(mutate.stderr)")
        // serve does take them: a bad value for its own flag is reported as that flag's.
        let serve = try await Self.run(
            ["serve", "--dev", "--metrics-port", "0"], environment: ["POD_IDENTITY_WEBHOOK_LOG_LEVEL": "loud"])
        #expect(serve.status != 0)
        #expect(serve.stderr.contains("--log-level"))
    }

    @Test("the flag tables come from the commands' definitions; the reference's ignored flags are not ours")
    func flagTables() throws {
        let serve = try #require(CommandLineCompatibility.flags["serve"])
        #expect(serve.booleans.isSuperset(of: ["sts-regional-endpoint", "token-expiration-jitter", "dev"]))
        #expect(serve.options.isSuperset(of: ["port", "tls-cert", "cluster-name", "miss-lookup-rate", "association"]))
        let mutate = try #require(CommandLineCompatibility.flags["mutate"])
        #expect(!mutate.options.contains("log-level") && mutate.options.contains("output"))
        #expect(CommandLineCompatibility.flags["version"]?.options.isEmpty == true)
        for name in CommandLineCompatibility.ignoredReferenceFlags.keys {
            #expect(!serve.options.contains(name) && !serve.booleans.contains(name), "--\(name) is a real flag now")
        }
    }

    @Test("serve --help documents every flag and the environment variables")
    func serveHelp() async throws {
        let output = try await Self.run(["serve", "--help"])
        #expect(output.status == 0)
        for flag in [
            "--port", "--metrics-port", "--tls-cert", "--tls-key", "--tls-min-version", "--associations-file",
            "--association", "--container-credentials-audience", "--container-credentials-token-mount-path",
            "--container-credentials-token-volume-name", "--container-credentials-token-path",
            "--container-credentials-full-uri", "--token-expiration", "--token-expiration-jitter",
            "--aws-default-region",
            "--sts-regional-endpoint", "--log-format", "--log-level", "--dev", "--watch-container-credentials-config",
            "--enable-debugging-handlers", "--read-timeout", "--idle-timeout",
        ] {
            #expect(output.stdout.contains(flag), "\(flag) missing from serve --help")
        }
        #expect(output.stdout.contains("POD_IDENTITY_WEBHOOK_"))
    }

    @Test("serve without a certificate says what is missing and how to get going")
    func serveWithoutCertificate() async throws {
        let output = try await Self.run([
            "serve", "--tls-cert", "/nonexistent/tls.crt", "--tls-key", "/nonexistent/tls.key",
        ])
        #expect(output.status != 0)
        #expect(output.stderr.contains("cannot read --tls-cert /nonexistent/tls.crt"))
        #expect(output.stderr.contains("--dev"))
    }

    @Test("serve --dev prints a curl that works as pasted, raises the soft open-file limit, and SIGTERM stops it cleanly")
    func serveDev() async throws {
        let process = Process()
        // Started as container runtimes leave it: a soft nofile of 1,024 under a higher hard limit.
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [
            "-c", #"ulimit -Sn 1024 && ulimit -Hn 4096 && exec "$0" "$@""#, Self.binary,
            "serve", "--dev", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--log-format", "json",
        ]
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("piw-dev-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outFile) }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // Poll the output file: blocking reads would hold a thread the in-process servers need.
        var text = ""
        let deadline = ContinuousClock.now + .seconds(30)
        while !text.contains("Decode the patch"), process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            text = String(decoding: (try? Data(contentsOf: outFile)) ?? Data(), as: UTF8.self)
        }
        let curl = try #require(text.split(separator: "\n").first { $0.hasPrefix("curl ") }, "no curl in: \(text)")
        let limits = try String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)
        let openFiles = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = openFiles.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.count >= 5 && fields[3] == "4096" && fields[4] == "4096", "\(openFiles)")
        let answer = try await Self.runTool("/bin/bash", ["-c", String(curl)])
        #expect(answer.status == 0, "\(answer.stderr)")
        let review = try JSONValue.parse(Data(answer.stdout.utf8))
        #expect(review["response"]?["allowed"] == true)
        #expect(review["response"]?["patchType"] == "JSONPatch")
        process.terminate()  // SIGTERM
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(process.terminationStatus == 0)
    }
}

extension JSONValue {
    var firstElement: JSONValue? {
        if case .array(let items) = self { return items.first }
        return nil
    }
}

extension LosslessJSON {
    var firstElement: LosslessJSON? {
        if case .array(let items) = self { return items.first }
        return nil
    }
}
