import Foundation
import Testing

@testable import PodIdentityCore

/// Names are compared as Kubernetes compares them, byte for byte: Swift's `==` on `String`
/// (Unicode canonical equivalence) would take `K` for KELVIN SIGN (U+212A) and `é` for
/// `e` + U+0301, which are different names to the API server.
@Suite("Names compared byte for byte", .timeLimit(.minutes(2)))
struct ByteComparisonTests {
    static let kelvin = "\u{212A}"
    static let composed = "caf\u{E9}", decomposed = "cafe\u{301}"

    @Test("the spellings the tests rely on are canonically equivalent to Swift and different bytes")
    func premise() {
        #expect("K" == Self.kelvin)
        #expect(Self.composed == Self.decomposed)
        #expect(!StringMap.sameBytes("K", Self.kelvin))
        #expect(!StringMap.sameBytes(Self.composed, Self.decomposed))
        #expect(StringMap.sameBytes(Self.composed, "caf\u{E9}"))
    }

    static func names(_ operations: [PatchOperation], _ path: String) -> [String] {
        operations.filter { $0.path.hasPrefix(path) }.flatMap { operation -> [String] in
            switch operation.value {
            case .array(let items)?: items.compactMap { $0["name"]?.stringValue }
            case let value?: [value["name"]?.stringValue].compactMap { $0 }
            case nil: []
            }
        }
    }

    @Test("an env var spelled with KELVIN SIGN is not the token-file variable: the credentials are still added")
    func kelvinEnvName() {
        let lookalike = "AWS_CONTAINER_AUTHORIZATION_TO\(Self.kelvin)EN_FILE"
        let pod = Pod(spec: PodSpec(volumes: [], containers: [Container(name: "app", env: [Named(name: lookalike)])]))
        let operations = PodMutator(random: Recorder(value: 80000)).patch(for: pod)
        #expect(Self.names(operations, "/spec/containers/0/env") == [PodMutator.fullURI, PodMutator.tokenFile])
        // The real name is one of the pair: nothing is added to the env.
        let real = Pod(
            spec: PodSpec(volumes: [], containers: [Container(name: "app", env: [Named(name: PodMutator.tokenFile)])]))
        #expect(Self.names(PodMutator(random: Recorder(value: 80000)).patch(for: real), "/spec/containers/0/env") == [])
    }

    @Test("volume and volumeMount names that are only canonically equivalent are other names")
    func volumeNames() {
        var settings = MutationSettings()
        settings.volumeName = Self.composed
        let pod = Pod(
            spec: PodSpec(
                volumes: [Named(name: Self.decomposed)],
                containers: [Container(name: "app", volumeMounts: [Named(name: Self.decomposed)])]))
        let operations = PodMutator(settings: settings, random: Recorder(value: 80000)).patch(for: pod)
        #expect(operations.contains { $0.path == "/spec/volumes/0" })
        #expect(Self.names(operations, "/spec/containers/0/volumeMounts") == [Self.composed])
        let same = Pod(
            spec: PodSpec(
                volumes: [Named(name: Self.composed)],
                containers: [Container(name: "app", volumeMounts: [Named(name: Self.composed)])]))
        let none = PodMutator(settings: settings, random: Recorder(value: 80000)).patch(for: same)
        #expect(!none.contains { $0.path.hasPrefix("/spec/volumes") || $0.path.contains("volumeMounts") })
    }

    @Test("skip-containers names match container names byte for byte only")
    func skipContainers() {
        let pod = Pod(
            metadata: ObjectMeta(annotations: [PodAnnotations.skipContainers: Self.decomposed]),
            spec: PodSpec(volumes: [], containers: [Container(name: Self.composed), Container(name: Self.decomposed)]))
        let operations = PodMutator(random: Recorder(value: 80000)).patch(for: pod)
        #expect(operations.contains { $0.path.hasPrefix("/spec/containers/0/") })
        #expect(!operations.contains { $0.path.hasPrefix("/spec/containers/1/") })
    }

    @Test("annotation keys are read byte for byte, also with a prefix that has a K")
    func annotationKeys() {
        var settings = MutationSettings()
        settings.annotationPrefix = "K.example.com"
        let lookalike = "\(Self.kelvin).example.com/skip-containers"
        let containers = [Container(name: "a"), Container(name: "b")]
        let mutator = PodMutator(settings: settings, random: Recorder(value: 80000))
        // Only the real key counts, whichever comes first.
        for annotations: StringMap in [
            ["K.example.com/skip-containers": "a", lookalike: "b"],
            [lookalike: "b", "K.example.com/skip-containers": "a"],
        ] {
            let pod = Pod(
                metadata: ObjectMeta(annotations: annotations), spec: PodSpec(volumes: [], containers: containers))
            let operations = mutator.patch(for: pod)
            #expect(!operations.contains { $0.path.hasPrefix("/spec/containers/0/") })
            #expect(operations.contains { $0.path.hasPrefix("/spec/containers/1/") })
        }
        let onlyLookalike = Pod(
            metadata: ObjectMeta(annotations: [lookalike: "a,b", "\(Self.kelvin).example.com/token-expiration": "700"]),
            spec: PodSpec(volumes: [], containers: containers))
        #expect(mutator.patch(for: onlyLookalike).filter { $0.path.hasSuffix("/env") }.count == 2)
        #expect(mutator.tokenExpiration(for: onlyLookalike) == 80000)
    }

