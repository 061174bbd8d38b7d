import Foundation
import PodIdentityCore
import Testing

/// What a review says beyond its patch: where the association answer came from, a lookup
/// that could not answer, and what is wrong with the pod's annotations or containers.
@Suite("Review warnings and association sources", .timeLimit(.minutes(5)))
struct ReviewWarningsTests {
    let reviewer = AdmissionReviewer(mutator: PodMutator(random: SystemRandomSource()))
    static let irsa = ServiceAccountInfo(
        ref: ServiceAccountRef(namespace: "ns", name: "web"), roleARN: "arn:aws:iam::111122223333:role/web")

    /// A pod of `ns/web` with `annotations` and the given containers (JSON texts).
    static func pod(
        annotations: [String: String] = [:], containers: [String] = [#"{"name":"app"}"#],
        initContainers: [String] = [], volumes: String? = nil
    ) -> Data {
        let annotationText =
            annotations.isEmpty
            ? ""
            : #","annotations":"# + JSONValue.object(annotations.mapValues(JSONValue.string)).jsonString
        var spec = #""serviceAccountName":"web","containers":[\#(containers.joined(separator: ","))]"#
        if !initContainers.isEmpty { spec += #","initContainers":[\#(initContainers.joined(separator: ","))]"# }
        if let volumes { spec += #","volumes":\#(volumes)"# }
        return AdmissionReviewerTests.body(object: #"{"metadata":{"name":"p"\#(annotationText)},"spec":{\#(spec)}}"#)
    }

    func review(
        _ body: Data, _ lookup: AssociationLookup, serviceAccount: ServiceAccountInfo? = nil
    ) async throws -> (outcome: ReviewOutcome, audit: [String: String], warnings: [String]) {
        let outcome = try await reviewer.review(
            body, association: { _ in lookup }, serviceAccount: { _, _ in serviceAccount })
        let response = try JSONValue.parse(outcome.responseBody)["response"]
        var warnings: [String] = []
        if case .array(let items)? = response?["warnings"] { warnings = items.compactMap(\.stringValue) }
        #expect(warnings == outcome.warnings)
        #expect(response?["allowed"] == true)
        return (outcome, try AdmissionReviewerTests.annotations(outcome), warnings)
    }

    // MARK: Where the answer came from

    @Test(
        "the audit annotation source says where the association came from",
        arguments: [
            (AssociationLookup(found: true, source: .file), "file"),
            (AssociationLookup(found: true, source: .flags), "flags"),
            (AssociationLookup(found: true, source: .eksSnapshot), "eks-snapshot"),
            (AssociationLookup(found: true, source: .eksMissLookup), "eks-miss-lookup"),
        ])
    func sourceOfAnAssociation(_ lookup: AssociationLookup, _ source: String) async throws {
        let (outcome, audit, warnings) = try await review(Self.pod(), lookup)
        #expect(outcome.decision == .mutated)
        #expect(audit["source"] == source)
        #expect(audit["method"] == "pod-identity")
        #expect(audit["association-lookup"] == nil)
        #expect(warnings.isEmpty)
    }

    @Test(
        "a \"no\" says where it came from (the negative cache, a lookup) and warns of nothing; IRSA names the ServiceAccount"
    )
    func sourceOfANo() async throws {
        let cached = try await review(Self.pod(), AssociationLookup(found: false, source: .eksNegativeCache))
        #expect(cached.audit["decision"] == "not-associated" && cached.audit["source"] == "eks-negative-cache")
        #expect(cached.warnings.isEmpty && cached.audit["association-lookup"] == nil)
        let looked = try await review(Self.pod(), AssociationLookup(found: false, source: .eksMissLookup))
        #expect(looked.audit["source"] == "eks-miss-lookup" && looked.warnings.isEmpty)
        let irsa = try await review(Self.pod(), .snapshot(false, .file), serviceAccount: Self.irsa)
        #expect(irsa.audit["method"] == "irsa" && irsa.audit["source"] == "service-account")
        #expect(irsa.warnings.isEmpty)
        let ignored = try await reviewer.review(
            Data(
                String(decoding: Self.pod(), as: UTF8.self)
                    .replacingOccurrences(of: #""operation":"CREATE""#, with: #""operation":"DELETE""#).utf8),
            association: { _ in .snapshot(true) })
        #expect(try AdmissionReviewerTests.annotations(ignored)["source"] == nil, "no lookup was made")
    }

    // MARK: A lookup that could not answer

    @Test(
        "a lookup that timed out, failed or was over the rate: no patch, a warning and an audit annotation saying so",
        arguments: [
            (AssociationLookup.Problem.timedOut, "timed-out", "timed out"),
            (.failed("AccessDeniedException"), "failed", "failed (AccessDeniedException)"),
            (.rateLimited, "rate-limited", "was not made"),
        ])
    func lookupProblem(_ problem: AssociationLookup.Problem, _ auditValue: String, _ words: String) async throws {
        let (outcome, audit, warnings) = try await review(
            Self.pod(), AssociationLookup(found: false, source: .eksMissLookup, problem: problem))
        #expect(outcome.decision == .notAssociated)
        #expect(outcome.patch == nil)
        #expect(audit["association-lookup"] == auditValue)
        #expect(audit["source"] == "eks-miss-lookup")
        let reason = try #require(audit["reason"])
        #expect(reason.contains("ns/web") && reason.contains(words) && reason.contains("starts without credentials"))
        #expect(warnings.count == 1)
        let warning = try #require(warnings.first)
        #expect(warning.contains("service account ns/web"))
        #expect(warning.contains(words))
        #expect(warning.contains("starts without AWS credentials"))
        #expect(warning.utf8.count <= 256, "the API server may truncate longer warnings")
    }

    @Test("a lookup that timed out for a ServiceAccount with a role-arn: IRSA, and the warning says so")
    func lookupProblemWithIRSA() async throws {
        let (outcome, audit, warnings) = try await review(
            Self.pod(), AssociationLookup(found: false, source: .eksMissLookup, problem: .timedOut),
            serviceAccount: Self.irsa)
        #expect(outcome.decision == .mutated && outcome.method == .irsa)
        #expect(audit["source"] == "service-account" && audit["association-lookup"] == "timed-out")
        #expect(audit["reason"]?.contains("the EKS miss lookup timed out") == true)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("gets IRSA from its role-arn annotation instead") == true)
        #expect(warnings.allSatisfy { $0.utf8.count <= 256 })
    }

    // MARK: The pod's annotations

    @Test(
        "a token-expiration annotation that is not an integer, or is clamped, is a warning; one within range is not",
        arguments: [
            ("abc", "is not an integer number of seconds; ignored"),
            ("1h", "is not an integer number of seconds; ignored"),
            ("100", "asks for 100 seconds; the token lifetime is 600"),
            ("172800", "asks for 172800 seconds; the token lifetime is 86400"),
            ("3600", nil),
            ("600", nil),
            ("86400", nil),
        ] as [(String, String?)])
    func tokenExpiration(_ value: String, _ expected: String?) async throws {
        let pod = Self.pod(annotations: ["eks.amazonaws.com/token-expiration": value])
        let podIdentity = try await review(pod, .snapshot(true))
        let irsa = try await review(pod, .snapshot(false), serviceAccount: Self.irsa)
        for list in [podIdentity.warnings, irsa.warnings] {
            if let expected {
                #expect(list.count == 1)
                #expect(list.first?.contains("annotation eks.amazonaws.com/token-expiration") == true)
                #expect(list.first?.contains(expected) == true, "\(list)")
            } else {
                #expect(list.isEmpty)
            }
        }
    }

    @Test(
        "token-expiration: no warning when the annotation is not used (token volume already there, or not associated)")
    func tokenExpirationUnused() async throws {
        let annotations = ["eks.amazonaws.com/token-expiration": "abc"]
        let present = try await review(
            Self.pod(annotations: annotations, volumes: #"[{"name":"eks-pod-identity-token"}]"#), .snapshot(true))
        #expect(present.warnings.isEmpty)
        let unassociated = try await review(Self.pod(annotations: annotations), .snapshot(false))
        #expect(unassociated.warnings.isEmpty)
    }

    @Test("the warning names the key under --annotation-prefix")
    func prefixedKeys() async throws {
        var settings = MutationSettings()
        settings.annotationPrefix = "example.com"
        let reviewer = AdmissionReviewer(mutator: PodMutator(settings: settings, random: SystemRandomSource()))
        let outcome = try await reviewer.review(
            Self.pod(annotations: ["example.com/token-expiration": "x", "example.com/skip-containers": "nope"]),
            association: { _ in .snapshot(true) })
        #expect(outcome.warnings.count == 2)
        #expect(outcome.warnings.contains { $0.contains("annotation example.com/token-expiration is not an integer") })
        #expect(outcome.warnings.contains { $0.contains("annotation example.com/skip-containers names no container") })
    }

    @Test(
        "a skip-containers annotation naming no container of the pod is a warning that names it; init containers count")
    func skipContainers() async throws {
        let containers = [#"{"name":"app"}"#, #"{"name":"sidecar"}"#]
        let typo = try await review(
            Self.pod(
                annotations: ["eks.amazonaws.com/skip-containers": "sidecra, init, ghost"], containers: containers,
                initContainers: [#"{"name":"init"}"#]), .snapshot(true))
        #expect(typo.warnings.count == 1)
        let warning = try #require(typo.warnings.first)
        #expect(warning.contains("annotation eks.amazonaws.com/skip-containers names no container of the pod"))
        #expect(warning.contains(#""sidecra", "ghost""#))
        #expect(!warning.contains(#""init""#))
        let fine = try await review(
            Self.pod(annotations: ["eks.amazonaws.com/skip-containers": "sidecar"], containers: containers),
            .snapshot(true))
        #expect(fine.warnings.isEmpty)
        // Compared byte for byte: "e" + U+0301 is not "é".
        let decomposed = try await review(
            Self.pod(
                annotations: ["eks.amazonaws.com/skip-containers": "caf\u{65}\u{301}"],
                containers: [#"{"name":"caf\#u{E9}"}"#]), .snapshot(true))
        #expect(decomposed.warnings.count == 1)
    }

    // MARK: The credential pair

    @Test(
        "a container with one variable of the credential pair gets neither: a warning names both, never a value",
        arguments: [
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", false),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", false),
            ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", true),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", true),
        ])
    func halfPair(_ defined: String, _ missing: String, _ irsa: Bool) async throws {
        let container = #"{"name":"app","env":[{"name":"\#(defined)","value":"s3cr3t-value"}]}"#
        let (outcome, _, warnings) = try await review(
            Self.pod(containers: [container, #"{"name":"other"}"#]), .snapshot(!irsa),
            serviceAccount: irsa ? Self.irsa : nil)
        #expect(outcome.decision == .mutated)
        #expect(warnings.count == 1)
        let warning = try #require(warnings.first)
        #expect(warning.contains(#"container "app" defines \#(defined) but not \#(missing)"#))
        #expect(!warning.contains("s3cr3t-value"))
        #expect(warning.utf8.count <= 256, "the API server may truncate longer warnings")
        // The mutator indeed gives it neither.
        let patch = String(decoding: try #require(outcome.patch).jsonBytes, as: UTF8.self)
        #expect(!patch.contains("/spec/containers/0/env"))
        #expect(patch.contains("/spec/containers/1/env"))
    }

    @Test("no pair warning for a container with both or neither, for a skipped one, or for the other mode's pair")
    func pairsThatAreFine() async throws {
        let both =
            #"{"name":"a","env":[{"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI","value":"x"},"#
            + #"{"name":"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE","value":"y"}]}"#
        let half = #"{"name":"skipped","env":[{"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI","value":"x"}]}"#
        let irsaHalf = #"{"name":"c","env":[{"name":"AWS_ROLE_ARN","value":"x"}]}"#
        let result = try await review(
            Self.pod(
                annotations: ["eks.amazonaws.com/skip-containers": "skipped"],
                containers: [both, half, irsaHalf, #"{"name":"d"}"#]), .snapshot(true))
        #expect(result.warnings.isEmpty, "\(result.warnings)")
    }

    @Test("an init container with half a pair is warned about too")
    func initContainerHalfPair() async throws {
        let result = try await review(
            Self.pod(initContainers: [#"{"name":"setup","env":[{"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI"}]}"#]),
            .snapshot(true))
        #expect(
            result.warnings == [
                "pod-identity-webhook: container \"setup\" defines AWS_CONTAINER_CREDENTIALS_FULL_URI but not "
                    + "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, so neither is injected and it may get no AWS credentials; "
                    + "define both or neither"
            ])
    }
}
