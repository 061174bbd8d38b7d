import Foundation

/// A Prometheus text exposition (what `/metrics` answers), read line by line: the families its
/// `# TYPE` lines declare, the `# HELP` text of each, and the names of the samples.
public struct MetricsExposition: Sendable {
    /// Type by family name (`counter`, `gauge`, `histogram`…), from the `# TYPE` lines.
    public var types: [String: String] = [:]
    /// Help text by family name, from the `# HELP` lines (unescaped only as far as the tests need).
    public var help: [String: String] = [:]
    /// Every sample's metric name (`x_bucket`, `x_sum`, `x_count` for a histogram `x`).
    public var sampleNames: Set<String> = []
    /// Lines that are neither a comment nor `name[{labels}] value`.
    public var malformed: [String] = []

    public init(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0]), rest = parts.count > 1 ? String(parts[1]) : ""
                if line.hasPrefix("# TYPE ") { types[name] = rest } else { help[name] = rest }
            } else if line.hasPrefix("#") {
                continue
            } else if let end = line.firstIndex(where: { $0 == "{" || $0 == " " }), end > line.startIndex {
                sampleNames.insert(String(line[..<end]))
            } else {
                malformed.append(String(line))
            }
        }
    }

    /// Families declared with `# TYPE` but without a non-empty `# HELP`, sorted.
    public var familiesWithoutHelp: [String] {
        types.keys.filter { (help[$0] ?? "").trimmingCharacters(in: .whitespaces).isEmpty }.sorted()
    }

    /// Whether `name` is exported: a family, or a sample of one (a histogram's `_bucket`, `_sum`,
    /// `_count`, a summary's `_sum`, `_count`).
    public func exports(_ name: String) -> Bool {
        if types[name] != nil || sampleNames.contains(name) { return true }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let family = String(name.dropLast(suffix.count))
            if let type = types[family], type == "histogram" || (type == "summary" && suffix != "_bucket") {
                return true
            }
        }
        return false
    }
}
