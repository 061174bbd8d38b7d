import Foundation
import Testing

@testable import PodIdentityCore

/// The fast decoder against `JSONDecoder`: whenever the fast path answers, its answer must be
/// the one `JSONDecoder` gives; and on real pods it must answer, or it speeds nothing up.
@Suite("FastReviewDecoder")
struct FastReviewDecoderTests {
    static func fast(_ body: Data) -> AdmissionReview? {
        body.withUnsafeBytes { FastReviewDecoder.decode($0.bindMemory(to: UInt8.self)) }
    }

    static func foundation(_ body: Data) -> AdmissionReview? {
        try? AdmissionReviewer.decodeWithFoundation(body)
    }

    @Test(
        "every fixture's review decodes on the fast path to what JSONDecoder gives, or falls back when the pod is unreadable",
        arguments: Fixture.all)
    func fixtures(fixture: Fixture) throws {
        let body = try fixture.reviewBody()
        let foundation = try #require(Self.foundation(body))
        if foundation.request?.object?.problem != nil {
            // A pod JSONDecoder cannot read: its warning must come from JSONDecoder.
            #expect(Self.fast(body) == nil)
        } else {
            let fast = try #require(Self.fast(body), "the fast path fell back on a readable pod")
            #expect(fast == foundation)
        }
    }

    static let review =
        #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","#
        + #""kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"ns","operation":"CREATE","object":"#

    static func body(object: String, tail: String = "}}") -> Data { Data((review + object + tail).utf8) }

    @Test(
        "documents the fast path reads itself agree with JSONDecoder",
        arguments: [
            #"{"metadata":{"name":"a\"b\\c\/d\u00e9\ud83d\ude80\n","labels":{"k":"v\t"}},"spec":{}}"#,
            #"{"metadata":null,"spec":{"serviceAccountName":null,"containers":null,"volumes":[]}}"#,
            #" { "spec" : { "containers" : [ { "name" : "a" , "env" : [ { "name" : "X" , "value" : "1" } ] } ] } } "#,
            #"{"spec":{"containers":[{"name":"a","ports":[{"containerPort":-0.5e+10},{"containerPort":0}],"x":[true,false,null,{}]}]}}"#,
            #"{"spec":{"containers":[{"env":[{}],"volumeMounts":[{"name":null}]}],"nodeSelector":{"kubernetes.io/os":"windows"}}}"#,
            #"{"metadata":{"annotations":{"a":"ü日本🚀"}},"apiVersion":"v1","kind":"Pod"}"#,
            #"{"spec":{"containers":[{"name":"a","x":{"k":1,"k":2}}]},"status":{"k":[],"k":{}}}"#,
        ])
    func agreesOnValidDocuments(object: String) throws {
        let body = Self.body(object: object)
        let fast = try #require(Self.fast(body))
        #expect(fast == Self.foundation(body))
    }

    @Test(
        "documents that need JSONDecoder's judgement fall back",
        arguments: [
            #"{"metadata":{"name":"a","name":"b"}}"#,  // duplicate key
            #"{"metadata":{"labels":{"a":"1","a":"2"}}}"#,
            #"{"spec":{"containers":[{"name":"a","env":[],"env":[]}]}}"#,
            #"{"metadata":{"n\u0061me":"a"}}"#,  // escaped key
            #"{"metadata":{"labels":{"a":null}}}"#,  // null in a string map
            #"{"metadata":{"name":5}}"#,  // wrong type
            #"{"spec":{"containers":[null]}}"#,  // null element
            #"{"spec":{"containers":{}}}"#,  // object for array
            #"{"metadata":{"name":"\ud800"}}"#,  // lone surrogate
            #"{"metadata":{"name":"\udc00x"}}"#,
            #"{"spec":{"x":01}}"#,  // leading zero
            #"{"spec":{"x":1.}}"#,
            #"{"spec":{"x":.5}}"#,
            #"{"spec":{"x":tru}}"#,
            #"{"spec":{"x":"a"#,
            #"{"spec":{"x":"\q"}}"#,
            #"{"spec":{"x":[1,]}}"#,
            #"{"spec":{"x":{"a":1,}}}"#,
            "{\"spec\":{\"x\":\"tab\tinside\"}}",
            "{\"spec\":{\"x\":\"\u{7F}ok\"}}" + "}} trailing",
            String(repeating: "{\"spec\":", count: 70) + "{}" + String(repeating: "}", count: 70),
        ])
    func fallsBack(object: String) {
        let body = Self.body(object: object)
        #expect(Self.fast(body) == nil)
    }

    @Test("invalid UTF-8, a byte-order mark and UTF-16 fall back")
    func encodings() {
        var invalid = Array(Self.body(object: #"{"metadata":{"name":"ab"}}"#))
        invalid[invalid.firstIndex(of: UInt8(ascii: "b"))!] = 0xC0
        #expect(Self.fast(Data(invalid)) == nil)
        #expect(Self.fast(Data([0xEF, 0xBB, 0xBF]) + Self.body(object: "{}")) == nil)
        let utf16 = Self.body(object: "{}").withUnsafeBytes { String(decoding: $0, as: UTF8.self) }.data(using: .utf16)!
        #expect(Self.fast(utf16) == nil)
    }

    /// A fixed-seed generator, so a failure names a case that can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("randomly damaged reviews: whenever the fast path answers, JSONDecoder answers the same")
    func damagedReviews() throws {
        let original = Array(
            try #require(Fixture.all.first { $0.name.contains("thirty") } ?? Fixture.all.first).reviewBody())
        var random = SplitMix64(state: 0x5EED)
        let alphabet = Array(#"{}[]",:\"0123456789-+.eEtrufalsn u\ "#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xA9, 0xFF]
        var answered = 0
        for round in 0..<3_000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[position] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: position)
                default: bytes.insert(alphabet.randomElement(using: &random)!, at: position)
                }
            }
            let body = Data(bytes)
            guard let fast = Self.fast(body) else { continue }
            answered += 1
            let foundation = Self.foundation(body)
            #expect(fast == foundation, "round \(round): the fast path and JSONDecoder disagree")
            if fast != foundation { break }
        }
        // Most single-byte damage lands in a skipped string and keeps the document valid.
        #expect(answered > 500)
    }
}
