import Foundation
import PodIdentityCore
@testable import pod_identity_webhook
import Testing

/// Every fixture under Fixtures/mutation is one case: its review goes through the same
/// `AdmissionReviewer` the server uses, and the resulting pod must equal the fixture's
/// expected pod, by our patch applier and by the real `kubectl patch --local`.
@Suite("Mutation fixtures", .timeLimit(.minutes(5)))
struct MutationFixtureTests {
    struct Result {
        var outcome: ReviewOutcome
        var random: FixedRandomSource
    }

    static func review(_ fixture: Fixture) async throws -> Result {
        let random = FixedRandomSource(fixture.randomValue)
        let settings = try fixture.settings()
        let reviewer = AdmissionReviewer(mutator: PodMutator(settings: settings, random: random))
        let associations = fixture.associations
        let accounts = Dictionary(
            fixture.serviceAccounts(prefix: settings.annotationPrefix).map { ($0.ref, $0) }) { _, last in last }
        let outcome = try await reviewer.review(
            try fixture.reviewBody(), association: { .snapshot(associations.contains($0)) },
            serviceAccount: { ref, _ in accounts[ref] })
        return Result(outcome: outcome, random: random)
    }

    /// The surgical rule as a property: every operation is an `add` that appends to a list
    /// (`…/-`), inserts the token volume first (`/spec/volumes/0`), or creates a member the
    /// input does not have, under a parent it does have. Never a replace, never an `add` onto
    /// an existing key (which RFC 6902 treats as a replace). The one exception is the label
    /// `eks.amazonaws.com/pod-identity`, which the webhook owns and sets to `enabled` whatever
    /// it held, as the reference does (fixture 42); and with `--proxy-bypass`, a `test`+`replace`
    /// pair appending to a NO_PROXY value (`isGuardedNoProxyEdit`).
    static func isSurgical(_ operation: PatchOperation, on pod: LosslessJSON) throws -> Bool {
        guard operation.op == .add else { return false }
        if operation.path == "/metadata/labels/eks.amazonaws.com~1pod-identity" { return true }
        let tokens = try JSONPointer.tokens(of: operation.path)
        guard let last = tokens.last else { return false }
        if last == "-" || operation.path == "/spec/volumes/0" { return true }
        var parent: LosslessJSON? = pod
        for token in tokens.dropLast() {
            switch parent {
            case .object?: parent = parent?[token]
            case .array(let items)?: parent = Int(token).flatMap { items.indices.contains($0) ? items[$0] : nil }
            default: parent = nil
            }
        }
        guard case .object(let members)? = parent else { return false }
        return !members.contains { StringMap.sameBytes($0.key, last) }
    }

    @Test("scripts/check-fixtures.py: every fixture's shape, and every expected pod only adds to its input")
    func checkFixturesScript() async throws {
        let script = Tools.repositoryRoot.appendingPathComponent("scripts/check-fixtures.py").path
        let output = try await Tools.run(Tools.validatorPython, [script, "--no-schema"])
        #expect(output.status == 0, "\(String(decoding: output.stdout, as: UTF8.self).suffix(3000))\n\(output.stderr)")
    }

    @Test("there are enough fixtures to cover the contract")
    func fixtureCount() {
        #expect(Fixture.all.count >= 40)
    }

