import Foundation

/// What the webhook decided for one review; also the `decision` label of its metrics.
public enum ReviewDecision: String, Sendable, CaseIterable {
    /// A patch was returned.
    case mutated
    /// Associated, but the pod already had everything: no patch.
    case unchanged
    /// No association for the pod's service account: no patch.
    case notAssociated = "not-associated"
    /// Not a pod creation (another kind, operation or subresource): no patch.
    case ignored
    /// The pod could not be decoded: allowed with a warning, or the review itself was rejected.
    case error
}

/// The credential path a pod was given; the reference's `pod_count{method}` label values.
public enum CredentialMethod: String, Sendable, CaseIterable {
    /// EKS Pod Identity (the reference's container-credentials mode).
    case podIdentity = "container_credentials"
    /// IRSA: a web identity token for the ServiceAccount's role.
    case irsa = "sts_web_identity"

    /// The audit annotation's spelling.
    public var auditName: String {
        switch self {
        case .podIdentity: "pod-identity"
        case .irsa: "irsa"
        }
    }
}

/// The answer to one review, ready to log and to encode.
public struct ReviewOutcome: Sendable {
    public var apiVersion: String
    public var kind: String
    public var uid: String
    public var decision: ReviewDecision
    public var patch: JSONPatch?
    public var warnings: [String] = []
    public var namespace: String = ""
    public var podName: String = ""
    public var serviceAccount: String = ""
    /// How a mutated (or unchanged) pod gets credentials.
    public var method: CredentialMethod?
    /// Why, in words for the audit log (`reason` of `auditAnnotations`). Never a secret: names,
    /// decisions and role ARNs only.
    public var reason = ""
    /// Where the decision's facts came from (`source` of `auditAnnotations`): the association
    /// source (`file`, `flags`, `eks-snapshot`, `eks-miss-lookup`, `eks-negative-cache`…), or
    /// `service-account` for IRSA. Empty when no lookup was made (not a pod creation).
    public var source = ""
    /// Set when the association lookup could not answer, so the pod was treated as not
    /// associated although it may have an association (`association-lookup`).
    public var lookupProblem: AssociationLookup.Problem?

    /// The response's `auditAnnotations`: the API server writes them to the audit log under
    /// the webhook's name (`pod-identity-webhook.amazonaws.com/decision`…), where operators
    /// already look. Keys and texts are documented in the README.
    public var auditAnnotations: [(key: String, value: String)] {
        var annotations: [(key: String, value: String)] = []
        annotations.reserveCapacity(5)
        annotations.append((key: "decision", value: decision.rawValue))
        if let method { annotations.append((key: "method", value: method.auditName)) }
        if !source.isEmpty { annotations.append((key: "source", value: source)) }
        if let lookupProblem { annotations.append((key: "association-lookup", value: lookupProblem.auditValue)) }
        if !reason.isEmpty { annotations.append((key: "reason", value: reason)) }
        return annotations
    }

