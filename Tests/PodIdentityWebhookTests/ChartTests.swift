import Foundation
import PodIdentityTestSupport
import Testing

/// The Helm chart, checked with Helm's own engine by `scripts/check-chart.py`: for the default
/// values and every file in `charts/pod-identity-webhook/ci/`, strict lint, a render, strict
/// validation of every object, and the chart's promises asserted on the parsed objects (the
/// container flags against this build's `serve --help`).
///
/// Needs `python3` with helm-python-sdk, kubernetes-validate and pyyaml (`scripts/test.sh` puts
/// such a `.venv` first on `PATH`; `$PYTHON` picks another interpreter), and `promtool` for the
/// alert rules and dashboard queries. Without them the tests fail, saying so: a chart nobody
/// rendered is not a passing chart.
@Suite("Helm chart", .timeLimit(.minutes(5)))
struct ChartTests {
    static let chart = CommandLineTests.repositoryRoot.appendingPathComponent("charts/pod-identity-webhook")
    static let checker = CommandLineTests.repositoryRoot.appendingPathComponent("scripts/check-chart.py").path
    static let readmeGenerator = CommandLineTests.repositoryRoot.appendingPathComponent("scripts/chart-readme.py").path

    /// "default" (the chart's own values), then `ci/NAME` for every values file in `ci/`.
    static let valuesFiles: [String] = {
        let directory = ChartTests.chart.appendingPathComponent("ci").path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return ["default"] + names.filter { $0.hasSuffix(".yaml") }.sorted().map { "ci/\($0)" }
    }()

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs a Python script of the repository with `$PYTHON`, else `python3` from `PATH`.
    static func runPython(_ script: String, _ arguments: [String]) async throws -> CommandLineTests.Output {
        guard let python = ProcessInfo.processInfo.environment["PYTHON"] ?? ChildProcess.which("python3") else {
            throw SetupError(description: "python3 is not on PATH (scripts/test.sh sets up .venv with helm-python-sdk)")
        }
        return try await CommandLineTests.runTool(python, [script] + arguments)
    }

    /// The TLS mode and association source a values file name promises, as the checker prints
    /// them: `certs-eks-values.yaml` is "tls=certs associations=eks".
    static func promisedMode(_ name: String) -> String {
        guard name != "default" else { return "tls=certManager associations=file" }
        let parts = URL(fileURLWithPath: name).lastPathComponent.split(separator: "-")
        let tls = parts.first == "certmanager" ? "certManager" : String(parts.first ?? "")
        return "tls=\(tls) associations=\(parts.count > 1 ? String(parts[1]) : "")"
    }

    @Test(
        "ci/ holds one values file for each TLS mode with each association source, one following ServiceAccounts, and one with every monitoring object"
    )
    func valuesFilesCoverEveryMode() {
        let expected =
            ["certmanager", "secret", "certs"].flatMap { tls in
                ["eks", "file"].map { "ci/\(tls)-\($0)-values.yaml" }
            } + ["ci/certmanager-file-irsa-values.yaml", "ci/certmanager-eks-monitoring-values.yaml"]
        #expect(Set(Self.valuesFiles.dropFirst()) == Set(expected))
    }

    @Test(
        "lint is clean, every object validates strictly, and the chart's promises hold on the rendered objects",
        arguments: ChartTests.valuesFiles)
    func renderedChart(_ name: String) async throws {
        let argument = name == "default" ? name : Self.chart.appendingPathComponent(name).path
        let output = try await Self.runPython(Self.checker, ["--binary", CommandLineTests.binary, argument])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        let summary = output.stdout.split(separator: "\n").first { $0.hasPrefix("\(name): ") }.map(String.init)
        #expect(summary?.hasSuffix(": ok") == true, "\(output.stdout)\(output.stderr)")
        #expect(summary?.contains(": \(Self.promisedMode(name)): ") == true, "\(summary ?? output.stdout)")
        #expect(summary?.contains("validated") == true)
    }

    @Test("a misspelt value key fails schema validation with a message naming the key; bad combinations fail clearly")
    func misspeltKey() async throws {
        let output = try await Self.runPython(Self.checker, ["--bad-values"])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        // Helm's whole message, as the checker prints it (Python's repr: newlines as \n).
        let helmMessage =
            #""values don't meet the specifications of the schema(s) in the following chart(s):\n"#
            + #"pod-identity-webhook:\n- at '': additional properties 'replicaCont' not allowed""#
        #expect(output.stdout.contains(helmMessage), "\(output.stdout)")
        #expect(output.stdout.contains("- at '/tls': additional properties 'mod' not allowed"), "\(output.stdout)")
        #expect(output.stdout.contains("associations.eks.clusterName is required"), "\(output.stdout)")
    }

    @Test("the chart README's parameters table is the one values.yaml generates")
    func readmeIsCurrent() async throws {
        let output = try await Self.runPython(Self.readmeGenerator, ["--check"])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
    }
}

@Suite("Package manifest", .timeLimit(.minutes(1)))
struct PackageManifestTests {
    @Test("every target declares exactly the modules it imports (scripts/check-package-imports.py)")
    func importsMatchDeclarations() async throws {
        let script = Tools.repositoryRoot.appendingPathComponent("scripts/check-package-imports.py").path
        let output = try await Tools.run("/usr/bin/env", ["python3", script])
        #expect(output.status == 0, "\(String(decoding: output.stdout, as: UTF8.self))\(output.stderr)")
    }
}
