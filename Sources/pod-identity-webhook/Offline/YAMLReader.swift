import CYaml
import Foundation
import PodIdentityCore
import Yams

/// Reads YAML documents as `LosslessJSON` from libyaml's events.
///
/// Not through `Yams.compose`: it refuses a mapping whose keys are only canonically
/// equivalent (`K` and KELVIN SIGN U+212A) as "duplicated keys", because it compares keys as
/// Swift Strings; they are two keys to Kubernetes. Here keys are kept as written, byte for
/// byte. Scalars are resolved with Yams's resolver (YAML 1.1, as kubectl reads YAML: `yes` is
/// true, `0x1F` an integer), and numbers keep their text when JSON can spell them so.
struct YAMLReader {
    /// Nesting deeper than this is refused rather than risking the stack.
    static let maximumDepth = 512

    /// Every document of the stream, in order (an empty document is `null`).
    static func documents(_ text: String) throws(DocumentError) -> [LosslessJSON] {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(DocumentError) in
            var reader = YAMLReader()
            yaml_parser_initialize(&reader.parser)
            defer { yaml_parser_delete(&reader.parser) }
            yaml_parser_set_encoding(&reader.parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&reader.parser, buffer.baseAddress, buffer.count)
            return try reader.stream()
        }
    }

    private var parser = yaml_parser_t()
    private var anchors: [String: LosslessJSON] = [:]

    /// One event, its strings copied out (libyaml's memory is released at once).
    private enum Event {
        case streamStart, streamEnd, documentStart, documentEnd
        case alias(anchor: String)
        case scalar(value: String, anchor: String?, tag: String?, plain: Bool, style: Node.Scalar.Style)
        case sequenceStart(anchor: String?)
        case sequenceEnd
        case mappingStart(anchor: String?)
        case mappingEnd
    }

    private mutating func next() throws(DocumentError) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxError() }
        defer { yaml_event_delete(&event) }
        func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
        switch event.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_DOCUMENT_START_EVENT: return .documentStart
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_ALIAS_EVENT: return .alias(anchor: string(event.data.alias.anchor) ?? "")
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            // A scalar may hold NUL characters: read it by its length.
            let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            return .scalar(
                value: value, anchor: string(scalar.anchor), tag: string(scalar.tag),
                plain: scalar.style == YAML_PLAIN_SCALAR_STYLE,
                style: Node.Scalar.Style(rawValue: numericCast(scalar.style.rawValue)) ?? .any)
        case YAML_SEQUENCE_START_EVENT: return .sequenceStart(anchor: string(event.data.sequence_start.anchor))
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT: return .mappingStart(anchor: string(event.data.mapping_start.anchor))
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        default: return .streamEnd
        }
    }

    private func syntaxError() -> DocumentError {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        let mark = parser.problem_mark
        var message =
            "input is neither valid JSON nor valid YAML: \(problem) at line \(mark.line + 1), column \(mark.column + 1)"
        if let context = parser.context.map({ String(cString: $0) }) { message += " (\(context))" }
        return DocumentError(message)
    }

    private mutating func stream() throws(DocumentError) -> [LosslessJSON] {
        var documents: [LosslessJSON] = []
        while true {
            switch try next() {
            case .streamStart, .documentEnd: continue
            case .documentStart:
                anchors = [:]
                documents.append(try node(try next(), depth: 1))
            default:
                return documents
            }
        }
    }

    private mutating func node(_ event: Event, depth: Int) throws(DocumentError) -> LosslessJSON {
        guard depth <= YAMLReader.maximumDepth else {
            throw DocumentError("input is nested more than \(YAMLReader.maximumDepth) levels deep")
        }
        switch event {
        case .alias(let anchor):
            guard let value = anchors[anchor] else {
                throw DocumentError("input is neither valid JSON nor valid YAML: found undefined alias *\(anchor)")
            }
            return value
        case .scalar(let text, let anchor, let tag, let plain, let style):
            let value = try YAMLReader.scalar(text, tag: YAMLReader.tagName(text, tag: tag, plain: plain), style: style)
            if let anchor { anchors[anchor] = value }
            return value
        case .sequenceStart(let anchor):
            var items: [LosslessJSON] = []
            while true {
                let item = try next()
                if case .sequenceEnd = item { break }
                items.append(try node(item, depth: depth + 1))
            }
            if let anchor { anchors[anchor] = .array(items) }
            return .array(items)
        case .mappingStart(let anchor):
            let value = LosslessJSON.object(try mapping(depth: depth))
            if let anchor { anchors[anchor] = value }
            return value
        default:
            throw DocumentError("input is neither valid JSON nor valid YAML: unexpected YAML event")
        }
    }

    /// A mapping's pairs, keys as written (byte for byte; a repeated key stays repeated).
    /// Merge keys (`<<: *base`, `<<: [*a, *b]`) add the merged mappings' pairs whose keys the
    /// mapping does not have, the first merged mapping winning, as YAML defines them.
    private mutating func mapping(depth: Int) throws(DocumentError) -> [LosslessJSON.Member] {
        var explicit: [LosslessJSON.Member] = []
        var merged: [[LosslessJSON.Member]] = []
        while true {
            let keyEvent = try next()
            if case .mappingEnd = keyEvent { break }
            let key: String
            var isMerge = false
            switch keyEvent {
            case .scalar(let text, let anchor, let tag, let plain, _):
                key = text
                isMerge = YAMLReader.tagName(text, tag: tag, plain: plain) == .merge
                if let anchor { anchors[anchor] = .string(text) }
            case .alias(let anchor):
                switch anchors[anchor] {
                case .string(let text)?, .number(let text)?: key = text
                default: throw DocumentError("input holds a mapping key that is not a string")
                }
            default:
                throw DocumentError("input holds a mapping key that is not a string")
            }
            let value = try node(try next(), depth: depth + 1)
            guard isMerge else {
                explicit.append((key: key, value: value))
                continue
            }
            switch value {
            case .object(let members): merged.append(members)
            case .array(let bases):
                for base in bases {
                    guard case .object(let members) = base else {
                        throw DocumentError("input holds a merge key whose value is not a mapping")
                    }
                    merged.append(members)
                }
            default: throw DocumentError("input holds a merge key whose value is not a mapping")
            }
        }
        var inherited: [LosslessJSON.Member] = []
        for base in merged {
            for member in base
            where !(explicit + inherited).contains(where: { StringMap.sameBytes($0.key, member.key) }) {
                inherited.append(member)
            }
        }
        return inherited + explicit
    }

    /// A scalar's type: its explicit tag, else the resolver's reading of a plain scalar, else
    /// (quoted, literal, folded, or the non-specific `!`) a string.
    private static func tagName(_ text: String, tag: String?, plain: Bool) -> Tag.Name {
        if let tag, tag != "!" { return Tag.Name(rawValue: tag) }
        guard plain, tag == nil else { return .str }
        return Resolver.default.resolveTag(of: Node.scalar(Node.Scalar(text)))
    }

    private static func scalar(_ text: String, tag: Tag.Name, style: Node.Scalar.Style) throws(DocumentError)
        -> LosslessJSON
    {
        let scalar = Node.Scalar(text, Tag(tag), style)
        switch tag {
        case .null:
            return .null
        case .bool:
            guard let flag = Bool.construct(from: scalar) else { throw unrepresentable(text) }
            return .bool(flag)
        case .int:
            if LosslessJSON.isNumberLiteral(text) { return .number(text) }
            guard let integer = Int.construct(from: scalar) else { throw unrepresentable(text) }
            return .number(String(integer))
        case .float:
            if LosslessJSON.isNumberLiteral(text) { return .number(text) }
            guard let number = Double.construct(from: scalar), number.isFinite else { throw unrepresentable(text) }
            return .number("\(number)")
        case .binary:
            throw unrepresentable(text)
        default:
            // Strings, and timestamps, which stay the text they are, as kubectl reads them.
            return .string(text)
        }
    }

    private static func unrepresentable(_ text: String) -> DocumentError {
        DocumentError("input holds values JSON cannot represent: \(text)")
    }
}
