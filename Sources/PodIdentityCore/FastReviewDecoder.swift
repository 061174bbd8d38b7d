import Foundation

/// Decodes the fields of an `AdmissionReview` that the webhook reads in one pass over the
/// bytes, validating the whole document's JSON syntax and skipping everything else.
///
/// `JSONDecoder` with `Codable` cost most of a review's CPU (perf: a third of the server's
/// time for a 6 KB pod), nearly all of it in the machinery, not the scanning. This decoder
/// is only a fast path: it answers nil, and the review goes through `JSONDecoder`, for
/// anything it is not sure `JSONDecoder` would read the same way (invalid JSON, a type that
/// is not the expected one, a null where a value is needed, duplicate or escaped keys in an
/// object whose fields it reads, deep nesting, a lone surrogate). So the errors and warnings
/// users see always come from the one place, and a success here equals a success there (a
/// differential test holds the two to that). String maps (labels, annotations, nodeSelector)
/// keep every entry with its key's bytes, escaped or repeated, and so does the fallback
/// (`AdmissionReviewer.decodeWithFoundation` reads them again from the bytes).
enum FastReviewDecoder {
    /// Nesting deeper than this falls back to `JSONDecoder` (which allows 512 levels).
    static let maximumDepth = 64

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> AdmissionReview? {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        guard let review = parser.review() else { return nil }
        parser.skipWhitespace()
        return parser.atEnd ? review : nil
    }