    @Test("the pod-identity label is set unless the label with those very bytes holds enabled")
    func labelKey() {
        let label = PodAnnotations.podIdentityLabel
        let mutator = PodMutator(random: Recorder(value: 80000))
        let labelled = Pod(metadata: ObjectMeta(labels: [label: "enabled"]), spec: PodSpec(volumes: [], containers: []))
        #expect(!mutator.patch(for: labelled).contains { $0.path.hasPrefix("/metadata") })
        // The value is compared byte for byte too (a value with a combining mark is another value).
        let other = Pod(
            metadata: ObjectMeta(labels: [label: "enabled\u{301}"]), spec: PodSpec(volumes: [], containers: []))
        #expect(mutator.patch(for: other).contains { $0.path == "/metadata/labels/eks.amazonaws.com~1pod-identity" })
    }

    @Test("nodeSelector keys and values are compared byte for byte")
    func nodeSelector() {
        let mutator = PodMutator()
        let windows = Pod(spec: PodSpec(nodeSelector: ["kubernetes.io/os": "windows"]))
        #expect(mutator.tokenFilePath(for: windows).hasPrefix("C:"))
        let lookalike = Pod(spec: PodSpec(nodeSelector: ["kubernetes.io/os": "windows\u{301}"]))
        #expect(mutator.tokenFilePath(for: lookalike).hasPrefix("/"))
    }

    @Test("StringMap: byte-for-byte keys, the last of a repeated key, equality in any order")
    func stringMap() {
        let map: StringMap = ["K": "letter", Self.kelvin: "sign", "a": "1", "a": "2"]
        #expect(map.count == 4)
        #expect(map["K"] == "letter")
        #expect(map[Self.kelvin] == "sign")
        #expect(map["a"] == "2")
        #expect(map["k"] == nil)
        #expect(map == [Self.kelvin: "sign", "a": "1", "K": "letter", "a": "2"])
        #expect(map != ["K": "letter", "K": "sign", "a": "1", "a": "2"])
        #expect(StringMap([(key: Self.composed, value: "x")]) != StringMap([(key: Self.decomposed, value: "x")]))
    }

    static let review =
        #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","#
        + #""kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"ns","operation":"CREATE","object":"#

    static func decoded(_ object: String) throws -> (fast: Pod?, foundation: Pod?) {
        let body = Data((review + object + "}}").utf8)
        let fast = body.withUnsafeBytes { FastReviewDecoder.decode($0.bindMemory(to: UInt8.self)) }
        let foundation = try AdmissionReviewer.decodeWithFoundation(body)
        return (fast?.request?.object?.pod, foundation.request?.object?.pod)
    }

    @Test("both decoders keep labels, annotations and nodeSelector keys that are only canonically equivalent")
    func decodersKeepKeys() throws {
        let object =
            #"{"metadata":{"labels":{"K":"1","\u212a":"2"},"annotations":{"caf\u00e9":"a","cafe\u0301":"b"}},"#
            + #""spec":{"nodeSelector":{"K":"x","\u212A":"y"}}}"#
        let (fast, foundation) = try Self.decoded(object)
        let pod = try #require(fast, "escaped keys of a string map stay on the fast path")
        #expect(pod == foundation)
        #expect(pod.metadata?.labels?.count == 2)
        #expect(pod.metadata?.labels?["K"] == "1")
        #expect(pod.metadata?.labels?[Self.kelvin] == "2")
        #expect(pod.metadata?.annotations?[Self.composed] == "a")
        #expect(pod.metadata?.annotations?[Self.decomposed] == "b")
        #expect(pod.spec?.nodeSelector?[Self.kelvin] == "y")
    }

    @Test("the JSONDecoder fallback reads the string maps again from the bytes, every key kept")
    func fallbackKeepsKeys() throws {
        // The escaped structural key sends the review to JSONDecoder, which alone would merge
        // the two label keys into one.
        let object = #"{"metadata":{"n\u0061me":"p","labels":{"\u212a":"sign","K":"letter","a":"1","a":"2"}}}"#
        let (fast, foundation) = try Self.decoded(object)
        #expect(fast == nil)
        let labels = try #require(foundation?.metadata?.labels)
        #expect(labels == [Self.kelvin: "sign", "K": "letter", "a": "1", "a": "2"])
        #expect(labels["a"] == "2")
        #expect(foundation?.metadata?.name == "p")
    }

    @Test("JSON pointers split and unescape scalar by scalar, even next to combining marks")
    func pointers() throws {
        #expect(try JSONPointer.tokens(of: "/a/\u{301}b") == ["a", "\u{301}b"])
        #expect(try JSONPointer.tokens(of: "/a~1\u{301}") == ["a/\u{301}"])
        #expect(try JSONPointer.tokens(of: "/~0\u{301}") == ["~\u{301}"])
        #expect(JSONPointer.escape("/\u{301}") == "~1\u{301}")
        #expect(try JSONPointer.tokens(of: "/") == [""])
        #expect(try JSONPointer.tokens(of: "//x") == ["", "x"])
    }
}
