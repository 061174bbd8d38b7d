import Foundation
import PodIdentityTestSupport
import Testing

/// `scripts/verify-in-cluster.sh` without a cluster: its guard, and a full run against a
/// stand-in `kubectl` whose server-side dry runs go through the real `pod-identity-webhook mutate`.
/// Also shellcheck over the deployment scripts.
@Suite("scripts/verify-in-cluster.sh", .serialized, .timeLimit(.minutes(5)))
struct VerifyScriptTests {
    static let script = CommandLineTests.repositoryRoot.appendingPathComponent("scripts/verify-in-cluster.sh").path

    /// Answers what the script asks, like an API server with the chart installed (file source):
    /// the ConfigMap patches land in `$FAKE_KUBECTL_STATE/associations.yaml`, and dry runs are
    /// mutated with that file, except pods carrying the skip label (the chart's objectSelector).
    /// `FAKE_KUBECTL_IGNORE=1` makes it a webhook that never sees the association. `get --raw`
    /// (the service proxy to `/debug/explain`) answers as the webhook would for a pair it does
    /// not know, echoing the pair of the query.
    static let standInKubectl = #"""
        #!/usr/bin/env bash
        set -euo pipefail
        state="${FAKE_KUBECTL_STATE:?}"
        printf '%s\n' "$*" >>"${state}/calls"
        case " $* " in
          *" config get-contexts "*) echo fake ;;
          *" get mutatingwebhookconfigurations "*)
            printf '%s\n' '{"items":[{"metadata":{"name":"pod-identity-webhook"},"webhooks":[{"name":"pod-identity.eks.amazonaws.com","failurePolicy":"Ignore","clientConfig":{"caBundle":"eA==","service":{"name":"pod-identity-webhook","namespace":"pod-identity-webhook","port":443}}}]}]}' ;;
          *" get deployments "*) echo '{"items":[]}' ;;
          *" get namespace "*) exit 1 ;;
          *" get configmaps "*)
            printf '%s\n' '{"kind":"List","items":[{"kind":"ConfigMap","metadata":{"name":"pod-identity-webhook-associations"},"data":{"associations.yaml":"- namespace: shop\n  serviceAccount: checkout\n"}}]}' ;;
          *" patch configmap "*)
            while [ $# -gt 0 ] && [ "$1" != "--patch-file" ]; do shift; done
            python3 -c 'import json, sys; open(sys.argv[2], "w").write(json.load(open(sys.argv[1]))["data"]["associations.yaml"])' \
              "$2" "${state}/associations.yaml" ;;
          *" get --raw "*)
            path="${*: -1}"
            account="${path##*serviceAccount=}"
            pair="${path##*namespace=}"
            pair="${pair%%&*}/${account}"
            printf '{"associated":false,"reason":"%s is not in the snapshot","source":"file:/etc/associations.yaml","wouldDo":"not-associated"}\n' "$pair" ;;
          *" --dry-run=server "*)
            pod="$(cat)"
            if [ -n "${FAKE_KUBECTL_IGNORE:-}" ] || [[ "$pod" == *skip-pod-identity-webhook* ]] || [ ! -f "${state}/associations.yaml" ]; then
              printf '%s' "$pod"
            else
              printf '%s' "$pod" | "${FAKE_WEBHOOK:?}" mutate - -o json --associations-file "${state}/associations.yaml"
            fi ;;
          *) ;;
        esac
        """#

    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("piw-verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Writes an executable `kubectl` into `directory/bin` and returns that folder.
    static func installKubectl(_ text: String, in directory: URL) async throws -> URL {
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let kubectl = bin.appendingPathComponent("kubectl")
        try Data(text.utf8).write(to: kubectl)
        let chmod = try await ChildProcess.run(ChildProcess.which("chmod") ?? "/bin/chmod", ["755", kubectl.path])
        guard chmod.status == 0 else { throw CertsScriptTests.ToolError(description: chmod.standardError) }
        return bin
    }

    /// The test's environment without any context or webhook setting, with `bin` first on PATH.
    static func environment(bin: URL) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter {
            $0.key != "KUBE_CONTEXT" && !$0.key.hasPrefix("POD_IDENTITY_WEBHOOK_")
        }
        environment["PATH"] = "\(bin.path):\(environment["PATH"] ?? "/usr/bin:/bin")"
        return environment
    }

    @Test("every shell script of the project passes shellcheck")
    func shellcheck() async throws {
        let shellcheck = try #require(
            ChildProcess.which("shellcheck"), "shellcheck is not installed: scripts/test.sh installs it (apt)")
        let root = CommandLineTests.repositoryRoot
        var scripts = [".ci/run"]
        for directory in ["certs", "scripts", "scripts/bench", "image"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(directory).path)
            scripts += names.filter { $0.hasSuffix(".sh") }.sorted().map { "\(directory)/\($0)" }
        }
        #expect(scripts.count >= 8)
        let output = try await ChildProcess.run(shellcheck, scripts.map { root.appendingPathComponent($0).path })
        #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
    }

    @Test("without a context it exits non-zero with a clear message and never runs kubectl")
    func noContext() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let calls = directory.appendingPathComponent("calls")
        let bin = try await Self.installKubectl(
            "#!/usr/bin/env bash\nprintf '%s\\n' \"$*\" >>'\(calls.path)'\n", in: directory)
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        _ = FileManager.default.createFile(atPath: kubeconfig.path, contents: Data())
        var environment = Self.environment(bin: bin)
        environment["KUBECONFIG"] = kubeconfig.path

        let output = try await ChildProcess.run(Self.script, [], environment: environment)
        #expect(output.status != 0)
        #expect(
            output.standardError.contains("no kube context given: pass --context CTX (or set KUBE_CONTEXT)"),
            "\(output.standardError)")
        #expect(!FileManager.default.fileExists(atPath: calls.path), "kubectl ran: \(CertsScriptTests.text(of: calls))")

        let badSource = try await ChildProcess.run(
            Self.script, ["--context", "fake", "--source", "dynamo"], environment: environment)
        #expect(badSource.status != 0)
        #expect(badSource.standardError.contains("--source must be file or eks"), "\(badSource.standardError)")
        #expect(!FileManager.default.fileExists(atPath: calls.path))
    }

    @Test("against a stand-in cluster: PASS when the webhook mutates, FAIL when it does not; the ConfigMap is put back")
    func standInCluster() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = directory.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let bin = try await Self.installKubectl(Self.standInKubectl, in: directory)
        var environment = Self.environment(bin: bin)
        environment["FAKE_KUBECTL_STATE"] = state.path
        environment["FAKE_WEBHOOK"] = CommandLineTests.binary

        let passing = try await ChildProcess.run(
            Self.script, ["--context", "fake", "--timeout", "0"], environment: environment)
        let report = passing.standardOutput
        #expect(passing.status == 0, "\(report)\(passing.standardError)")
        for line in [
            "PASS pod with an associated service account is mutated",
            "PASS   label eks.amazonaws.com/pod-identity=enabled",
            "PASS   projected volume eks-pod-identity-token (audience pods.eks.amazonaws.com",
            "PASS   container app: AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials",
            "PASS   container init: AWS_CONTAINER_CREDENTIALS_FULL_URI=",
            "PASS pod labelled eks.amazonaws.com/skip-pod-identity-webhook is untouched",
            "PASS pod with an unassociated service account (piw-unassociated) is untouched",
            "PASS all 7 checks (context fake)",
        ] {
            #expect(report.contains(line), "\(line) missing from:\n\(report)")
        }
        #expect(!report.contains("FAIL"))
        #expect(!report.contains("/debug/explain"), "explained only after a failed check")
        let restored = CertsScriptTests.text(of: state.appendingPathComponent("associations.yaml"))
        #expect(restored == "- namespace: shop\n  serviceAccount: checkout\n", "the chart's list is back")
        let calls = CertsScriptTests.text(of: state.appendingPathComponent("calls")).split(separator: "\n")
        #expect(calls.contains("--context fake delete namespace piw-verify --wait=false"))
        #expect(
            calls.allSatisfy { $0.hasPrefix("--context fake ") || $0.hasPrefix("config get-contexts") },
            "every request names the context: \(calls)")

        environment["FAKE_KUBECTL_IGNORE"] = "1"
        let failing = try await ChildProcess.run(
            Self.script, ["--context", "fake", "--timeout", "0"], environment: environment)
        #expect(failing.status != 0)
        #expect(
            failing.standardOutput.contains("FAIL pod with an associated service account was not mutated"),
            "\(failing.standardOutput)")
        #expect(failing.standardOutput.contains("FAIL 1 of 3 checks (context fake)"))
        // The failed check is followed by what the webhook says about the pod's pair.
        let explained = failing.standardOutput
        #expect(explained.contains("==> the webhook's /debug/explain for piw-verify/piw-associated:"), "\(explained)")
        #expect(explained.contains(#"    "reason": "piw-verify/piw-associated is not in the snapshot","#), "\(explained)")
        #expect(explained.contains(#"    "wouldDo": "not-associated""#))
        let failingCalls = CertsScriptTests.text(of: state.appendingPathComponent("calls")).split(separator: "\n")
        #expect(
            failingCalls.contains(
                "--context fake get --raw /api/v1/namespaces/pod-identity-webhook/services/"
                    + "http:pod-identity-webhook:metrics/proxy/debug/explain?namespace=piw-verify&serviceAccount=piw-associated"
            ), "\(failingCalls)")
    }
}
