/// What an association source answered for one `(namespace, serviceAccount)`, and how it
/// knows: the review puts where the answer came from in its audit annotations, and a lookup
/// that could not answer (so the pod may start without the credentials it should get) in a
/// warning as well.
///
/// A plain value of enums and one optional string, so that answering costs nothing on the
/// hot path; the texts are built only when a review writes them.
public struct AssociationLookup: Sendable, Equatable {
    /// Where the answer came from; the raw value is the audit annotation's `source`.
    public enum Source: String, Sendable, CaseIterable {
        /// `--association NS/SA` flags (or `serve --dev`).
        case flags
        /// `--associations-file`.
        case file
        /// A source's snapshot, when the source says nothing more precise.
        case snapshot
        /// The EKS source's snapshot (the last full sync, plus earlier miss-lookup finds).
        case eksSnapshot = "eks-snapshot"
        /// The EKS miss lookup this review made or waited for.
        case eksMissLookup = "eks-miss-lookup"
        /// The EKS miss lookup's negative cache: EKS said "no association" moments ago.
        case eksNegativeCache = "eks-negative-cache"
    }

    /// Why the source could not give an answer it trusts: the pod is treated as not
    /// associated, although it may have an association.
    public enum Problem: Sendable, Equatable {
        /// The lookup did not answer within its timeout (`--miss-lookup-timeout`).
        case timedOut
        /// The lookup failed; the reason is short and holds no secret (an AWS error type
        /// such as `AccessDeniedException`, or a local kind such as `TransportError`).
        case failed(String)
        /// No lookup was made: over the lookup rate (`--miss-lookup-rate`).
        case rateLimited

        /// The audit annotation `association-lookup`.
        public var auditValue: String {
            switch self {
            case .timedOut: "timed-out"
            case .failed: "failed"
            case .rateLimited: "rate-limited"
            }
        }

        /// The words of a reason or a warning: "the EKS miss lookup …".
        public var words: String {
            switch self {
            case .timedOut: "timed out"
            case .failed(let reason): reason.isEmpty ? "failed" : "failed (\(reason))"
            case .rateLimited: "was not made (over the miss-lookup rate)"
            }
        }
    }

    /// Whether pods of the pair get Pod Identity.
    public var found: Bool
    public var source: Source
    /// Set when the answer is "not found" only because the source could not ask.
    public var problem: Problem?

    public init(found: Bool, source: Source, problem: Problem? = nil) {
        self.found = found
        self.source = source
        self.problem = problem
    }

    /// The answer of a source that only reads its snapshot.
    public static func snapshot(_ found: Bool, _ source: Source = .snapshot) -> AssociationLookup {
        AssociationLookup(found: found, source: source)
    }
}
