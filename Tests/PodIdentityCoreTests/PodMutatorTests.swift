import Foundation
import PodIdentityCore
import Testing

/// Unit checks of the mutation's helpers; whole-pod behaviour is in the fixtures.
@Suite("PodMutator", .timeLimit(.minutes(5)))
struct PodMutatorTests {
    @Test(
        "skip-containers: Go's first CSV record, ASCII spaces and tabs trimmed, quotes removed",
        arguments: [
            ("a", ["a"]),
            ("a,b", ["a", "b"]),
            ("a, b ,  c", ["a", "b", "c"]),
            (#""a", "b""#, ["a", "b"]),
            (#""with,comma",x"#, ["with,comma", "x"]),
            (#""say ""hi""""#, [#"say "hi""#]),
            ("a,,b,", ["a", "b"]),
            ("first\nsecond", ["first"]),
            ("first\r\nsecond", ["first"]),
            ("\n\r\nsidecar,app\nother", ["sidecar", "app"]),
            ("a\rb", ["a\rb"]),
            ("\u{00A0}a\u{00A0}", ["\u{00A0}a\u{00A0}"]),
            ("", []),
            // Go's reader: one \r right before the end is dropped; a lone \r elsewhere is kept.
            ("a\r", ["a"]),
            ("a,b\r", ["a", "b"]),
            ("a\r\r", ["a\r"]),
            ("\r", []),
            ("\n\r", []),
            ("\n", []),
            ("\ra", ["\ra"]),
            ("\r\r\nb", ["\r"]),
            // Quoted names may hold line breaks; \r\n in them reads as \n, a lone \r stays.
            ("\"a\r\nb\",c\nd", ["a\nb", "c"]),
            ("\"a\rb\"", ["a\rb"]),
            ("\n\"x\"\r\ny", ["x"]),
            // Only ASCII spaces and tabs are trimmed, scalar by scalar.
            ("\ta\t, b ", ["a", "b"]),
            ("\u{3000}a", ["\u{3000}a"]),
            (" \u{301}a", ["\u{301}a"]),
            ("\" a \"", [" a "]),
        ])
    func skipContainers(_ value: String, _ names: [String]) {
        #expect(PodAnnotations.containerNames(fromSkipContainers: value) == names)
    }

    @Test("skip-containers names that are only canonically equivalent stay two names")
    func skipContainersAreBytes() {
        let names = PodAnnotations.containerNames(fromSkipContainers: "caf\u{E9},cafe\u{301}")
        #expect(names.count == 2)
        #expect(names.map { Array($0.utf8) } == [Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8)])
    }

    @Test(
        "token-expiration annotation: integers clamped to [600, 86400], anything else ignored",
        arguments: [
            ("3600", Int64?.some(3600)), ("0900", 900), ("+700", 700), ("60", 600), ("-5", 600), ("100000", 86400),
            ("86400", 86400), ("abc", nil), ("1h", nil), (" 600", nil), ("", nil), ("99999999999999999999", nil),
        ])
    func tokenExpirationAnnotation(_ value: String, _ expected: Int64?) {
        #expect(PodAnnotations.tokenExpiration(fromAnnotation: value) == expected)
    }

    @Test("jitter draws from [79200, 86400] only for the default 86400 with jitter on")
    func jitterPrecedence() {
        let pod = Pod(metadata: ObjectMeta(name: "p"), spec: PodSpec(containers: [Container(name: "c")]))
        let random = Recorder(value: 80001)
        var settings = MutationSettings()
        #expect(PodMutator(settings: settings, random: random).tokenExpiration(for: pod) == 80001)
        settings.tokenExpirationJitter = false
        #expect(PodMutator(settings: settings, random: random).tokenExpiration(for: pod) == 86400)
        settings.tokenExpirationJitter = true
        settings.tokenExpiration = 7200
        #expect(PodMutator(settings: settings, random: random).tokenExpiration(for: pod) == 7200)
        var annotated = pod
        annotated.metadata?.annotations = [PodAnnotations.tokenExpiration: "86400"]
        #expect(PodMutator(random: random).tokenExpiration(for: annotated) == 86400)
        #expect(random.calls == 1)
    }

    @Test(
        "the token file path is cleaned like Go's filepath.Join",
        arguments: [
            ("/var/run/secrets/x/", "token", "/var/run/secrets/x/token"),
            ("/a//b/./c", "t", "/a/b/c/t"),
            ("/a/b/../c", "./t", "/a/c/t"),
            ("/", "t", "/t"),
        ])
    func tokenPath(_ mountPath: String, _ tokenPath: String, _ expected: String) {
        var settings = MutationSettings()
        settings.mountPath = mountPath
        settings.tokenPath = tokenPath
        #expect(PodMutator(settings: settings).tokenFilePath(for: Pod()) == expected)
    }

    @Test(
        "Windows nodes get a C: path with backslashes, through either selector",
        arguments: [
            "kubernetes.io/os", "beta.kubernetes.io/os",
        ])
    func windows(_ selector: String) {
        let pod = Pod(spec: PodSpec(nodeSelector: [selector: "windows"]))
        #expect(
            PodMutator().tokenFilePath(for: pod)
                == #"C:\var\run\secrets\pods.eks.amazonaws.com\serviceaccount\eks-pod-identity-token"#)
    }

    @Test("extra environment (IPv6 endpoint mode) is appended after the credentials, only when missing")
    func extraEnvironment() throws {
        var settings = MutationSettings()
        settings.extraEnvironment = [EnvVar(name: "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", value: "IPv6")]
        let pod = Pod(
            metadata: ObjectMeta(labels: [:]),
            spec: PodSpec(
                volumes: [],
                containers: [
                    Container(name: "a", env: []),
                    Container(name: "b", env: ["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]),
                ]))
        let patch = PodMutator(settings: settings, random: Recorder(value: 80000)).patch(for: pod)
        let envNames = { (index: Int) in
            patch.filter { $0.path == "/spec/containers/\(index)/env/-" }.compactMap { $0.value?["name"]?.stringValue }
        }
        #expect(envNames(0) == [PodMutator.fullURI, PodMutator.tokenFile, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"])
        #expect(envNames(1) == [PodMutator.fullURI, PodMutator.tokenFile])
    }

    @Test("a pod without metadata or spec still gets a patch that applies")
    func bareObject() throws {
        let patch = JSONPatch(PodMutator(random: Recorder(value: 79999)).patch(for: Pod()))
        let result = try patch.apply(to: .object([:]))
        #expect(result["metadata"]?["labels"]?[PodAnnotations.podIdentityLabel] == "enabled")
        #expect(result["spec"]?["volumes"] != nil)
    }

    @Test("settings are validated with messages that name the flag")
    func validation() {
        var settings = MutationSettings()
        #expect(settings.validationError() == nil)
        settings.tokenExpiration = 100
        #expect(settings.validationError()?.contains("--token-expiration") == true)
        settings = MutationSettings()
        settings.mountPath = "relative"
        #expect(settings.validationError()?.contains("--container-credentials-token-mount-path") == true)
    }
}

final class Recorder: RandomSource, @unchecked Sendable {
    let value: Int64
    private let lock = NSLock()
    private var count = 0
    init(value: Int64) { self.value = value }
    func int64(in range: ClosedRange<Int64>) -> Int64 {
        lock.withLock { count += 1 }
        return value
    }
    var calls: Int { lock.withLock { count } }
}
