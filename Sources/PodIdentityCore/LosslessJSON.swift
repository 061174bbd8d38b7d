import Foundation

/// A JSON document exactly as its text gave it, for `mutate`: object members in order with
/// every key kept and compared byte for byte, and numbers as their literal text.
///
/// `JSONValue` is the webhook's own values (patch values, answers): its objects are Swift
/// dictionaries, which merge keys that are only canonically equivalent (`K` and KELVIN SIGN
/// U+212A; `é` and `e` + U+0301: two keys to Kubernetes), and its numbers are `Int64` or
/// `Double`, which rewrite a literal such as `5.19647714921921e+16`. A pod read, patched and
/// printed through this type keeps every key and every number of its input.
public enum LosslessJSON: Sendable {
    case null
    case bool(Bool)
    /// The number's literal text, always valid RFC 8259 number syntax.
    case number(String)
    case string(String)
    case array([LosslessJSON])
    /// The members in document order. A key given twice (as some documents do) is kept twice;
    /// reading it gives the last value, as Go's decoder and Kubernetes keep it.
    case object([Member])

    public typealias Member = (key: String, value: LosslessJSON)

    /// Nesting deeper than this is refused (what `JSONDecoder` allows).
    public static let maximumDepth = 512

    // MARK: Reading

    /// Parses JSON text (RFC 8259, UTF-8; surrounding white space allowed).
    public static func parse(_ data: Data) throws(LosslessJSONError) -> LosslessJSON {
        let parsed: Result<LosslessJSON, LosslessJSONError> = data.withUnsafeBytes { raw in
            var reader = Reader(parser: FastReviewDecoder.Parser(bytes: raw.bindMemory(to: UInt8.self)))
            do throws(FastReviewDecoder.Fallback) {
                reader.parser.skipWhitespace()
                let value = try reader.value(depth: 1)
                reader.parser.skipWhitespace()
                guard reader.parser.atEnd else { throw FastReviewDecoder.Fallback() }
                return .success(value)
            } catch {
                return .failure(
                    LosslessJSONError("input is not valid JSON (at byte \(reader.parser.index))"))
            }
        }
        return try parsed.get()
    }

