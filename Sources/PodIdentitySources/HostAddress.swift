import Foundation

/// Host names and literal addresses, read strictly: the one check of "is this loopback"
/// that every client allowing plain HTTP to a local stand-in or agent uses.
public enum HostAddress {
    /// `localhost`, 127.0.0.0/8 as a dotted quad, or `::1` (with or without brackets).
    /// `127.evil.example` is a name, not an address, and is not loopback.
    public static func isLoopback(_ host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { return true }
        if let address = parseIPv4(host) { return address[0] == 127 }
        return parseIPv6(host) == [0, 0, 0, 0, 0, 0, 0, 1]
    }

    /// Dotted-quad IPv4, four decimal octets without leading zeros (which some resolvers read as octal).
    public static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part == "0" || !part.hasPrefix("0"), let value = UInt8(part)
            else { return nil }
            octets.append(value)
        }
        return octets
    }

    /// IPv6 in hex groups with at most one `::`; no zone, no embedded IPv4.
    public static func parseIPv6(_ text: String) -> [UInt16]? {
        guard !text.isEmpty, !text.contains("%"), !text.contains(".") else { return nil }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(group.count), group.allSatisfy({ $0.isASCII && $0.isHexDigit }),
                    let value = UInt16(group, radix: 16)
                else { return nil }
                result.append(value)
            }
            return result
        }
        let halves = text.components(separatedBy: "::")
        switch halves.count {
        case 1:
            guard let all = groups(Substring(text)), all.count == 8 else { return nil }
            return all
        case 2:
            guard let head = groups(Substring(halves[0])), let tail = groups(Substring(halves[1])),
                head.count + tail.count <= 7
            else { return nil }
            return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        default:
            return nil
        }
    }
}
