import ArgumentParser
import Foundation
import PodIdentityCore
import PodIdentityFileSource

struct Mutate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mutate a Pod (YAML or JSON) or an AdmissionReview offline, as the webhook would.",
        discussion: """
            Prints the mutated pod (-o yaml, the default, or -o json) or only the JSON patch (-o patch), \
            which `kubectl patch --local --type=json --patch-file` applies. The decision goes to stderr. \
            ServiceAccount documents given with the pod (a multi-document YAML stream or a kind: List) are \
            applied as the webhook applies watched ones: a role-arn annotation gives IRSA unless the pod is \
            associated. Without --association, --associations-file or ServiceAccounts, the pod's own service \
            account counts as associated.
            """)

    @Argument(help: "The Pod or AdmissionReview file; - or nothing reads stdin.") var file = "-"
    @Option(help: "Namespace of a Pod that does not name one (default: default).") var namespace: String?
    @Option(name: [.short, .long], help: "Output: yaml, json or patch.") var output = Output.yaml

    @OptionGroup(title: "Associations") var associationOptions: AssociationOptions
    @OptionGroup(title: "Mutation") var mutationOptions: MutationOptions

    enum Output: String, ExpressibleByArgument, CaseIterable { case yaml, json, patch }

    func run() async throws {
        let settings = try mutationOptions.settings()
        var refs = try associationOptions.refs()
        var restricted = !refs.isEmpty
        if let path = associationOptions.associationsFile {
            do {
                refs += try AssociationFile.parse(try readInput(path))
            } catch let error as AssociationFileError {
                throw failure("\(path): \(error)")
            }
            restricted = true
        }
        let result: OfflineMutation.Result
        do {
            let documents = try Documents.parseAll(try readInput(file))
            let (serviceAccounts, others) = OfflineMutation.splitServiceAccounts(
                documents, prefix: settings.annotationPrefix, namespace: namespace)
            guard others.count == 1, let document = others.first else {
                throw DocumentError(
                    "expected one Pod or AdmissionReview (and any ServiceAccounts), got \(others.count) other objects")
            }
            // Without associations, the pod's own service account counts as associated,
            // unless ServiceAccounts were given: then they decide (IRSA) like watched ones.
            let mutation = OfflineMutation(
                settings: settings,
                associations: restricted || !serviceAccounts.isEmpty ? AssociationSnapshot(refs, source: "flags") : nil,
                serviceAccounts: serviceAccounts)
            result = try await mutation.run(document, namespace: namespace)
        } catch let error as DocumentError {
            throw failure("\(file == "-" ? "stdin" : file): \(error)")
        }
        let outcome = result.outcome
        var note = "\(outcome.namespace)/\(outcome.podName.isEmpty ? "(unnamed)" : outcome.podName)"
        note +=
            " service account \(outcome.serviceAccount.isEmpty ? "-" : outcome.serviceAccount): \(outcome.decision.rawValue)"
        if let patch = outcome.patch { note += " (\(patch.operations.count) operations)" }
        FileHandle.standardError.write(Data("pod-identity-webhook: \(note)\n".utf8))
        for warning in outcome.warnings {
            FileHandle.standardError.write(Data("pod-identity-webhook: warning: \(warning)\n".utf8))
        }
        switch output {
        case .patch: print(Documents.prettyJSON(try LosslessJSON.parse(result.patch.jsonData)), terminator: "")
        case .json: print(Documents.prettyJSON(result.mutatedPod), terminator: "")
        case .yaml: print(try Documents.yaml(result.mutatedPod), terminator: "")
        }
    }

    private func readInput(_ path: String) throws -> Data {
        if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw failure("cannot read \(path): \(error.localizedDescription)")
        }
    }

    private func failure(_ message: String) -> any Error {
        FileHandle.standardError.write(Data("pod-identity-webhook: error: \(message)\n".utf8))
        return ExitCode(2)
    }
}