    /// Whether `text` is one JSON number literal (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`).
    public static func isNumberLiteral(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var parser = FastReviewDecoder.Parser(bytes: bytes)
            do throws(FastReviewDecoder.Fallback) {
                try parser.number()
            } catch {
                return false
            }
            return !bytes.isEmpty && parser.atEnd
        }
    }

    private struct Reader {
        var parser: FastReviewDecoder.Parser

        mutating func value(depth: Int) throws(FastReviewDecoder.Fallback) -> LosslessJSON {
            guard depth <= LosslessJSON.maximumDepth else { throw FastReviewDecoder.Fallback() }
            parser.skipWhitespace()
            switch parser.peek() {
            case UInt8(ascii: "{"):
                parser.index += 1
                var members: [Member] = []
                parser.skipWhitespace()
                if parser.peek() == UInt8(ascii: "}") {
                    parser.index += 1
                    return .object(members)
                }
                while true {
                    parser.skipWhitespace()
                    let key = try parser.string()
                    try parser.expect(UInt8(ascii: ":"))
                    members.append((key: key, value: try value(depth: depth + 1)))
                    parser.skipWhitespace()
                    switch parser.peek() {
                    case UInt8(ascii: ","): parser.index += 1
                    case UInt8(ascii: "}"):
                        parser.index += 1
                        return .object(members)
                    default: throw FastReviewDecoder.Fallback()
                    }
                }
            case UInt8(ascii: "["):
                parser.index += 1
                var items: [LosslessJSON] = []
                parser.skipWhitespace()
                if parser.peek() == UInt8(ascii: "]") {
                    parser.index += 1
                    return .array(items)
                }
                while true {
                    items.append(try value(depth: depth + 1))
                    parser.skipWhitespace()
                    switch parser.peek() {
                    case UInt8(ascii: ","): parser.index += 1
                    case UInt8(ascii: "]"):
                        parser.index += 1
                        return .array(items)
                    default: throw FastReviewDecoder.Fallback()
                    }
                }
            case UInt8(ascii: "\""): return .string(try parser.string())
            case UInt8(ascii: "t"):
                try parser.literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try parser.literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try parser.literal("null")
                return .null
            default:
                let start = parser.index
                try parser.number()
                return .number(parser.text(start, parser.index))
            }
        }
    }

    // MARK: Access

    /// The value of the last member whose key has the bytes of `key`.
    public subscript(key: String) -> LosslessJSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { StringMap.sameBytes($0.key, key) }?.value
    }

    /// The value of the first member whose key has the bytes of `key` (the one `JSONDecoder`
    /// reads when a key is repeated).
    public func first(_ key: String) -> LosslessJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { StringMap.sameBytes($0.key, key) }?.value
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// An object of strings as a `StringMap` (nil when any value is not a string).
    public var stringMap: StringMap? {
        guard case .object(let members) = self else { return nil }
        var map = StringMap()
        map.entries.reserveCapacity(members.count)
        for member in members {
            guard case .string(let value) = member.value else { return nil }
            map.entries.append((key: member.key, value: value))
        }
        return map
    }

    // MARK: Writing

    /// Compact JSON, members in document order, numbers as given.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let value): JSONValue.writeString(value, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    public var jsonData: Data { Data(jsonBytes) }
    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }

    /// Indented JSON (four spaces), keys sorted by their bytes (so the same keys always print
    /// in the same order, whatever their normalization), numbers as given, a final newline.
    public var prettyJSON: String {
        var out: [UInt8] = []
        writePretty(indent: 0, to: &out)
        out.append(UInt8(ascii: "\n"))
        return String(decoding: out, as: UTF8.self)
    }

    private func writePretty(indent: Int, to out: inout [UInt8]) {
        let pad = [UInt8](repeating: UInt8(ascii: " "), count: indent + 4)
        let closing = [UInt8](repeating: UInt8(ascii: " "), count: indent)
        switch self {
        case .array(let items) where !items.isEmpty:
            out.append(contentsOf: "[\n".utf8)
            for (index, item) in items.enumerated() {
                out.append(contentsOf: pad)
                item.writePretty(indent: indent + 4, to: &out)
                out.append(contentsOf: (index < items.count - 1 ? ",\n" : "\n").utf8)
            }
            out.append(contentsOf: closing)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(contentsOf: "{\n".utf8)
            for (index, member) in LosslessJSON.sortedByKeyBytes(members).enumerated() {
                out.append(contentsOf: pad)
                JSONValue.writeString(member.key, to: &out)
                out.append(contentsOf: ": ".utf8)
                member.value.writePretty(indent: indent + 4, to: &out)
                out.append(contentsOf: (index < members.count - 1 ? ",\n" : "\n").utf8)
            }
            out.append(contentsOf: closing)
            out.append(UInt8(ascii: "}"))
        default:
            write(to: &out)
        }
    }

    /// Members ordered by their keys' UTF-8 bytes (Unicode scalar order); a repeated key keeps
    /// its members' order.
    public static func sortedByKeyBytes(_ members: [Member]) -> [Member] {
        members.enumerated().sorted { lhs, rhs in
            if lhs.element.key.utf8.elementsEqual(rhs.element.key.utf8) { return lhs.offset < rhs.offset }
            return lhs.element.key.utf8.lexicographicallyPrecedes(rhs.element.key.utf8)
        }.map(\.element)
    }

    // MARK: JSONValue

    /// A value the webhook built (a patch value), members in sorted order as `JSONValue`
    /// writes them.
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .integer, .number: self = .number(value.jsonString)
        case .string(let text): self = .string(text)
        case .array(let items): self = .array(items.map(LosslessJSON.init))
        case .object(let members):
            self = .object(
                LosslessJSON.sortedByKeyBytes(members.map { (key: $0.key, value: LosslessJSON($0.value)) }))
        }
    }

    /// The document as a `JSONValue`: what tests and helpers built on `JSONValue` read. Lossy
    /// where this type is not (canonically equivalent keys merge, numbers become `Int64` or
    /// `Double`).
    public var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .number(let text):
            if let integer = Int64(text) { return .integer(integer) }
            return .number(Double(text) ?? .nan)
        case .string(let text): return .string(text)
        case .array(let items): return .array(items.map(\.jsonValue))
        case .object(let members):
            var dictionary: [String: JSONValue] = [:]
            for member in members { dictionary[member.key] = member.value.jsonValue }
            return .object(dictionary)
        }
    }

    // MARK: Comparing

    /// Whether two documents hold the same values, numbers compared by their value rather than
    /// their spelling (`1.0` and `1`, `5.19647714921921e+16` and `51964771492192100`): how a
    /// document compares after it went through a tool that rewrites numbers (kubectl).
    public func hasSameValues(as other: LosslessJSON) -> Bool {
        LosslessJSON.equal(self, other) { lhs, rhs in
            if lhs == rhs { return true }
            if let left = Int64(lhs), let right = Int64(rhs) { return left == right }
            guard let left = Double(lhs), let right = Double(rhs) else { return false }
            return left == right
        }
    }

    fileprivate static func equal(
        _ lhs: LosslessJSON, _ rhs: LosslessJSON, numbers: (String, String) -> Bool
    ) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let left), .bool(let right)): return left == right
        case (.number(let left), .number(let right)): return numbers(left, right)
        case (.string(let left), .string(let right)): return StringMap.sameBytes(left, right)
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { equal($0, $1, numbers: numbers) }
        case (.object(let left), .object(let right)):
            guard left.count == right.count else { return false }
            let leftSorted = sortedByKeyBytes(left), rightSorted = sortedByKeyBytes(right)
            return zip(leftSorted, rightSorted).allSatisfy {
                StringMap.sameBytes($0.key, $1.key) && equal($0.value, $1.value, numbers: numbers)
            }
        default: return false
        }
    }
}

