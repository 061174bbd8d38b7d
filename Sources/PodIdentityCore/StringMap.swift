/// A string map of a Kubernetes object (`labels`, `annotations`, `nodeSelector`) with its keys
/// as the API server compares them: byte for byte.
///
/// Not a `[String: String]`: Swift's `String` equality is Unicode canonical equivalence, so a
/// dictionary merges `K` and KELVIN SIGN (U+212A), or `é` and `e` + U+0301, which are two
/// different keys to Kubernetes. Entries stay as the document gave them, in order; a key given
/// twice (no API server sends that) reads as its last value, as Go's decoder keeps it.
public struct StringMap: Sendable, Equatable, ExpressibleByDictionaryLiteral, Decodable {
    public var entries: [(key: String, value: String)]

    public init(_ entries: [(key: String, value: String)] = []) {
        self.entries = entries
    }

    public typealias Key = String
    public typealias Value = String

    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { (key: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// The value of the last entry whose key has the same bytes as `key`.
    public subscript(key: String) -> String? {
        for entry in entries.reversed() where StringMap.sameBytes(entry.key, key) { return entry.value }
        return nil
    }

    /// Whether two strings are the same bytes (not merely canonically equivalent).
    @inlinable
    public static func sameBytes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count && lhs.utf8.elementsEqual(rhs.utf8)
    }

    /// The same entries, byte for byte, in any order.
    public static func == (lhs: StringMap, rhs: StringMap) -> Bool {
        guard lhs.count == rhs.count else { return false }
        func sorted(_ map: StringMap) -> [([UInt8], [UInt8])] {
            map.entries.map { (Array($0.key.utf8), Array($0.value.utf8)) }.sorted {
                $0.0.lexicographicallyPrecedes($1.0)
                    || ($0.0 == $1.0 && $0.1.lexicographicallyPrecedes($1.1))
            }
        }
        return sorted(lhs).elementsEqual(sorted(rhs)) { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    private struct EntryKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// `JSONDecoder` hands over keys that are only canonically equivalent as one key (it reads
    /// objects into a `Dictionary`); `AdmissionReviewer.decodeWithFoundation` therefore reads
    /// the maps of a pod again from the bytes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: EntryKey.self)
        entries = try container.allKeys.map { key in
            (key: key.stringValue, value: try container.decode(String.self, forKey: key))
        }
    }
}
