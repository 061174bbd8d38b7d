import Foundation
import PodIdentityCore
import Testing

/// The document type `mutate` reads, patches and prints: every key and number as it came.
@Suite("LosslessJSON", .timeLimit(.minutes(2)))
struct LosslessJSONTests {
    static func parse(_ text: String) throws -> LosslessJSON {
        try LosslessJSON.parse(Data(text.utf8))
    }

    @Test(
        "numbers keep their literal text through parse and write",
        arguments: [
            "5.19647714921921e+16", "51964771492192100", "1E400", "-0", "-0.0", "1.0", "1.50", "0.1e-7",
            "12345678901234567890123456789", "-9223372036854775809", "1e+2", "2E-3",
        ])
    func numbers(_ literal: String) throws {
        let document = try Self.parse(#"{"x":\#(literal),"y":[\#(literal)]}"#)
        #expect(document["x"] == .number(literal))
        #expect(document.jsonString == #"{"x":\#(literal),"y":[\#(literal)]}"#)
        #expect(document.prettyJSON.contains(": \(literal),\n"))
        #expect(LosslessJSON.isNumberLiteral(literal))
    }

    @Test(
        "number literal syntax is RFC 8259's",
        arguments: ["01", "1.", ".5", "+1", "1e", "0x1F", "1_000", "", "-", "NaN"])
    func notNumbers(_ text: String) throws {
        #expect(!LosslessJSON.isNumberLiteral(text))
        #expect(throws: LosslessJSONError.self) { try Self.parse(#"{"x":\#(text)}"#) }
    }

    @Test("keys that are only canonically equivalent stay two members; a repeated key stays repeated")
    func keys() throws {
        let document = try Self.parse(#"{"K":1,"\u212a":2,"caf\u00e9":3,"cafe\u0301":4,"a":5,"a":6}"#)
        guard case .object(let members) = document else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["K", "\u{212A}", "caf\u{E9}", "cafe\u{301}", "a", "a"])
        #expect(members.map { Array($0.key.utf8) }[1] == Array("\u{212A}".utf8))
        #expect(document["K"] == 1)
        #expect(document["\u{212A}"] == 2)
        #expect(document["a"] == 6)
        #expect(document.first("a") == 5)
        #expect(document.jsonValue["K"] != nil, "the lossy view merges, which is why it is not used to print")
    }

    @Test("equality: byte-for-byte keys and strings, literal numbers, members in any order")
    func equality() throws {
        #expect(try Self.parse(#"{"a":1,"b":"x"}"#) == Self.parse(#"{"b":"x","a":1}"#))
        #expect(try Self.parse(#"{"K":1}"#) != Self.parse(#"{"\u212a":1}"#))
        #expect(try Self.parse(#"["caf\u00e9"]"#) != Self.parse(#"["cafe\u0301"]"#))
        #expect(try Self.parse("[1.0]") != Self.parse("[1]"))
        #expect(try Self.parse("[1.0]").hasSameValues(as: Self.parse("[1]")))
        #expect(try Self.parse("[5.19647714921921e+16]").hasSameValues(as: Self.parse("[51964771492192100]")))
        #expect(try !Self.parse("[2]").hasSameValues(as: Self.parse("[3]")))
        #expect(try !Self.parse(#"{"K":1}"#).hasSameValues(as: Self.parse(#"{"\u212a":1}"#)))
        #expect(try Self.parse("[1,2]") != Self.parse("[2,1]"))
    }

    @Test("strings and escapes read as JSONDecoder reads them; invalid text and deep nesting are refused")
    func syntax() throws {
        #expect(try Self.parse(#" "a\"b\\c\/d\u00e9\ud83d\ude80\n" "#) == .string("a\"b\\c/d\u{E9}\u{1F680}\n"))
        #expect(try Self.parse("[true,false,null,{},[]]") == [true, false, .null, .object([]), []])
        for bad in ["", "{", #"{"a"}"#, "[1,]", #"{"a":1,}"#, "tru", #""\ud800""#, "[1] x", "\u{1}"] {
            #expect(throws: LosslessJSONError.self, "\(bad)") { try Self.parse(bad) }
        }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: LosslessJSONError.self) { try Self.parse(deep) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: Never.self) { try Self.parse(fine) }
    }

    @Test("a patch applies with byte-compared keys: an equivalent key is another member, the rest is untouched")
    func patch() throws {
        let pod = try Self.parse(
            #"{"metadata":{"labels":{"\u212a":"sign"}},"spec":{"x":5.19647714921921e+16,"containers":[{"name":"a"}]}}"#)
        let patch = JSONPatch([
            PatchOperation(path: "/metadata/labels/K", value: "letter"),
            PatchOperation(path: "/metadata/labels/\u{212A}", value: "sign2"),
            PatchOperation(path: "/spec/containers/0/env", value: .array([.object(["name": "A", "value": "1"])])),
            PatchOperation(path: "/spec/volumes", value: .array([])),
        ])
        let result = try patch.apply(to: pod)
        let expected =
            "{\"metadata\":{\"labels\":{\"\u{212A}\":\"sign2\",\"K\":\"letter\"}},"
            + #""spec":{"x":5.19647714921921e+16,"containers":[{"name":"a","env":[{"name":"A","value":"1"}]}],"#
            + #""volumes":[]}}"#
        #expect(result.jsonString == expected)
        #expect(throws: JSONPatchError.self) {
            try JSONPatch([PatchOperation(path: "/metadata/annotations/k", value: "v")]).apply(to: pod)
        }
    }

    @Test("pretty JSON sorts keys by their bytes, keeps both equivalent keys and every number")
    func pretty() throws {
        let document = try Self.parse(#"{"b":{"\u212a":1.50,"K":-0},"a":[],"c":{}}"#)
        #expect(
            document.prettyJSON == """
                {
                    "a": [],
                    "b": {
                        "K": -0,
                        "\u{212A}": 1.50
                    },
                    "c": {}
                }

                """)
    }

    @Test("a JSONValue becomes a document with its members sorted and its numbers as JSONValue writes them")
    func fromJSONValue() {
        let value = JSONValue.object(["b": .integer(79200), "a": .array([.bool(true), .null, .number(0.5)])])
        #expect(LosslessJSON(value).jsonString == #"{"a":[true,null,0.5],"b":79200}"#)
    }
}