extension LosslessJSON: Equatable {
    /// The same document: strings and keys byte for byte, numbers spelled the same, members
    /// in any order (JSON objects are unordered), array items in order.
    public static func == (lhs: LosslessJSON, rhs: LosslessJSON) -> Bool {
        equal(lhs, rhs, numbers: ==)
    }
}

extension LosslessJSON:
    ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .number(String(value)) }
    public init(arrayLiteral elements: LosslessJSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, LosslessJSON)...) {
        self = .object(elements.map { (key: $0.0, value: $0.1) })
    }
}

/// Text that is not JSON.
public struct LosslessJSONError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Patching

extension JSONPatch {
    /// Applies the patch to a document as RFC 6902 prescribes, keys compared byte for byte;
    /// the whole patch fails if one operation does. An `add` onto an existing key replaces
    /// its value where it stands; a new key is appended after the others.
    public func apply(to document: LosslessJSON) throws -> LosslessJSON {
        var result = document
        for operation in operations {
            let tokens = try JSONPointer.tokens(of: operation.path)
            switch operation.op {
            case .add:
                guard let value = operation.value else { throw JSONPatchError("add to \(operation.path) has no value") }
                try result.add(LosslessJSON(value), at: tokens[...])
            case .remove:
                _ = try result.remove(at: tokens[...])
            case .replace:
                guard let value = operation.value else {
                    throw JSONPatchError("replace of \(operation.path) has no value")
                }
                _ = try result.value(at: tokens[...])
                try result.add(LosslessJSON(value), at: tokens[...])
            case .move, .copy:
                guard let from = operation.from else { throw JSONPatchError("\(operation.op) has no from") }
                let fromTokens = try JSONPointer.tokens(of: from)
                let value =
                    operation.op == .move
                    ? try result.remove(at: fromTokens[...]) : try result.value(at: fromTokens[...])
                try result.add(value, at: tokens[...])
            case .test:
                guard let value = operation.value, try result.value(at: tokens[...]) == LosslessJSON(value) else {
                    throw JSONPatchError("test of \(operation.path) failed")
                }
            }
        }
        return result
    }
}

extension LosslessJSON {
    fileprivate static func memberIndex(_ members: [Member], _ token: String) -> Int? {
        members.lastIndex { StringMap.sameBytes($0.key, token) }
    }

    fileprivate func value(at tokens: ArraySlice<String>) throws -> LosslessJSON {
        guard let token = tokens.first else { return self }
        switch self {
        case .object(let members):
            guard let index = Self.memberIndex(members, token) else { throw JSONPatchError("no member \"\(token)\"") }
            return try members[index].value.value(at: tokens.dropFirst())
        case .array(let items):
            guard let index = Int(token), items.indices.contains(index) else {
                throw JSONPatchError("no array index \"\(token)\"")
            }
            return try items[index].value(at: tokens.dropFirst())
        default:
            throw JSONPatchError("cannot descend into a scalar at \"\(token)\"")
        }
    }

    fileprivate mutating func add(_ value: LosslessJSON, at tokens: ArraySlice<String>) throws {
        guard let token = tokens.first else {
            self = value
            return
        }
        let last = tokens.count == 1
        switch self {
        case .object(var members):
            let index = Self.memberIndex(members, token)
            if last {
                if let index {
                    members[index].value = value
                } else {
                    members.append((key: token, value: value))
                }
            } else {
                guard let index else { throw JSONPatchError("no member \"\(token)\"") }
                try members[index].value.add(value, at: tokens.dropFirst())
            }
            self = .object(members)
        case .array(var items):
            if last {
                if token == "-" {
                    items.append(value)
                } else if let index = Int(token), index >= 0, index <= items.count {
                    items.insert(value, at: index)
                } else {
                    throw JSONPatchError("array index \"\(token)\" out of range")
                }
            } else {
                guard let index = Int(token), items.indices.contains(index) else {
                    throw JSONPatchError("no array index \"\(token)\"")
                }
                try items[index].add(value, at: tokens.dropFirst())
            }
            self = .array(items)
        default:
            throw JSONPatchError("cannot add below a scalar at \"\(token)\"")
        }
    }

    fileprivate mutating func remove(at tokens: ArraySlice<String>) throws -> LosslessJSON {
        guard let token = tokens.first else { throw JSONPatchError("cannot remove the whole document") }
        let last = tokens.count == 1
        switch self {
        case .object(var members):
            guard let index = Self.memberIndex(members, token) else { throw JSONPatchError("no member \"\(token)\"") }
            let removed: LosslessJSON
            if last {
                removed = members.remove(at: index).value
            } else {
                removed = try members[index].value.remove(at: tokens.dropFirst())
            }
            self = .object(members)
            return removed
        case .array(var items):
            guard let index = Int(token), items.indices.contains(index) else {
                throw JSONPatchError("no array index \"\(token)\"")
            }
            let removed: LosslessJSON
            if last {
                removed = items.remove(at: index)
            } else {
                removed = try items[index].remove(at: tokens.dropFirst())
            }
            self = .array(items)
            return removed
        default:
            throw JSONPatchError("cannot remove below a scalar at \"\(token)\"")
        }
    }
}
