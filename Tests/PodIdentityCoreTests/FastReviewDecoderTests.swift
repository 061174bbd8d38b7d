import Foundation
import Testing

@testable import PodIdentityCore

/// The fast decoder against `JSONDecoder`: whenever the fast path answers, its answer must be
/// the one `JSONDecoder` gives; and on real pods it must answer, or it speeds nothing up.
@Suite("FastReviewDecoder", .timeLimit(.minutes(5)))
struct FastReviewDecoderTests {
    static func fast(_ body: Data) -> AdmissionReview? {
        body.withUnsafeBytes { FastReviewDecoder.decode($0.bindMemory(to: UInt8.self)) }
    }

    static func foundation(_ body: Data) -> AdmissionReview? {
        try? AdmissionReviewer.decodeWithFoundation(body)
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
            // String maps keep every entry, escaped or repeated keys included, on both paths.
            #"{"metadata":{"labels":{"a":"1","a":"2"},"annotations":{"\u212a":"x","K":"y"}}}"#,
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
}
