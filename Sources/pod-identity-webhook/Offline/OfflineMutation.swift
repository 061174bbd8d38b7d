import Foundation
import PodIdentityCore

/// The offline `mutate` command's logic: a Pod or an AdmissionReview in, the same decision
/// the server would make out, with the mutated pod.
public struct OfflineMutation: Sendable {
    public let reviewer: AdmissionReviewer
    public let associations: AssociationSnapshot?

    /// `associations` nil means "treat the pod's own service account as associated".
    public init(
        settings: MutationSettings, associations: AssociationSnapshot?, random: any RandomSource = SystemRandomSource()
    ) {
        reviewer = AdmissionReviewer(mutator: PodMutator(settings: settings, random: random))
        self.associations = associations
    }

    public struct Result: Sendable {
        public var outcome: ReviewOutcome
        /// The pod as it was given.
        public var pod: JSONValue
        /// The pod after the patch (the same pod when there is none).
        public var mutatedPod: JSONValue
        public var patch: JSONPatch { outcome.patch ?? JSONPatch([]) }
    }

    /// Mutates a Pod document, or the Pod inside an AdmissionReview document.
    /// `namespace` is used when the document does not say (a Pod without metadata.namespace).
    public func run(_ document: JSONValue, namespace: String?) async throws(DocumentError) -> Result {
        let review: JSONValue
        let pod: JSONValue
        switch document["kind"]?.stringValue {
        case "AdmissionReview":
            guard let object = document["request"]?["object"] else {
                throw DocumentError("the AdmissionReview has no request.object")
            }
            review = document
            pod = object
        case "Pod":
            pod = document
            var request: [String: JSONValue] = [
                "uid": "offline",
                "kind": .object(["group": "", "version": "v1", "kind": "Pod"]),
                "resource": .object(["group": "", "version": "v1", "resource": "pods"]),
                "operation": "CREATE",
                "object": document,
            ]
            if let namespace = namespace ?? document["metadata"]?["namespace"]?.stringValue {
                request["namespace"] = .string(namespace)
            } else {
                request["namespace"] = "default"
            }
            review = .object([
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": .object(request),
            ])
        case let kind:
            throw DocumentError("expected a Pod or an AdmissionReview, got kind \(kind.map { "\"\($0)\"" } ?? "none")")
        }
        let associations = self.associations
        let outcome: ReviewOutcome
        do {
            outcome = try await reviewer.review(review.jsonData) { ref in
                associations?.contains(ref) ?? true
            }
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
