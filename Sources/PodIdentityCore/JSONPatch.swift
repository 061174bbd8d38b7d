import Foundation

/// One RFC 6902 operation. The webhook emits `add`: it appends and inserts, never removes
/// what the pod already has; the one exception, `--proxy-bypass`, replaces a `NO_PROXY` value
/// with itself plus the agent's addresses, right after a `test` of the exact current value.
public struct PatchOperation: Sendable, Hashable {
    public enum Op: String, Sendable, Hashable {
        case add, remove, replace, move, copy, test
    }

    public var op: Op
    /// An RFC 6901 JSON pointer.
    public var path: String
    public var value: JSONValue?
    public var from: String?

    public init(op: Op = .add, path: String, value: JSONValue? = nil, from: String? = nil) {
        self.op = op
        self.path = path
        self.value = value
        self.from = from
    }

    /// The operation as a JSON object, members in the customary order: op, path, value.
    public func write(to out: inout [UInt8]) {
        out.append(contentsOf: #"{"op":""#.utf8)
        out.append(contentsOf: op.rawValue.utf8)
        out.append(contentsOf: #"","path":"#.utf8)
        JSONValue.writeString(path, to: &out)
        if let from {
            out.append(contentsOf: #","from":"#.utf8)
            JSONValue.writeString(from, to: &out)
        }
        if let value {
            out.append(contentsOf: #","value":"#.utf8)
            value.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

/// An RFC 6902 patch document.
public struct JSONPatch: Sendable, Hashable {
    public var operations: [PatchOperation]

    public init(_ operations: [PatchOperation]) {
        self.operations = operations
    }

    public var isEmpty: Bool { operations.isEmpty }

    /// The patch as compact JSON text.
    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }

    public var jsonData: Data { Data(jsonBytes) }

    /// The patch as compact JSON, UTF-8.
    public var jsonBytes: [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(256 * operations.count)
        for (index, operation) in operations.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            operation.write(to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// Reads a patch document (a JSON array of operations).
    public init(parsing data: Data) throws {
        guard case .array(let items) = try JSONValue.parse(data) else {
            throw JSONPatchError("a JSON patch must be a JSON array of operations")
        }
        operations = try items.enumerated().map { index, item in
            guard let opName = item["op"]?.stringValue, let op = PatchOperation.Op(rawValue: opName) else {
                throw JSONPatchError("operation \(index) has no valid \"op\"")
            }
            guard let path = item["path"]?.stringValue else {
                throw JSONPatchError("operation \(index) has no \"path\"")
            }
            return PatchOperation(op: op, path: path, value: item["value"], from: item["from"]?.stringValue)
        }
    }

    /// Applies the patch to `document` as RFC 6902 prescribes; the whole patch fails if one operation does.
    public func apply(to document: JSONValue) throws -> JSONValue {
        var result = document
        for operation in operations {
            let tokens = try JSONPointer.tokens(of: operation.path)
            switch operation.op {
            case .add:
                guard let value = operation.value else { throw JSONPatchError("add to \(operation.path) has no value") }
                try result.add(value, at: tokens[...])
            case .remove:
                _ = try result.remove(at: tokens[...])
            case .replace:
                guard let value = operation.value else {
                    throw JSONPatchError("replace of \(operation.path) has no value")
                }
                _ = try result.remove(at: tokens[...])
                try result.add(value, at: tokens[...])
            case .move, .copy:
                guard let from = operation.from else { throw JSONPatchError("\(operation.op) has no from") }
                let fromTokens = try JSONPointer.tokens(of: from)
                let value =
                    operation.op == .move
                    ? try result.remove(at: fromTokens[...]) : try result.value(at: fromTokens[...])
                try result.add(value, at: tokens[...])
            case .test:
                guard try result.value(at: tokens[...]) == operation.value else {
                    throw JSONPatchError("test of \(operation.path) failed")
                }
            }
        }
        return result
    }
}

/// A patch that cannot be read or applied.
public struct JSONPatchError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// RFC 6901 JSON pointers, handled scalar by scalar: a `/` or `~` followed by a combining
/// mark is still a separator or an escape (`Character`-based splitting and Foundation's
/// searches would see one grapheme and miss it).
public enum JSONPointer {
    /// Escapes one reference token: `~` becomes `~0`, `/` becomes `~1`.
    public static func escape(_ token: String) -> String {
        // Byte checks first: this runs for every label patch, nearly always with nothing to do.
        guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else {
            return token
        }
        var escaped = String.UnicodeScalarView()
        for scalar in token.unicodeScalars {
            switch scalar {
            case "~": escaped.append(contentsOf: "~0".unicodeScalars)
            case "/": escaped.append(contentsOf: "~1".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// Builds a pointer from unescaped tokens.
    public static func path(_ tokens: String...) -> String {
        tokens.map { "/" + escape($0) }.joined()
    }

    /// Splits a pointer into unescaped tokens.
    public static func tokens(of pointer: String) throws -> [String] {
        if pointer.isEmpty { return [] }
        guard pointer.unicodeScalars.first == "/" else {
            throw JSONPatchError("JSON pointer \"\(pointer)\" must start with /")
        }
        var tokens: [String] = []
        var token = String.UnicodeScalarView()
        var scalars = pointer.unicodeScalars.dropFirst()
        while let scalar = scalars.popFirst() {
            switch scalar {
            case "/":
                tokens.append(String(token))
                token = String.UnicodeScalarView()
            case "~" where scalars.first == "0":
                scalars.removeFirst()
                token.append("~")
            case "~" where scalars.first == "1":
                scalars.removeFirst()
                token.append("/")
            default:
                token.append(scalar)
            }
        }
        tokens.append(String(token))
        return tokens
    }
}

extension JSONValue {
    fileprivate func value(at tokens: ArraySlice<String>) throws -> JSONValue {
        guard let token = tokens.first else { return self }
        switch self {
        case .object(let members):
            guard let child = members[token] else { throw JSONPatchError("no member \"\(token)\"") }
            return try child.value(at: tokens.dropFirst())
        case .array(let items):
            guard let index = Int(token), items.indices.contains(index) else {
                throw JSONPatchError("no array index \"\(token)\"")
            }
            return try items[index].value(at: tokens.dropFirst())
        default:
            throw JSONPatchError("cannot descend into a scalar at \"\(token)\"")
        }
    }

    fileprivate mutating func add(_ value: JSONValue, at tokens: ArraySlice<String>) throws {
        guard let token = tokens.first else {
            self = value
            return
        }
        let last = tokens.count == 1
        switch self {
        case .object(var members):
            if last {
                members[token] = value
            } else {
                guard var child = members[token] else { throw JSONPatchError("no member \"\(token)\"") }
                try child.add(value, at: tokens.dropFirst())
                members[token] = child
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

    fileprivate mutating func remove(at tokens: ArraySlice<String>) throws -> JSONValue {
        guard let token = tokens.first else { throw JSONPatchError("cannot remove the whole document") }
        let last = tokens.count == 1
        switch self {
        case .object(var members):
            guard var child = members[token] else { throw JSONPatchError("no member \"\(token)\"") }
            let removed: JSONValue
            if last {
                removed = child
                members[token] = nil
            } else {
                removed = try child.remove(at: tokens.dropFirst())
                members[token] = child
            }
            self = .object(members)
            return removed
        case .array(var items):
            guard let index = Int(token), items.indices.contains(index) else {
                throw JSONPatchError("no array index \"\(token)\"")
            }
            let removed: JSONValue
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
