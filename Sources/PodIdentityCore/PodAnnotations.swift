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
    /// CSV as the reference reads it with Go's `encoding/csv`: its first record, after any
    /// empty lines; `\r\n` ends a line like `\n`, a lone `\r` is part of a name; double
    /// quotes allowed, `""` an escaped quote. Beyond it, ASCII spaces and tabs around names are
    /// trimmed (only those), so `a, "b"` skips `a` and `b` where the reference would skip
    /// nothing.
    public static func containerNames(fromSkipContainers value: String) -> [String] {
        var names: [String] = []
        var field = ""
        var inQuotes = false
        var wasQuoted = false
        var scalars = value.unicodeScalars[...]
        // Go's reader skips empty lines before the first record.
        while let first = scalars.first {
            if first == "\n" {
                scalars.removeFirst()
            } else if first == "\r", scalars.dropFirst().first == "\n" {
                scalars.removeFirst(2)
            } else {
                break
            }
        }
        func finish() {
            let name = wasQuoted ? field : field.trimmingSpaces
            if !name.isEmpty { names.append(name) }
            field = ""
            wasQuoted = false
        }
        while let scalar = scalars.popFirst() {
            if inQuotes {
                if scalar == "\"" {
                    if scalars.first == "\"" {
                        scalars.removeFirst()
                        field.unicodeScalars.append("\"")
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.unicodeScalars.append(scalar)
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
            case "\"" where field.trimmingSpaces.isEmpty && !wasQuoted:
                field = ""
                inQuotes = true
                wasQuoted = true
            default:
                // After a closing quote only spaces may follow before the comma.
                if wasQuoted && (scalar == " " || scalar == "\t") { continue }
                field.unicodeScalars.append(scalar)
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
