import Foundation
import PodIdentityCore
import Yams

/// Reading and writing Kubernetes objects as YAML or JSON, for `mutate` and the tests.
public enum Documents {
    /// Parses YAML or JSON (JSON is tried first when the text starts with `{` or `[`).
    public static func parse(_ data: Data) throws(DocumentError) -> JSONValue {
        let trimmed = data.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
        if let first = trimmed.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            if let value = try? JSONValue.parse(data) { return value }
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DocumentError("input is not UTF-8 text")
        }
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw DocumentError("input is neither valid JSON nor valid YAML: \(error)")
        }
        guard let loaded else { throw DocumentError("input is empty") }
        guard let value = JSONValue(any: loaded) else {
            throw DocumentError("input holds values JSON cannot represent")
        }
        return value
    }

    /// Every object of the input: a multi-document YAML stream (`---`), one JSON value, and the
    /// items of a `kind: List` (as `kubectl get -o yaml` prints several objects), flattened.
    public static func parseAll(_ data: Data) throws(DocumentError) -> [JSONValue] {
        let trimmed = data.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
        var documents: [JSONValue] = []
        if let first = trimmed.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "["),
            let value = try? JSONValue.parse(data)
        {
            documents = [value]
        } else {
            guard let text = String(data: data, encoding: .utf8) else {
                throw DocumentError("input is not UTF-8 text")
            }
            do {
                // The sequence stops at a parse error and keeps it in `error`.
                var sequence = try Yams.load_all(yaml: text)
                while let loaded = sequence.next() {
                    guard let value = JSONValue(any: loaded) else {
                        throw DocumentError("input holds values JSON cannot represent")
                    }
                    documents.append(value)
                }
                if let error = sequence.error { throw error }
            } catch let error as DocumentError {
                throw error
            } catch {
                throw DocumentError("input is neither valid JSON nor valid YAML: \(error)")
            }
        }
        let flattened = documents.flatMap { document -> [JSONValue] in
            if document == .null { return [] }
            if document["kind"]?.stringValue == "List", case .array(let items)? = document["items"] { return items }
            return [document]
        }
        guard !flattened.isEmpty else { throw DocumentError("input is empty") }
        return flattened
    }

    /// YAML with sorted keys, as `kubectl get -o yaml` prints.
    public static func yaml(_ value: JSONValue) throws -> String {
        try Yams.dump(object: value.anyValue, indent: 2, width: -1, allowUnicode: true, sortKeys: true)
    }

    /// Indented JSON with sorted keys, as `kubectl get -o json` prints.
    public static func prettyJSON(_ value: JSONValue) -> String {
        var out = ""
        write(value, indent: 0, to: &out)
        return out + "\n"
    }

    private static func write(_ value: JSONValue, indent: Int, to out: inout String) {
        let pad = String(repeating: " ", count: indent + 4), closing = String(repeating: " ", count: indent)
        switch value {
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (index, item) in items.enumerated() {
                out += pad
                write(item, indent: indent + 4, to: &out)
                out += index < items.count - 1 ? ",\n" : "\n"
            }
            out += closing + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            for (index, key) in members.keys.sorted().enumerated() {
                out += pad
                JSONValue.writeString(key, to: &out)
                out += ": "
                write(members[key]!, indent: indent + 4, to: &out)
                out += index < members.count - 1 ? ",\n" : "\n"
            }
            out += closing + "}"
        default:
            value.write(to: &out)
        }
    }
}

public struct DocumentError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension JSONValue {
    /// The value as Foundation types, for YAML emitters.
    public var anyValue: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .integer(let value): Int(value)
        case .number(let value): value
        case .string(let value): value
        case .array(let items): items.map(\.anyValue)
        case .object(let members): members.mapValues(\.anyValue)
        }
    }
}