    /// The `AdmissionReview` response JSON, echoing the request's `apiVersion` and `kind`.
    public var responseBody: Data {
        var out: [UInt8] = []
        out.reserveCapacity(256 + (patch?.operations.count ?? 0) * 400)
        out.append(contentsOf: #"{"apiVersion":"#.utf8)
        JSONValue.writeString(apiVersion, to: &out)
        out.append(contentsOf: #","kind":"#.utf8)
        JSONValue.writeString(kind, to: &out)
        out.append(contentsOf: #","response":{"uid":"#.utf8)
        JSONValue.writeString(uid, to: &out)
        out.append(contentsOf: #","allowed":true"#.utf8)
        out.append(contentsOf: #","auditAnnotations":{"#.utf8)
        for (index, annotation) in auditAnnotations.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(annotation.key, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONValue.writeString(annotation.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        if let patch, !patch.isEmpty {
            out.append(contentsOf: #","patchType":"JSONPatch","patch":""#.utf8)
            out.append(contentsOf: Data(patch.jsonBytes).base64EncodedData())
            out.append(UInt8(ascii: "\""))
        }
        if !warnings.isEmpty {
            out.append(contentsOf: #","warnings":"#.utf8)
            JSONValue.array(warnings.map(JSONValue.string)).write(to: &out)
        }
        out.append(contentsOf: "}}".utf8)
        return Data(out)
    }
}

/// A review that cannot be answered with an `AdmissionReview` at all (HTTP 400).
public struct ReviewDecodingError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Turns a request body into an outcome: decode, check the kind, look the service account
/// up, mutate. The lookup is async so a source may wait (bounded) on a cache miss.
public struct AdmissionReviewer: Sendable {
    public let mutator: PodMutator

    public init(mutator: PodMutator) {
        self.mutator = mutator
    }

    /// Decodes an `AdmissionReview` body, or says precisely why it is not one.
    public static func decode(_ body: Data) throws(ReviewDecodingError) -> AdmissionReview {
        guard !body.isEmpty else { throw ReviewDecodingError("empty body: expected an AdmissionReview JSON object") }
        if let review = body.withUnsafeBytes({ FastReviewDecoder.decode($0.bindMemory(to: UInt8.self)) }) {
            return try check(review)
        }
        return try check(decodeWithFoundation(body))
    }

    /// The reference decoding, and the source of every decoding error message.
    static func decodeWithFoundation(_ body: Data) throws(ReviewDecodingError) -> AdmissionReview {
        do {
            var review = try JSONDecoder().decode(AdmissionReview.self, from: body)
            rereadStringMaps(of: &review, from: body)
            return review
        } catch let error as DecodingError {
            switch error {
            case .dataCorrupted(let context) where context.codingPath.isEmpty:
                throw ReviewDecodingError("body is not valid JSON: \(context.debugDescription)")
            case .typeMismatch(_, let context) where context.codingPath.isEmpty:
                throw ReviewDecodingError("body is JSON but not an object: expected an AdmissionReview")
            default:
                throw ReviewDecodingError("not an AdmissionReview: \(PodPayload.describe(error))")
            }
        } catch {
            throw ReviewDecodingError("body is not valid JSON")
        }
    }

    /// `JSONDecoder` reads every object into a `Dictionary`, which merges keys that are only
    /// canonically equivalent, so the pod's labels, annotations and nodeSelector are read again
    /// from the bytes with every key as given: those of the objects `JSONDecoder` read (the
    /// first of a repeated key, none of which has a canonically equivalent spelling).
    static func rereadStringMaps(of review: inout AdmissionReview, from body: Data) {
        guard var pod = review.request?.object?.pod,
            pod.metadata?.labels != nil || pod.metadata?.annotations != nil || pod.spec?.nodeSelector != nil,
            let object = (try? LosslessJSON.parse(body))?.first("request")?.first("object")
        else { return }
        let metadata = object.first("metadata"), spec = object.first("spec")
        if pod.metadata?.labels != nil, let labels = metadata?.first("labels")?.stringMap {
            pod.metadata?.labels = labels
        }
        if pod.metadata?.annotations != nil, let annotations = metadata?.first("annotations")?.stringMap {
            pod.metadata?.annotations = annotations
        }
        if pod.spec?.nodeSelector != nil, let nodeSelector = spec?.first("nodeSelector")?.stringMap {
            pod.spec?.nodeSelector = nodeSelector
        }
        review.request?.object = PodPayload(pod: pod)
    }

    private static func check(_ review: AdmissionReview) throws(ReviewDecodingError) -> AdmissionReview {
        guard review.kind == "AdmissionReview" else {
            throw ReviewDecodingError(
                "kind is \(review.kind.map { "\"\($0)\"" } ?? "missing"), expected \"AdmissionReview\"")
        }
        guard let apiVersion = review.apiVersion, AdmissionReview.supportedAPIVersions.contains(apiVersion) else {
            throw ReviewDecodingError(
                "apiVersion \(review.apiVersion.map { "\"\($0)\"" } ?? "missing") is not supported, expected one of "
                    + AdmissionReview.supportedAPIVersions.joined(separator: ", "))
        }
        guard review.request != nil else { throw ReviewDecodingError("the AdmissionReview has no request") }
        return review
    }

    /// The service account a pod runs as: `serviceAccountName`, else the deprecated
    /// `serviceAccount`, else `default`.
    public static func serviceAccountRef(of pod: Pod, requestNamespace: String?) -> ServiceAccountRef {
        let namespace = [requestNamespace, pod.metadata?.namespace].compactMap { $0 }.first { !$0.isEmpty } ?? ""
        let name = [pod.spec?.serviceAccountName, pod.spec?.serviceAccount].compactMap { $0 }.first { !$0.isEmpty }
        return ServiceAccountRef(namespace: namespace, name: name ?? "default")
    }

    /// Answers one review body. `association` is the association source's answer for the
    /// pod's service account (with where it came from, and whether the lookup failed).
    public func review(
        _ body: Data, association: (ServiceAccountRef) async -> AssociationLookup,
        serviceAccount: (ServiceAccountRef, _ waitIfMissing: Bool) async -> ServiceAccountInfo? = { _, _ in nil }
    ) async throws(ReviewDecodingError) -> ReviewOutcome {
        let review = try AdmissionReviewer.decode(body)
        return await answer(review, association: association, serviceAccount: serviceAccount)
    }

    /// Answers a decoded review; `decode` guarantees it has a request.
    func answer(
        _ review: AdmissionReview, association: (ServiceAccountRef) async -> AssociationLookup,
        serviceAccount: (ServiceAccountRef, _ waitIfMissing: Bool) async -> ServiceAccountInfo?
    ) async -> ReviewOutcome {
        guard let request = review.request else {
            return ReviewOutcome(
                apiVersion: review.apiVersion ?? "admission.k8s.io/v1", kind: review.kind ?? "AdmissionReview",
                uid: "", decision: .error, namespace: "")
        }
        var outcome = ReviewOutcome(
            apiVersion: review.apiVersion ?? "admission.k8s.io/v1", kind: review.kind ?? "AdmissionReview",
            uid: request.uid, decision: .ignored, namespace: request.namespace ?? "")
        guard request.isPodCreation else {
            outcome.reason = AdmissionReviewer.whyIgnored(request)
            return outcome
        }
        guard let pod = request.object?.pod else {
            outcome.decision = .error
            outcome.reason = "the pod could not be decoded; it starts without credentials"
            outcome.warnings = [
                "pod-identity-webhook: pod not mutated, its object could not be decoded: "
                    + (request.object?.problem ?? "the request has no object")
            ]
            return outcome
        }
        let ref = AdmissionReviewer.serviceAccountRef(of: pod, requestNamespace: request.namespace)
        outcome.namespace = ref.namespace
        outcome.serviceAccount = ref.name
        outcome.podName = pod.displayName
        // Pod Identity first, as AWS states ("gives preference to EKS Pod Identity over IRSA").
        // Its ServiceAccount is consulted as the cache has it (no wait); only a pod that may
        // need IRSA waits, bounded, for a ServiceAccount the cache has not seen yet.
        let mode: PodIdentityMode?
        let lookup = await association(ref)
        outcome.source = lookup.source.rawValue
        outcome.lookupProblem = lookup.problem
        if lookup.found {
            mode = .podIdentity(await serviceAccount(ref, false))
            outcome.method = .podIdentity
            outcome.reason = "service account \(ref) has a Pod Identity association"
        } else if let account = await serviceAccount(ref, true), let roleARN = account.roleARN {
            mode = .irsa(account, roleARN: roleARN)
            outcome.method = .irsa
            outcome.source = AdmissionReviewer.serviceAccountSource
            outcome.reason = "service account \(ref) has no association; its role-arn annotation gives IRSA (\(roleARN))"
            if !ServiceAccountInfo.isIAMRoleARN(roleARN) {
                outcome.warnings.append(
                    "pod-identity-webhook: the role ARN of service account \(ref) does not look like an IAM role ARN "
                        + "(arn:aws:iam::ACCOUNT:role/NAME); injected as it is")
            }
        } else {
            mode = nil
            outcome.decision = .notAssociated
            outcome.reason =
                if let problem = lookup.problem {
                    "service account \(ref) is not in the EKS snapshot and the EKS miss lookup \(problem.words), "
                        + "so it is treated as not associated; it has no role-arn annotation either: "
                        + "the pod starts without credentials"
                } else {
                    "service account \(ref) has no Pod Identity association and no role-arn annotation"
                }
        }
        if let problem = lookup.problem {
            // The pod may have an association that could not be confirmed: say so where
            // `kubectl apply` prints it and in the audit log.
            if mode != nil {
                outcome.reason += "; the EKS miss lookup \(problem.words), so an association was not confirmed"
            }
            // Short: the API server may truncate a warning past 256 characters.
            outcome.warnings.append(
                "pod-identity-webhook: the EKS association lookup for service account \(ref) \(problem.words); "
                    + (outcome.method == .irsa
                        ? "the pod gets IRSA from its role-arn annotation instead"
                        : "the pod starts without AWS credentials")
                    + " (if it has a Pod Identity association, recreate the pod)")
        }
        guard let mode else { return outcome }
        let operations = mutator.patch(for: pod, mode: mode)
        if operations.isEmpty {
            outcome.decision = .unchanged
            outcome.reason += "; every container already has what it needs (or is skipped)"
        } else {
            outcome.decision = .mutated
            outcome.patch = JSONPatch(operations)
        }
        mutator.addWarnings(for: pod, mode: mode, to: &outcome.warnings)
        outcome.warnings += mutator.proxyBypass(for: pod, mode: mode).warnings
        return outcome
    }

    /// The audit `source` of an IRSA decision: the ServiceAccount's role-arn annotation.
    public static let serviceAccountSource = "service-account"

    /// Why a request is not a pod creation, for the audit log.
    static func whyIgnored(_ request: AdmissionRequest) -> String {
        if let subResource = request.subResource, !subResource.isEmpty {
            return "subresource \(subResource) is not mutated"
        }
        if request.kind?.kind != "Pod" || !(request.kind?.group ?? "").isEmpty {
            return "kind \(request.kind?.kind ?? "unknown") is not mutated"
        }
        return "operation \(request.operation ?? "unknown") is not mutated (only CREATE)"
    }
}
