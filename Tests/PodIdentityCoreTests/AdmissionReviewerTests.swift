import Foundation
import PodIdentityCore
import Testing

@Suite("AdmissionReviewer", .timeLimit(.minutes(5)))
struct AdmissionReviewerTests {
    let reviewer = AdmissionReviewer(mutator: PodMutator(random: SystemRandomSource()))

    static func body(apiVersion: String = "admission.k8s.io/v1", object: String) -> Data {
        Data(
            """
            {"apiVersion":"\(apiVersion)","kind":"AdmissionReview","request":{"uid":"u-1",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"ns","operation":"CREATE","object":\(object)}}
            """.utf8)
    }

    @Test(
        "bodies that are not an AdmissionReview are refused with a message that says why",
        arguments: [
            ("", "empty body"),
            ("not json", "not valid JSON"),
            ("[1,2]", "not an object"),
            ("{\"apiVersion\":\"admission.k8s.io/v1\"", "not valid JSON"),
            ("{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}", "expected \"AdmissionReview\""),
            (
                "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v2\",\"request\":{\"uid\":\"x\"}}",
                "not supported"
            ),
            ("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}", "no request"),
            ("{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{}}", "uid"),
        ])
    func refused(_ body: String, _ message: String) async {
        await #expect {
            _ = try await reviewer.review(Data(body.utf8)) { _ in .snapshot(true) }
        } throws: { error in
            (error as? ReviewDecodingError)?.description.contains(message) == true
        }
    }

    @Test("deeply nested JSON is refused, not a crash")
    func deepNesting() async {
        let body = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        await #expect(throws: ReviewDecodingError.self) {
            _ = try await reviewer.review(Data(body.utf8)) { _ in .snapshot(true) }
        }
        let nestedObject = Self.body(
            object: "{\"metadata\":" + String(repeating: "{\"a\":", count: 10_000) + "1"
                + String(repeating: "}", count: 10_001))
        await #expect(throws: ReviewDecodingError.self) {
            _ = try await reviewer.review(nestedObject) { _ in .snapshot(true) }
        }
    }

    @Test("a pod that does not decode is allowed with a warning that names the field, never its value")
    func undecodablePod() async throws {
        let outcome = try await reviewer.review(Self.body(object: #"{"spec":{"containers":"secret-value"}}"#)) { _ in
            .snapshot(true)
        }
        #expect(outcome.decision == .error)
        #expect(outcome.patch == nil)
        let warning = try #require(outcome.warnings.first)
        #expect(warning.contains("spec.containers"))
        #expect(!warning.contains("secret-value"))
        let response = try JSONValue.parse(outcome.responseBody)
        #expect(response["response"]?["allowed"] == true)
        #expect(response["response"]?["warnings"] == .array([.string(warning)]))
    }

    @Test(
        "the response echoes apiVersion, kind and uid for v1 and v1beta1",
        arguments: [
            "admission.k8s.io/v1", "admission.k8s.io/v1beta1",
        ])
    func echo(_ apiVersion: String) async throws {
        let outcome = try await reviewer.review(
            Self.body(
                apiVersion: apiVersion, object: #"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}"#)
        ) { _ in .snapshot(true) }
        let response = try JSONValue.parse(outcome.responseBody)
        #expect(response["apiVersion"] == .string(apiVersion))
        #expect(response["kind"] == "AdmissionReview")
        #expect(response["response"]?["uid"] == "u-1")
        #expect(response["response"]?["patchType"] == "JSONPatch")
        let patch = try #require(response["response"]?["patch"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        #expect(try JSONPatch(parsing: patch) == outcome.patch)
    }

    @Test(
        "the service account is serviceAccountName, else serviceAccount, else default; namespace from the request first"
    )
    func serviceAccount() {
        let ref = AdmissionReviewer.serviceAccountRef
        #expect(
            ref(Pod(spec: PodSpec(serviceAccountName: "a", serviceAccount: "b")), "ns")
                == ServiceAccountRef(namespace: "ns", name: "a"))
        #expect(ref(Pod(spec: PodSpec(serviceAccount: "b")), "ns").name == "b")
        #expect(ref(Pod(spec: PodSpec(serviceAccountName: "")), "ns").name == "default")
        #expect(ref(Pod(metadata: ObjectMeta(namespace: "meta")), nil).namespace == "meta")
        #expect(ref(Pod(metadata: ObjectMeta(namespace: "meta")), "request").namespace == "request")
    }

    @Test(
        "NS/SA pairs parse; anything else does not",
        arguments: [
            ("ns/sa", true), (" ns / sa ", true), ("ns", false), ("ns/", false), ("/sa", false), ("a/b/c", false),
        ])
    func refParsing(_ text: String, _ valid: Bool) {
        #expect((ServiceAccountRef(parsing: text) != nil) == valid)
    }

    static func annotations(_ outcome: ReviewOutcome) throws -> [String: String] {
        let response = try JSONValue.parse(outcome.responseBody)
        guard case .object(let members)? = response["response"]?["auditAnnotations"] else { return [:] }
        return members.compactMapValues(\.stringValue)
    }

    @Test("every answer says its decision and why in auditAnnotations; IRSA and Pod Identity name their method")
    func auditAnnotations() async throws {
        let pod = #"{"metadata":{"name":"p"},"spec":{"serviceAccountName":"web","containers":[{"name":"a"}]}}"#
        let irsa = ServiceAccountInfo(
            ref: ServiceAccountRef(namespace: "ns", name: "web"), roleARN: "arn:aws:iam::111122223333:role/web")

        let associated = try await reviewer.review(Self.body(object: pod)) { _ in .snapshot(true) }
        #expect(try Self.annotations(associated)["decision"] == "mutated")
        #expect(try Self.annotations(associated)["method"] == "pod-identity")
        #expect(try Self.annotations(associated)["reason"]?.contains("ns/web has a Pod Identity association") == true)

        let viaRole = try await reviewer.review(
            Self.body(object: pod), association: { _ in .snapshot(false) }, serviceAccount: { _, _ in irsa })
        #expect(try Self.annotations(viaRole)["method"] == "irsa")
        #expect(try Self.annotations(viaRole)["reason"]?.contains("arn:aws:iam::111122223333:role/web") == true)

        let neither = try await reviewer.review(Self.body(object: pod)) { _ in .snapshot(false) }
        #expect(try Self.annotations(neither)["decision"] == "not-associated")
        #expect(try Self.annotations(neither)["method"] == nil)
        #expect(try Self.annotations(neither)["reason"]?.contains("no Pod Identity association and no role-arn") == true)

        let update = Data(
            String(decoding: Self.body(object: pod), as: UTF8.self)
                .replacingOccurrences(of: #""operation":"CREATE""#, with: #""operation":"UPDATE""#).utf8)
        let ignored = try await reviewer.review(update) { _ in .snapshot(true) }
        #expect(try Self.annotations(ignored) == ["decision": "ignored", "reason": "operation UPDATE is not mutated (only CREATE)"])

        let undecodable = try await reviewer.review(Self.body(object: #"{"spec":{"containers":"x"}}"#)) { _ in .snapshot(true) }
        #expect(try Self.annotations(undecodable)["decision"] == "error")
    }
}
