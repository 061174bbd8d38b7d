import Foundation
import PodIdentityCore
import Yams

/// Reading and writing Kubernetes objects as YAML or JSON, for `mutate` and the tests.
///
/// Documents are `LosslessJSON`: every key of the input is kept and compared byte for byte
/// (two keys that are only canonically equivalent, `K` and KELVIN SIGN U+212A, stay two), and
/// every number keeps its literal text, so what `mutate` prints holds the input unchanged
/// around what the patch adds. A YAML number JSON cannot spell as written (`0x1F`, `1_000`,
/// `+5`, `.5`) is written in JSON's spelling of the same value; `.inf` and `.nan` are refused.
public enum Documents {
    /// Parses one YAML or JSON document (JSON is tried first when the text starts with `{` or `[`).
    public static func parse(_ data: Data) throws(DocumentError) -> LosslessJSON {
        if startsLikeJSON(data), let value = try? LosslessJSON.parse(data) { return value }
        let documents = try YAMLReader.documents(try utf8Text(data))
        guard let document = documents.first else { throw DocumentError("input is empty") }
        guard documents.count == 1 else {
            throw DocumentError("input holds \(documents.count) documents, expected one")
        }
        return document
    }

    /// Every object of the input: a multi-document YAML stream (`---`), one JSON value, and the
    /// items of a `kind: List` (as `kubectl get -o yaml` prints several objects), flattened.
    public static func parseAll(_ data: Data) throws(DocumentError) -> [LosslessJSON] {
        let documents: [LosslessJSON]
        if startsLikeJSON(data), let value = try? LosslessJSON.parse(data) {
            documents = [value]
        } else {
            documents = try YAMLReader.documents(try utf8Text(data))
        }
        let flattened = documents.flatMap { document -> [LosslessJSON] in
            if document == .null { return [] }
            if document["kind"]?.stringValue == "List", case .array(let items)? = document["items"] { return items }
            return [document]
        }
        guard !flattened.isEmpty else { throw DocumentError("input is empty") }
        return flattened
    }

    private static func startsLikeJSON(_ data: Data) -> Bool {
        let first = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
    }

    private static func utf8Text(_ data: Data) throws(DocumentError) -> String {
        guard let text = String(data: data, encoding: .utf8) else { throw DocumentError("input is not UTF-8 text") }
        return text
    }

    // MARK: Out

    /// YAML with keys sorted by their bytes, as `kubectl get -o yaml` sorts them; numbers as
    /// given; strings quoted when they would otherwise read as another type.
    public static func yaml(_ value: LosslessJSON) throws -> String {
        try Yams.serialize(node: node(value), indent: 2, width: -1, allowUnicode: true)
    }

    static func node(_ value: LosslessJSON) -> Node {
        switch value {
        case .null: return .scalar(Node.Scalar("null", Tag(.null), .plain))
        case .bool(let flag): return .scalar(Node.Scalar(flag ? "true" : "false", Tag(.bool), .plain))
        case .number(let text): return .scalar(Node.Scalar(text, .implicit, .plain))
        case .string(let text): return stringNode(text)
        case .array(let items): return .sequence(Node.Sequence(items.map(node)))
        case .object(let members):
            // Sorted here: Yams's own sorting compares keys as Swift Strings (canonical
            // equivalence) and would print one of two equivalent keys twice.
            return .mapping(
                Node.Mapping(LosslessJSON.sortedByKeyBytes(members).map { (stringNode($0.key), node($0.value)) }))
        }
    }

    /// A string that reads back as this string: plain when YAML would read it so, else quoted
    /// (`"123"`, `"true"`, `"null"`).
    private static func stringNode(_ text: String) -> Node {
        let plain = Node.scalar(Node.Scalar(text))
        guard Resolver.default.resolveTag(of: plain) == .str else {
            return .scalar(Node.Scalar(text, Tag(.str), .singleQuoted))
        }
        return plain
    }

    /// Indented JSON with keys sorted by their bytes, numbers as given.
    public static func prettyJSON(_ value: LosslessJSON) -> String {
        value.prettyJSON
    }
}

public struct DocumentError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
