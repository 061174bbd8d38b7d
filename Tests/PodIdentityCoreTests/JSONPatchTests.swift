import Foundation
import PodIdentityCore
import Testing

@Suite("JSON Patch", .timeLimit(.minutes(5)))
struct JSONPatchTests {
    @Test(
        "pointer tokens escape ~ and / as RFC 6901 says",
        arguments: [
            ("eks.amazonaws.com/pod-identity", "eks.amazonaws.com~1pod-identity"),
            ("a~b", "a~0b"),
            ("~/", "~0~1"),
            ("plain", "plain"),
        ])
    func escaping(_ token: String, _ escaped: String) throws {
        #expect(JSONPointer.escape(token) == escaped)
        #expect(try JSONPointer.tokens(of: "/" + escaped) == [token])
    }

    @Test("a pointer that does not start with / is refused")
    func badPointer() {
        #expect(throws: JSONPatchError.self) { try JSONPointer.tokens(of: "metadata") }
    }

    @Test("add appends with -, inserts at an index, and sets members")
    func add() throws {
        let document: JSONValue = .object(["list": .array([1, 2]), "map": .object([:])])
        let patch = JSONPatch([
            PatchOperation(path: "/list/-", value: 3),
            PatchOperation(path: "/list/0", value: 0),
            PatchOperation(path: "/map/a~1b", value: "x"),
        ])
        let result = try patch.apply(to: document)
        #expect(result == .object(["list": .array([0, 1, 2, 3]), "map": .object(["a/b": "x"])]))
    }

    @Test("adding below a missing member fails and the whole patch fails")
    func missingParent() {
        let patch = JSONPatch([PatchOperation(path: "/missing/child", value: 1)])
        #expect(throws: JSONPatchError.self) { try patch.apply(to: .object([:])) }
    }

    @Test("a patch serializes to the JSON text kubectl reads back")
    func roundTrip() throws {
        let patch = JSONPatch([
            PatchOperation(path: "/metadata/labels/eks.amazonaws.com~1pod-identity", value: "enabled"),
            PatchOperation(
                path: "/spec/containers/0/env/-", value: .object(["name": "A", "value": "quote\" and \\ and \n"])),
        ])
        #expect(try JSONPatch(parsing: patch.jsonData) == patch)
        #expect(
            patch.jsonString.hasPrefix(
                #"[{"op":"add","path":"/metadata/labels/eks.amazonaws.com~1pod-identity","value":"enabled"}"#))
    }

    @Test("strings with control characters and non-ASCII text survive encoding")
    func stringEscaping() throws {
        let text = "tab\t bell\u{07} é 日本 🚀"
        let encoded = JSONValue.string(text).jsonData
        #expect(try JSONValue.parse(encoded) == .string(text))
        #expect(String(decoding: encoded, as: UTF8.self).contains("\\u0007"))
    }

    @Test(
        "escapes that split a character still encode every byte exactly once",
        arguments: [
            "a\r\nb", "\"\u{301}quoted", "line\n\u{301}", "\\\u{301}", "\u{1F}\u{300}", "plain", "", "\"",
            "ends with a newline\n", "🚀\"🚀\\🚀",
        ])
    func escapingAcrossCharacters(text: String) throws {
        let encoded = JSONValue.string(text).jsonData
        #expect(try JSONValue.parse(encoded) == .string(text))
        let viaFoundation = try JSONDecoder().decode(String.self, from: encoded)
        #expect(Array(viaFoundation.utf8) == Array(text.utf8))
    }
}
