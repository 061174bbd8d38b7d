import Foundation
import PodIdentityCore

/// The offline `mutate` command's logic: a Pod or an AdmissionReview in, the same decision
/// the server would make out, with the mutated pod.
public struct OfflineMutation: Sendable {
    public let reviewer: AdmissionReviewer
    public let associations: AssociationSnapshot?
    public let serviceAccounts: [ServiceAccountRef: ServiceAccountInfo]

    /// `associations` nil means "treat the pod's own service account as associated".
    /// `serviceAccounts` are the ServiceAccounts given beside the pod, applied as a watched
    /// one would be (IRSA, and their overrides in both modes).
    public init(
        settings: MutationSettings, associations: AssociationSnapshot?, serviceAccounts: [ServiceAccountInfo] = [],
        random: any RandomSource = SystemRandomSource()
    ) {
        reviewer = AdmissionReviewer(mutator: PodMutator(settings: settings, random: random))
        self.associations = associations
        self.serviceAccounts = Dictionary(serviceAccounts.map { ($0.ref, $0) }) { _, last in last }
    }

    /// The ServiceAccount objects among `documents`, read with `prefix`; the rest, in order.
    /// Annotation keys are compared byte for byte, as on a watched ServiceAccount.
    public static func splitServiceAccounts(
        _ documents: [LosslessJSON], prefix: String, namespace: String?
    ) -> (serviceAccounts: [ServiceAccountInfo], others: [LosslessJSON]) {
        var accounts: [ServiceAccountInfo] = [], others: [LosslessJSON] = []
        for document in documents {
            guard document["kind"]?.stringValue == "ServiceAccount", let name = document["metadata"]?["name"]?.stringValue
            else {
                others.append(document)
                continue
            }
            let ref = ServiceAccountRef(
                namespace: document["metadata"]?["namespace"]?.stringValue ?? namespace ?? "default", name: name)
            var annotations: [(key: String, value: String)] = []
            if case .object(let members)? = document["metadata"]?["annotations"] {
                for member in members {
                    if let text = member.value.stringValue { annotations.append((member.key, text)) }
                }
            }
            accounts.append(ServiceAccountInfo(ref: ref, annotations: annotations, prefix: prefix))
        }
        return (accounts, others)
    }

    public struct Result: Sendable {
        public var outcome: ReviewOutcome
        /// The pod as it was given.
        public var pod: LosslessJSON
        /// The pod after the patch (the same pod when there is none): every key and number of
        /// the input as it came, with what the patch adds.
        public var mutatedPod: LosslessJSON
        public var patch: JSONPatch { outcome.patch ?? JSONPatch([]) }
    }

    /// Mutates a Pod document, or the Pod inside an AdmissionReview document.
    /// `namespace` is used when the document does not say (a Pod without metadata.namespace).
    /// The reviewer reads the pod's own bytes (keys and numbers as given), and the patch is
    /// applied to the document itself.
    public func run(_ document: LosslessJSON, namespace: String?) async throws(DocumentError) -> Result {
        let review: LosslessJSON
        let pod: LosslessJSON
        switch document["kind"]?.stringValue {
        case "AdmissionReview":
            // The members the reviewer's decoder reads: the first of a repeated key.
            guard let object = document.first("request")?.first("object") else {
                throw DocumentError("the AdmissionReview has no request.object")
            }
            review = document
            pod = object
        case "Pod":
            pod = document
            let podNamespace = namespace ?? document["metadata"]?["namespace"]?.stringValue ?? "default"
            review = [
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": [
                    "uid": "offline",
                    "kind": ["group": "", "version": "v1", "kind": "Pod"],
                    "resource": ["group": "", "version": "v1", "resource": "pods"],
                    "operation": "CREATE",
                    "namespace": .string(podNamespace),
                    "object": document,
                ],
            ]
        case let kind:
            throw DocumentError("expected a Pod or an AdmissionReview, got kind \(kind.map { "\"\($0)\"" } ?? "none")")
        }
        let associations = self.associations, serviceAccounts = self.serviceAccounts
        let outcome: ReviewOutcome
        do {
            outcome = try await reviewer.review(
                review.jsonData, association: { ref in .snapshot(associations?.contains(ref) ?? true, .flags) },
                serviceAccount: { ref, _ in serviceAccounts[ref] })
        } catch {
            throw DocumentError(error.description)
        }
        guard let patch = outcome.patch else {
            return Result(outcome: outcome, pod: pod, mutatedPod: pod)
        }
        do {
            return Result(outcome: outcome, pod: pod, mutatedPod: try patch.apply(to: pod))
        } catch {
            throw DocumentError("the patch does not apply to the pod: \(error)")
        }
    }
}
