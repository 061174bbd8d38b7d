import Foundation
import Testing

@testable import PodIdentityCore

/// `--proxy-bypass`: what is read from `env`, the NO_PROXY arithmetic, and the operations and
/// warnings; whole pods are in fixtures 109 and up.
@Suite("Proxy bypass", .timeLimit(.minutes(2)))
struct ProxyBypassTests {
    static let addresses = "169.254.170.23,fd00:ec2::23"

    /// A pod from its JSON `spec`, decoded by the fast path and by JSONDecoder, which must agree.
    static func pod(spec: String, metadata: String = "{}") throws -> Pod {
        let body = Data(
            (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","#
                + #""kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"ns","operation":"CREATE","#
                + #""object":{"metadata":\#(metadata),"spec":\#(spec)}}}"#).utf8)
        let fast = try #require(body.withUnsafeBytes { FastReviewDecoder.decode($0.bindMemory(to: UInt8.self)) })
        let foundation = try AdmissionReviewer.decodeWithFoundation(body)
        #expect(fast == foundation)
        return try #require(fast.request?.object?.pod)
    }

    static func mutator(bypass: Bool = true) -> PodMutator {
        var settings = MutationSettings()
        settings.proxyBypass = bypass
        return PodMutator(settings: settings, random: FixedRandom())
    }

    struct FixedRandom: RandomSource {
        func int64(in range: ClosedRange<Int64>) -> Int64 { range.lowerBound }
    }

    static let appendingCases: [(String, String?)] = [
        ("", addresses),
        ("   ", "   " + addresses),
        ("localhost", "localhost," + addresses),
        ("localhost,", "localhost," + addresses),
        ("a, 169.254.170.23 ", "a, 169.254.170.23 ,fd00:ec2::23"),
        ("\tfd00:ec2::23\t,x", "\tfd00:ec2::23\t,x,169.254.170.23"),
        ("169.254.170.23,fd00:ec2::23", nil),
        (" fd00:ec2::23 , 169.254.170.23", nil),
        // Not the same entry: another spelling, a CIDR, a port, a bracketed address.
        ("FD00:EC2::23,169.254.170.23:80", "FD00:EC2::23,169.254.170.23:80," + addresses),
        ("169.254.170.0/24,[fd00:ec2::23]", "169.254.170.0/24,[fd00:ec2::23]," + addresses),
        ("\u{00A0}169.254.170.23", "\u{00A0}169.254.170.23," + addresses),
        // Scalar by scalar: a comma followed by a combining mark still separates.
        ("a,\u{301}169.254.170.23", "a,\u{301}169.254.170.23," + addresses),
        ("a,\u{301}", "a,\u{301}," + addresses),
        ("169.254.170.23,\u{301}", "169.254.170.23,\u{301},fd00:ec2::23"),
        ("169.254.170.23,\u{301}fd00:ec2::23", "169.254.170.23,\u{301}fd00:ec2::23,fd00:ec2::23"),
    ]

    @Test(
        "appending: only missing addresses, entries trimmed of spaces and tabs and compared byte for byte",
        arguments: appendingCases)
    func appending(_ list: String, _ expected: String?) {
        #expect(PodMutator.appending(PodMutator.agentAddresses, to: list) == expected)
    }

    @Test("env: proxy entries are read on both decoding paths; a proxy's value is not kept")
    func decoding() throws {
        let pod = try Self.pod(
            spec: #"""
                {"containers":[{"name":"app","envFrom":[{"configMapRef":{"name":"c"}}],"env":[
                {"name":"A","value":"secret"},
                {"value":"http://user:pw@proxy:3128","name":"HTTPS_PROXY"},
                {"name":"http_proxy","value":""},
                {"name":"HTTP_PROXY","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},
                {"name":"https_proxy","valueFrom":null,"value":"x"},
                {"name":"NO_PROXY","value":"a,\u0062"},
                {"name":"no_proxy"},
                {"name":"No_Proxy","value":"ignored"},
                {"name":"NO_PROXY","value":5}]}],
                "initContainers":[{"name":"i","envFrom":[],"env":null}]}
                """#)
        let app = try #require(pod.spec?.containers?.first)
        #expect(app.env?.count == 9)
        #expect(app.hasEnvFrom)
        #expect(
            app.proxyVariables == [
                ProxyVariable(index: 1, name: "HTTPS_PROXY", setting: .proxy),
                ProxyVariable(index: 3, name: "HTTP_PROXY", setting: .valueFrom),
                ProxyVariable(index: 4, name: "https_proxy", setting: .proxy),
                ProxyVariable(index: 5, name: "NO_PROXY", setting: .noProxy("a,b")),
                ProxyVariable(index: 6, name: "no_proxy", setting: .noProxy(nil)),
                ProxyVariable(index: 8, name: "NO_PROXY", setting: .noProxy(nil)),
            ])
        #expect(!"\(app.proxyVariables)".contains("pw"))
        let initContainer = try #require(pod.spec?.initContainers?.first)
        #expect(!initContainer.hasEnvFrom)
        #expect(initContainer.env == nil && initContainer.proxyVariables.isEmpty)
    }

    @Test("a repeated value or valueFrom key in an env entry falls back to JSONDecoder")
    func repeatedKeysFallBack() {
        for entry in [#"{"name":"NO_PROXY","value":"a","value":"b"}"#, #"{"name":"X","valueFrom":{},"valueFrom":{}}"#] {
            let body = Data(
                (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":"#
                    + #"{"spec":{"containers":[{"env":[\#(entry)]}]}}}}"#).utf8)
            #expect(body.withUnsafeBytes { FastReviewDecoder.decode($0.bindMemory(to: UInt8.self)) } == nil)
        }
    }

    @Test("NO_PROXY absent: added after the credential variables; present: test of the exact value, then replace")
    func operations() throws {
        let spec = #"""
            {"initContainers":[{"name":"init","env":[{"name":"https_proxy","value":"http://p"},
            {"name":"no_proxy","value":"localhost"}]}],
            "containers":[{"name":"app","env":[{"name":"HTTP_PROXY","value":"http://p"}]}]}
            """#
        let pod = try Self.pod(spec: spec)
        let operations = Self.mutator().patch(for: pod)
        let bypass = Array(operations.suffix(3))
        #expect(
            bypass == [
                PatchOperation(op: .test, path: "/spec/initContainers/0/env/1/value", value: "localhost"),
                PatchOperation(
                    op: .replace, path: "/spec/initContainers/0/env/1/value",
                    value: .string("localhost," + Self.addresses)),
                PatchOperation(
                    path: "/spec/containers/0/env/-",
                    value: .object(["name": "NO_PROXY", "value": .string(Self.addresses)])),
            ])
        // Without the flag: exactly the other operations, in the same order.
        #expect(Self.mutator(bypass: false).patch(for: pod) == Array(operations.dropLast(3)))
        #expect(Self.mutator().proxyBypass(for: pod, mode: .podIdentity(nil)).warnings.isEmpty)
    }

    @Test("the test operation makes the patch fail when the value changed after the review")
    func testGuards() throws {
        let spec =
            #"{"containers":[{"name":"app","env":[{"name":"HTTPS_PROXY","value":"http://p"},{"name":"NO_PROXY","value":"a"}]}]}"#
        let operations = Self.mutator().patch(for: try Self.pod(spec: spec))
        let document = try JSONValue.parse(Data(#"{"metadata":{},"spec":\#(spec)}"#.utf8))
        let patched = try JSONPatch(operations).apply(to: document)
        guard case .array(let containers)? = patched["spec"]?["containers"],
            case .array(let env)? = containers.first?["env"]
        else { throw JSONPatchError("no env") }
        #expect(env.prefix(2).map { $0["value"] } == [.string("http://p"), .string("a," + Self.addresses)])
        let changed = try JSONValue.parse(
            Data(#"{"metadata":{},"spec":\#(spec.replacingOccurrences(of: #""a""#, with: #""b""#))}"#.utf8))
        #expect(throws: JSONPatchError.self) { try JSONPatch(operations).apply(to: changed) }
    }

    @Test("already listed, no proxy, an empty proxy, IRSA, existing credentials, a skipped container: nothing")
    func nothingToDo() throws {
        let listed = #"{"name":"NO_PROXY","value":"fd00:ec2::23, 169.254.170.23"}"#
        let cases: [(spec: String, metadata: String)] = [
            (#"{"containers":[{"name":"a","env":[{"name":"HTTPS_PROXY","value":"http://p"},\#(listed)]}]}"#, "{}"),
            (#"{"containers":[{"name":"a","env":[{"name":"NO_PROXY","value":"x"}]}]}"#, "{}"),
            (#"{"containers":[{"name":"a","env":[{"name":"HTTPS_PROXY","value":""}]}]}"#, "{}"),
            (
                #"{"containers":[{"name":"a","env":[{"name":"HTTPS_PROXY","value":"http://p"},{"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI","value":"http://x"}]}]}"#,
                "{}"
            ),
            (
                #"{"containers":[{"name":"a","env":[{"name":"HTTPS_PROXY","value":"http://p"}]}]}"#,
                #"{"annotations":{"eks.amazonaws.com/skip-containers":"a"}}"#
            ),
        ]
        for (spec, metadata) in cases {
            let pod = try Self.pod(spec: spec, metadata: metadata)
            let result = Self.mutator().proxyBypass(for: pod, mode: .podIdentity(nil))
            #expect(result.operations.isEmpty && result.warnings.isEmpty, "\(spec)")
            #expect(Self.mutator().patch(for: pod) == Self.mutator(bypass: false).patch(for: pod))
        }
        let irsa = try Self.pod(
            spec: #"{"containers":[{"name":"a","env":[{"name":"HTTPS_PROXY","value":"http://p"}]}]}"#)
        let account = ServiceAccountInfo(
            ref: ServiceAccountRef(namespace: "ns", name: "default"), annotations: [], prefix: "eks.amazonaws.com")
        let mode = PodIdentityMode.irsa(account, roleARN: "arn:aws:iam::111122223333:role/r")
        #expect(Self.mutator().proxyBypass(for: irsa, mode: mode) == ([], []))
        #expect(Self.mutator().patch(for: irsa, mode: mode) == Self.mutator(bypass: false).patch(for: irsa, mode: mode))
        // With the flag off, nothing even for a pod that would get the bypass.
        #expect(Self.mutator(bypass: false).proxyBypass(for: irsa, mode: .podIdentity(nil)) == ([], []))
    }

    @Test("what cannot be edited gets a warning naming the container and the variable, and no operation")
    func warnings() throws {
        let secretRef = #"{"secretKeyRef":{"name":"s","key":"k"}}"#
        let cases: [(env: String, envFrom: Bool, warning: String)] = [
            (
                #"{"name":"HTTPS_PROXY","valueFrom":\#(secretRef)}"#, false,
                #"container "web": HTTPS_PROXY is set through valueFrom"#
            ),
            (
                #"{"name":"HTTPS_PROXY","value":"http://user:pw@p"},{"name":"NO_PROXY","valueFrom":\#(secretRef)}"#,
                false,
                #"container "web": NO_PROXY is set through valueFrom"#
            ),
            (
                #"{"name":"HTTPS_PROXY","value":"http://user:pw@p"}"#, true,
                #"container "web": NO_PROXY was not added because envFrom"#
            ),
        ]
        for (env, envFrom, warning) in cases {
            let spec =
                #"{"containers":[{"name":"web","env":[\#(env)]\#(envFrom ? #","envFrom":[{"configMapRef":{"name":"c"}}]"# : "")}]}"#
            let pod = try Self.pod(spec: spec)
            let result = Self.mutator().proxyBypass(for: pod, mode: .podIdentity(nil))
            #expect(result.operations.isEmpty)
            #expect(result.warnings.count == 1)
            let text = try #require(result.warnings.first)
            #expect(text.hasPrefix("pod-identity-webhook: " + warning), "\(text)")
            #expect(text.contains(Self.addresses) && !text.contains("pw") && text.count < 160)
        }
        // A plain proxy beside one from valueFrom: the bypass applies, no warning.
        let both = try Self.pod(
            spec:
                #"{"containers":[{"name":"web","env":[{"name":"HTTP_PROXY","valueFrom":\#(secretRef)},{"name":"HTTPS_PROXY","value":"http://p"}]}]}"#
        )
        let result = Self.mutator().proxyBypass(for: both, mode: .podIdentity(nil))
        #expect(result.warnings.isEmpty && result.operations.count == 1)
        // NO_PROXY from valueFrom beside a plain no_proxy: the plain one is edited, the other warned about.
        let mixed = try Self.pod(
            spec:
                #"{"containers":[{"name":"web","env":[{"name":"HTTPS_PROXY","value":"http://p"},{"name":"NO_PROXY","valueFrom":\#(secretRef)},{"name":"no_proxy","value":"x"}]}]}"#
        )
        let mixedResult = Self.mutator().proxyBypass(for: mixed, mode: .podIdentity(nil))
        #expect(mixedResult.operations.map(\.op) == [.test, .replace])
        #expect(mixedResult.operations.allSatisfy { $0.path == "/spec/containers/0/env/2/value" })
        #expect(mixedResult.warnings.count == 1 && mixedResult.warnings[0].contains("NO_PROXY"))
    }
}