    /// A bail-out: the document needs `JSONDecoder`'s judgement.
    struct Fallback: Error {}

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ byte: UInt8) throws(Fallback) {
            skipWhitespace()
            guard peek() == byte else { throw Fallback() }
            index += 1
        }

        mutating func review() -> AdmissionReview? {
            do {
                var review = AdmissionReview()
                try object(depth: 1, fields: Fields.review) { (parser: inout Parser, key: Key) throws(Fallback) in
                    switch key {
                    case "apiVersion": review.apiVersion = try parser.optionalString()
                    case "kind": review.kind = try parser.optionalString()
                    case "request": review.request = try parser.isNull() ? nil : parser.request(depth: 2)
                    default: try parser.skipValue(depth: 2)
                    }
                }
                return review
            } catch {
                return nil
            }
        }

        mutating func request(depth: Int) throws(Fallback) -> AdmissionRequest {
            var uid: String?
            var request = AdmissionRequest(uid: "")
            try object(depth: depth, fields: Fields.request) { (parser: inout Parser, key: Key) throws(Fallback) in
                switch key {
                case "uid": uid = try parser.string()
                case "kind":
                    request.kind =
                        try parser.isNull()
                        ? nil
                        : parser.groupVersionKind(depth: depth + 1)
                case "subResource": request.subResource = try parser.optionalString()
                case "namespace": request.namespace = try parser.optionalString()
                case "operation": request.operation = try parser.optionalString()
                case "object":
                    request.object = try parser.isNull() ? nil : PodPayload(pod: parser.pod(depth: depth + 1))
                default: try parser.skipValue(depth: depth + 1)
                }
            }
            guard let uid else { throw Fallback() }
            request.uid = uid
            return request
        }

        mutating func groupVersionKind(depth: Int) throws(Fallback) -> GroupVersionKind {
            var gvk = GroupVersionKind()
            try object(depth: depth, fields: Fields.groupVersionKind) {
                (parser: inout Parser, key: Key) throws(Fallback) in
                switch key {
                case "group": gvk.group = try parser.optionalString()
                case "version": gvk.version = try parser.optionalString()
                case "kind": gvk.kind = try parser.optionalString()
                default: try parser.skipValue(depth: depth + 1)
                }
            }
            return gvk
        }

        mutating func pod(depth: Int) throws(Fallback) -> Pod {
            var pod = Pod()
            try object(depth: depth, fields: Fields.pod) { (parser: inout Parser, key: Key) throws(Fallback) in
                switch key {
                case "metadata": pod.metadata = try parser.isNull() ? nil : parser.objectMeta(depth: depth + 1)
                case "spec": pod.spec = try parser.isNull() ? nil : parser.podSpec(depth: depth + 1)
                default: try parser.skipValue(depth: depth + 1)
                }
            }
            return pod
        }

        mutating func objectMeta(depth: Int) throws(Fallback) -> ObjectMeta {
            var meta = ObjectMeta()
            try object(depth: depth, fields: Fields.objectMeta) { (parser: inout Parser, key: Key) throws(Fallback) in
                switch key {
                case "name": meta.name = try parser.optionalString()
                case "generateName": meta.generateName = try parser.optionalString()
                case "namespace": meta.namespace = try parser.optionalString()
                case "labels": meta.labels = try parser.isNull() ? nil : parser.stringMap(depth: depth + 1)
                case "annotations": meta.annotations = try parser.isNull() ? nil : parser.stringMap(depth: depth + 1)
                default: try parser.skipValue(depth: depth + 1)
                }
            }
            return meta
        }

        mutating func podSpec(depth: Int) throws(Fallback) -> PodSpec {
            var spec = PodSpec()
            try object(depth: depth, fields: Fields.podSpec) { (parser: inout Parser, key: Key) throws(Fallback) in
                switch key {
                case "serviceAccountName": spec.serviceAccountName = try parser.optionalString()
                case "serviceAccount": spec.serviceAccount = try parser.optionalString()
                case "nodeSelector": spec.nodeSelector = try parser.isNull() ? nil : parser.stringMap(depth: depth + 1)
                case "volumes": spec.volumes = try parser.isNull() ? nil : parser.namedList(depth: depth + 1)
                case "containers": spec.containers = try parser.isNull() ? nil : parser.containers(depth: depth + 1)
                case "initContainers":
                    spec.initContainers = try parser.isNull() ? nil : parser.containers(depth: depth + 1)
                default: try parser.skipValue(depth: depth + 1)
                }
            }
            return spec
        }

        mutating func containers(depth: Int) throws(Fallback) -> [Container] {
            var list: [Container] = []
            try array(depth: depth) { (parser: inout Parser) throws(Fallback) in
                var container = Container()
                try parser.object(depth: depth + 1, fields: Fields.container) {
                    (parser: inout Parser, key: Key) throws(Fallback) in
                    switch key {
                    case "name": container.name = try parser.optionalString()
                    case "env":
                        if try !parser.isNull() {
                            (container.env, container.proxyVariables) = try parser.environment(depth: depth + 2)
                        }
                    case "envFrom": container.hasEnvFrom = try parser.hasElements(depth: depth + 2)
                    case "volumeMounts":
                        container.volumeMounts = try parser.isNull() ? nil : parser.namedList(depth: depth + 2)
                    default: try parser.skipValue(depth: depth + 2)
                    }
                }
                list.append(container)
            }
            return list
        }

        mutating func namedList(depth: Int) throws(Fallback) -> [Named] {
            var list: [Named] = []
            try array(depth: depth) { (parser: inout Parser) throws(Fallback) in
                var named = Named(name: nil)
                try parser.object(depth: depth + 1, fields: Fields.named) {
                    (parser: inout Parser, key: Key) throws(Fallback) in
                    if case "name" = key {
                        named.name = try parser.optionalString()
                    } else {
                        try parser.skipValue(depth: depth + 2)
                    }
                }
                list.append(named)
            }
            return list
        }

        /// A string map (labels, annotations, nodeSelector), every entry kept as given: keys are
        /// compared byte for byte later, so two keys that are only canonically equivalent stay
        /// two (a `Dictionary` would merge them). Escaped keys are read, not a reason to fall back.
        mutating func stringMap(depth: Int) throws(Fallback) -> StringMap {
            guard depth <= FastReviewDecoder.maximumDepth else { throw Fallback() }
            var map = StringMap()
            try expect(UInt8(ascii: "{"))
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return map
            }
            while true {
                skipWhitespace()
                let key = try string()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                map.entries.append((key: key, value: try string()))
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return map
                default: throw Fallback()
                }
            }
        }

        // MARK: Structure

        /// An object key, as bytes: either a span of the document or a literal in the code, so
        /// matching a key costs a length check and a memcmp, and no String.
        struct Key: ExpressibleByStringLiteral, @unchecked Sendable {
            let start: UnsafePointer<UInt8>
            let count: Int

            init(stringLiteral value: StaticString) {
                start = value.utf8Start
                count = value.utf8CodeUnitCount
            }

            init(start: UnsafePointer<UInt8>, count: Int) {
                self.start = start
                self.count = count
            }

            static func ~= (pattern: Key, value: Key) -> Bool {
                pattern.count == value.count && memcmp(pattern.start, value.start, pattern.count) == 0
            }

            var text: String { String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self) }
        }

        /// The keys each object type reads: a second occurrence of one of them falls back (which
        /// of two duplicates JSONDecoder keeps is its business); duplicates of other keys are
        /// skipped like any other member, as JSONDecoder does.
        enum Fields {
            static let review: [Key] = ["apiVersion", "kind", "request"]
            static let request: [Key] = ["uid", "kind", "subResource", "namespace", "operation", "object"]
            static let groupVersionKind: [Key] = ["group", "version", "kind"]
            static let pod: [Key] = ["metadata", "spec"]
            static let objectMeta: [Key] = ["name", "generateName", "namespace", "labels", "annotations"]
            static let podSpec: [Key] = [
                "serviceAccountName", "serviceAccount", "nodeSelector", "volumes", "containers", "initContainers",
            ]
            static let container: [Key] = ["name", "env", "volumeMounts", "envFrom"]
            static let named: [Key] = ["name"]
        }

        /// Reads an object, handing each member's key to `member`, which must consume the value.
        /// `fields` are the keys `member` reads (see `Fields`); nil when every key is read.
        mutating func object(
            depth: Int, fields: [Key]?, _ member: (inout Parser, Key) throws(Fallback) -> Void
        ) throws(Fallback) {
            guard depth <= FastReviewDecoder.maximumDepth else { throw Fallback() }
            try expect(UInt8(ascii: "{"))
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            var seen: UInt64 = 0
            while true {
                skipWhitespace()
                let key = try plainKey()
                if let fields, let field = fields.firstIndex(where: { $0 ~= key }) {
                    guard seen & (1 << field) == 0 else { throw Fallback() }
                    seen |= 1 << field
                }
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                try member(&self, key)
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return
                default: throw Fallback()
                }
            }
        }

        /// Reads an array, calling `element` with the parser at each element.
        mutating func array(depth: Int, _ element: (inout Parser) throws(Fallback) -> Void) throws(Fallback) {
            guard depth <= FastReviewDecoder.maximumDepth else { throw Fallback() }
            try expect(UInt8(ascii: "["))
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try element(&self)
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return
                default: throw Fallback()
                }
            }
        }

        /// True, having consumed it, when the next value is `null`.
        mutating func isNull() throws(Fallback) -> Bool {
            skipWhitespace()
            guard peek() == UInt8(ascii: "n") else { return false }
            try literal("null")
            return true
        }

        mutating func optionalString() throws(Fallback) -> String? {
            try isNull() ? nil : string()
        }

        // MARK: Values

        /// Validates and skips any value.
        mutating func skipValue(depth: Int) throws(Fallback) {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "{"):
                guard depth <= FastReviewDecoder.maximumDepth else { throw Fallback() }
                index += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "}") {
                    index += 1
                    return
                }
                while true {
                    skipWhitespace()
                    try skipString()
                    try expect(UInt8(ascii: ":"))
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    switch peek() {
                    case UInt8(ascii: ","): index += 1
                    case UInt8(ascii: "}"):
                        index += 1
                        return
                    default: throw Fallback()
                    }
                }
            case UInt8(ascii: "["):
                try array(depth: depth) { (parser: inout Parser) throws(Fallback) in
                    try parser.skipValue(depth: depth + 1)
                }
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try number()
            }
        }

        mutating func literal(_ word: StaticString) throws(Fallback) {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { throw Fallback() }
            let start = word.utf8Start
            for offset in 0..<count where bytes[index + offset] != start[offset] { throw Fallback() }
            index += count
        }

        /// A number, to RFC 8259's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        mutating func number() throws(Fallback) {
            if peek() == UInt8(ascii: "-") { index += 1 }
            guard let first = peek(), isDigit(first) else { throw Fallback() }
            index += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            if peek() == UInt8(ascii: ".") {
                index += 1
                try requireDigits()
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                try requireDigits()
            }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        mutating func skipDigits() {
            while let byte = peek(), isDigit(byte) { index += 1 }
        }

        mutating func requireDigits() throws(Fallback) {
            guard let byte = peek(), isDigit(byte) else { throw Fallback() }
            skipDigits()
        }

        /// A key without escapes (an escaped key falls back: it may spell a field's name).
        mutating func plainKey() throws(Fallback) -> Key {
            let (start, end, escaped) = try scanString()
            guard !escaped else { throw Fallback() }
            return Key(start: bytes.baseAddress! + start, count: end - start)
        }

        mutating func skipString() throws(Fallback) {
            _ = try scanString()
        }

        /// A string value, unescaped.
        mutating func string() throws(Fallback) -> String {
            skipWhitespace()
            let (start, end, escaped) = try scanString()
            return escaped ? try unescape(start, end) : text(start, end)
        }

        func text(_ start: Int, _ end: Int) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }

        /// Scans a string literal at the cursor, validating its UTF-8 and escapes; returns the
        /// bounds of its contents and whether it holds an escape.
        mutating func scanString() throws(Fallback) -> (Int, Int, Bool) {
            guard peek() == UInt8(ascii: "\"") else { throw Fallback() }
            index += 1
            let start = index
            var escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return (start, index - 1, escaped)
                case UInt8(ascii: "\\"):
                    escaped = true
                    index += 1
                    guard let next = peek() else { throw Fallback() }
                    switch next {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        index += 1
                        _ = try hex4()
                    default: throw Fallback()
                    }
                case 0..<0x20: throw Fallback()
                case 0x20..<0x80: index += 1
                default: try skipMultibyteScalar()
                }
            }
            throw Fallback()
        }

        /// Validates one multi-byte UTF-8 scalar (no overlongs, no surrogates, at most U+10FFFF).
        mutating func skipMultibyteScalar() throws(Fallback) {
            let lead = bytes[index]
            let length: Int
            var lowest: UInt8 = 0x80, highest: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lowest = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                highest = 0x9F
            case 0xF0:
                length = 4
                lowest = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                highest = 0x8F
            default: throw Fallback()
            }
            guard bytes.count - index >= length else { throw Fallback() }
            let second = bytes[index + 1]
            guard second >= lowest, second <= highest else { throw Fallback() }
            for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 { throw Fallback() }
            index += length
        }

        mutating func hex4() throws(Fallback) -> UInt16 {
            guard bytes.count - index >= 4 else { throw Fallback() }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw Fallback()
                }
                value = value << 4 | UInt16(digit)
                index += 1
            }
            return value
        }

        /// The contents of an already validated string, with escapes resolved; a lone
        /// surrogate falls back.
        func unescape(_ start: Int, _ end: Int) throws(Fallback) -> String {
            var out: [UInt8] = []
            out.reserveCapacity(end - start)
            var reader = Parser(bytes: bytes)
            reader.index = start
            while reader.index < end {
                let byte = bytes[reader.index]
                guard byte == UInt8(ascii: "\\") else {
                    out.append(byte)
                    reader.index += 1
                    continue
                }
                reader.index += 1
                let kind = bytes[reader.index]
                reader.index += 1
                switch kind {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let unit = try reader.hex4()
                    var scalarValue = UInt32(unit)
                    if (0xD800...0xDBFF).contains(unit) {
                        guard reader.index + 6 <= end, bytes[reader.index] == UInt8(ascii: "\\"),
                            bytes[reader.index + 1] == UInt8(ascii: "u")
                        else { throw Fallback() }
                        reader.index += 2
                        let low = try reader.hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw Fallback() }
                        scalarValue = 0x10000 + (UInt32(unit - 0xD800) << 10) + UInt32(low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw Fallback()
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else { throw Fallback() }
                    out.append(contentsOf: UTF8.encode(scalar)!)
                default: out.append(kind)  // \" \\ \/
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
