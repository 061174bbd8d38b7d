/// The pod annotations the mutation reads, with the reference's keys.
public enum PodAnnotations {
    /// Comma-separated names of containers to leave alone (after `--annotation-prefix` + `/`).
    public static let skipContainersName = "skip-containers"
    /// Comma-separated names of containers to leave alone, with the default prefix.
    public static let skipContainers = "eks.amazonaws.com/skip-containers"
    /// Lifetime in seconds of the projected token for this pod, with the default prefix.
    public static let tokenExpiration = "eks.amazonaws.com/token-expiration"
    /// The label every mutated pod carries.
    public static let podIdentityLabel = "eks.amazonaws.com/pod-identity"
    public static let podIdentityLabelValue = "enabled"

    /// The container names of a `skip-containers` value, in order, as given (a list, not a set:
    /// names are compared byte for byte later, and a `Set<String>` would merge two names that
    /// are only canonically equivalent).
    ///
    /// The value is read as Go's `encoding/csv` reads its first record, which is what the
    /// reference skips:
    /// - one `\r` right at the end of the value is dropped;
    /// - empty lines (`\n` or `\r\n` alone) before the first record are skipped;
    /// - the record ends at the first `\n` or `\r\n` outside quotes; a lone `\r` is an
    ///   ordinary character of a name, quoted or not;
    /// - fields are separated by `,`; a field that starts with `"` is quoted: it may hold `,`
    ///   and line breaks (`\r\n` inside it reads as `\n`), and `""` in it is one `"`.
    ///
    /// Beyond Go's reader, and where it would give up on the whole value: ASCII spaces and
    /// tabs (only those, never other white space) around an unquoted name or a quoted one are
    /// ignored, so `a, "b"` skips `a` and `b` where the reference skips nothing; a `"` inside
    /// an unquoted name and an unterminated quote are taken as written; empty names are
    /// dropped.
    public static func containerNames(fromSkipContainers value: String) -> [String] {
        var scalars = value.unicodeScalars[...]
        // Go's line reader drops a \r right before the end of its input.
        if scalars.last == "\r" { scalars.removeLast() }
        // Go's record reader skips empty lines before the first record.
        while let first = scalars.first {
            if first == "\n" {
                scalars.removeFirst()
            } else if first == "\r", scalars.dropFirst().first == "\n" {
                scalars.removeFirst(2)
            } else {
                break
            }
        }
        var names: [String] = []
        var field = String.UnicodeScalarView()
        var inQuotes = false
        var wasQuoted = false
        func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }
        func finish() {
            var name = field[...]
            if !wasQuoted {
                while let first = name.first, isBlank(first) { name.removeFirst() }
                while let last = name.last, isBlank(last) { name.removeLast() }
            }
            if !name.isEmpty { names.append(String(name)) }
            field = String.UnicodeScalarView()
            wasQuoted = false
        }
        while let scalar = scalars.popFirst() {
            if inQuotes {
                switch scalar {
                case "\"" where scalars.first == "\"":
                    scalars.removeFirst()
                    field.append("\"")
                case "\"":
                    inQuotes = false
                case "\r" where scalars.first == "\n":
                    scalars.removeFirst()
                    field.append("\n")
                default:
                    field.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                finish()
            case "\n":
                // Only the first record counts, as in the reference.
                finish()
                return names
            case "\r" where scalars.first == "\n":
                finish()
                return names
            case "\"" where !wasQuoted && field.allSatisfy(isBlank):
                field = String.UnicodeScalarView()
                inQuotes = true
                wasQuoted = true
            default:
                // After a closing quote only spaces and tabs may come before the comma.
                if wasQuoted && isBlank(scalar) { continue }
                field.append(scalar)
            }
        }
        finish()
        return names
    }

    /// The lifetime a `token-expiration` annotation asks for, clamped to what the API server
    /// and EKS accept; nil when the value is not a base-10 integer.
    public static func tokenExpiration(fromAnnotation value: String) -> Int64? {
        guard let seconds = Int64(value) else { return nil }
        return min(max(seconds, MutationSettings.minimumTokenExpiration), MutationSettings.maximumTokenExpiration)
    }
}