    @Test("the pod after the patch is the expected pod", arguments: Fixture.all)
    func resultingPod(_ fixture: Fixture) async throws {
        #expect(fixture.loadError == nil, "\(fixture.name) does not parse: \(fixture.loadError ?? "")")
        #expect(fixture.document["description"]?.stringValue?.isEmpty == false, "every fixture says what it proves")
        let result = try await Self.review(fixture)
        let outcome = result.outcome
        #expect(outcome.uid == "uid-\(fixture.name)")
        if fixture.expectedPatched {
            let patch = try #require(outcome.patch, "expected a patch: \(fixture.description)")
            #expect(outcome.decision == .mutated)
            let pod = try #require(fixture.pod)
            for (index, operation) in patch.operations.enumerated() {
                #expect(
                    try Self.isSurgical(operation, on: pod)
                        || Self.isGuardedNoProxyEdit(patch.operations, at: index, on: pod),
                    "\(fixture.name): \(operation.op) \(operation.path) is not an add to …/-, /spec/volumes/0 or an absent member")
            }
            let expected = try #require(fixture.expectedPod)
            let mutated = try patch.apply(to: pod)
            #expect(mutated == expected, "\(fixture.name): \(fixture.description)\nactual: \(mutated.jsonString)")
        } else {
            #expect(outcome.patch == nil, "expected no patch: \(fixture.description)")
            let expected = fixture.expectedDecision ?? (fixture.expectedWarning != nil ? "error" : nil)
            #expect(expected != nil, "\(fixture.name): a fixture without a patch says its expect.decision")
            #expect(
                outcome.decision.rawValue == expected,
                "\(fixture.name): decision \(outcome.decision.rawValue), expected \(expected ?? "-")")
        }
        if let warning = fixture.expectedWarning {
            #expect(outcome.warnings.contains { $0.contains(warning) }, "warnings: \(outcome.warnings)")
            // An unpatched fixture with a warning and no decision is a pod that did not decode.
            if !fixture.expectedPatched && fixture.expectedDecision == nil { #expect(outcome.decision == .error) }
        } else {
            #expect(outcome.warnings.isEmpty)
        }
        for range in result.random.requestedRanges {
            #expect(range == MutationSettings.jitterFloor...MutationSettings.maximumTokenExpiration)
        }
    }

    @Test("mutate (the offline path, ServiceAccounts given beside the pod) gives the same pod and decision",
        arguments: Fixture.all.filter { $0.pod != nil })
    func offlineAgrees(_ fixture: Fixture) async throws {
        let settings = try fixture.settings()
        let mutation = OfflineMutation(
            settings: settings, associations: fixture.associations,
            serviceAccounts: fixture.serviceAccounts(prefix: settings.annotationPrefix),
            random: FixedRandomSource(fixture.randomValue))
        let result = try await mutation.run(try LosslessJSON.parse(try fixture.reviewBody()), namespace: nil)
        let expected = try #require(fixture.expectedPatched ? fixture.expectedPod : fixture.pod)
        #expect(result.mutatedPod == expected)
        #expect(result.outcome.decision == (try await Self.review(fixture)).outcome.decision)
        // What `mutate -o json` and `-o yaml` print reads back as the expected pod, every key
        // and every number literal as the fixture spells it.
        let json = Documents.prettyJSON(result.mutatedPod)
        #expect(try Documents.parse(Data(json.utf8)) == expected, "\(fixture.name): -o json printed\n\(json)")
        let yaml = try Documents.yaml(result.mutatedPod)
        #expect(try Documents.parse(Data(yaml.utf8)) == expected, "\(fixture.name): -o yaml printed\n\(yaml)")
    }

    @Test("kubectl patch --local gives the same pod", arguments: Fixture.all.filter(\.expectedPatched))
    func kubectlAgrees(_ fixture: Fixture) async throws {
        let outcome = try await Self.review(fixture).outcome
        let patch = try #require(outcome.patch)
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let podFile = directory.appendingPathComponent("pod.json"),
            patchFile = directory.appendingPathComponent("patch.json")
        try #require(fixture.pod).jsonData.write(to: podFile)
        try patch.jsonData.write(to: patchFile)
        let output = try await Tools.run(
            Tools.kubectl,
            ["patch", "--local", "-f", podFile.path, "--type=json", "--patch-file", patchFile.path, "-o", "json"])
        #expect(output.status == 0, "kubectl: \(output.stderr)")
        // kubectl rewrites number literals (it reads them into float64), so numbers are
        // compared by value here; keys and strings still byte for byte.
        let patched = try LosslessJSON.parse(output.stdout)
        let expected = try #require(fixture.expectedPod)
        #expect(patched.hasSameValues(as: expected), "\(fixture.name): kubectl's pod differs: \(patched.jsonString)")
    }

    @Test("every input and resulting pod is valid against the newest Kubernetes schema, strictly")
    func schemaValid() async throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var allowed: [String: Set<String>] = [:]
        for fixture in Fixture.all {
            var pods: [(String, LosslessJSON)] = []
            if let pod = fixture.pod { pods.append(("input", pod)) }
            if let expected = fixture.expectedPod { pods.append(("expected", expected)) }
            if fixture.expectedPatched, let pod = fixture.pod, let patch = try await Self.review(fixture).outcome.patch
            {
                pods.append(("mutated", try patch.apply(to: pod)))
            }
            for (role, pod) in pods {
                let file = directory.appendingPathComponent("\(fixture.name)-\(role).json")
                try pod.jsonData.write(to: file)
                allowed[file.path] = fixture.unknownFields
            }
        }
        let script = Tools.repositoryRoot.appendingPathComponent("scripts/validate-objects.py").path
        let output = try await Tools.run(Tools.validatorPython, [script] + allowed.keys.sorted())
        #expect(output.status == 0, "validator: \(output.stderr)")
        let lines = String(decoding: output.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == allowed.count)
        for line in lines {
            let report = try JSONValue.parse(Data(line.utf8))
            let file = try #require(report["file"]?.stringValue)
            #expect(report["error"] == .null, "\(file): \(report["error"]?.jsonString ?? "")")
            guard case .array(let unknown)? = report["unknown"] else { continue }
            let found = Set(unknown.compactMap(\.stringValue))
            #expect(found == allowed[file], "\(file): unknown fields \(found), declared \(allowed[file] ?? [])")
            #expect(report["version"]?.stringValue?.hasPrefix("1.") == true)
        }
    }
}
