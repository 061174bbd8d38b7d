/// What the webhook keeps of a ServiceAccount: its name and the facts its annotations state.
///
/// Only the `PREFIX/…` annotations are read (the reference had to strip its informer's
/// objects for memory: cache facts, not objects). Values are parsed once, here, as the
/// reference parses them: `sts-regional-endpoints` with Go's `strconv.ParseBool` spellings,
/// `token-expiration` as a base-10 integer (clamped to [600, 86400] like the pod annotation);
/// a value that does not parse is ignored.
public struct ServiceAccountInfo: Sendable, Equatable {
    public var ref: ServiceAccountRef
    /// `PREFIX/role-arn`, when present and not empty: the pod gets IRSA (unless associated).
    public var roleARN: String?
    /// `PREFIX/audience`: the IRSA token's audience instead of `--token-audience`.
    public var audience: String?
    /// `PREFIX/sts-regional-endpoints`, parsed: overrides `--sts-regional-endpoint`.
    public var regionalSTS: Bool?
    /// `PREFIX/token-expiration`, parsed and clamped: overrides `--token-expiration`.
    public var tokenExpiration: Int64?

    public init(
        ref: ServiceAccountRef, roleARN: String? = nil, audience: String? = nil, regionalSTS: Bool? = nil,
        tokenExpiration: Int64? = nil
    ) {
        self.ref = ref
        self.roleARN = roleARN
        self.audience = audience
        self.regionalSTS = regionalSTS
        self.tokenExpiration = tokenExpiration
    }

    /// Reads the annotations of a ServiceAccount; keys are compared byte for byte, as
    /// Kubernetes compares them.
    public init(ref: ServiceAccountRef, annotations: some Sequence<(key: String, value: String)>, prefix: String) {
        self.ref = ref
        for (key, value) in annotations {
            guard key.utf8.count > prefix.utf8.count + 1, key.utf8.starts(with: prefix.utf8),
                key.utf8.dropFirst(prefix.utf8.count).first == UInt8(ascii: "/")
            else { continue }
            let name = Substring(key.utf8.dropFirst(prefix.utf8.count + 1))
            switch name {
            case ServiceAccountInfo.roleARNKey: roleARN = value.isEmpty ? nil : value
            case ServiceAccountInfo.audienceKey: audience = value
            case ServiceAccountInfo.regionalSTSKey: regionalSTS = ServiceAccountInfo.parseBool(value)
            case ServiceAccountInfo.tokenExpirationKey:
                tokenExpiration = PodAnnotations.tokenExpiration(fromAnnotation: value)
            default: break
            }
        }
    }

    /// True when the ServiceAccount says anything the mutation uses (what the cache keeps).
    public var isInteresting: Bool {
        roleARN != nil || audience != nil || regionalSTS != nil || tokenExpiration != nil
    }

    public static let roleARNKey = "role-arn"
    public static let audienceKey = "audience"
    public static let regionalSTSKey = "sts-regional-endpoints"
    public static let tokenExpirationKey = "token-expiration"

    /// Go's `strconv.ParseBool`: exactly these spellings, anything else is not a boolean.
    public static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// Whether `arn` looks like an IAM role ARN, as the reference checks it
    /// (`arn:PARTITION:iam::ACCOUNT:role/PATH`); one that does not is still injected, with a
    /// warning, as the reference does.
    public static func isIAMRoleARN(_ arn: String) -> Bool {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"),
            parts[1].allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }), parts[2] == "iam",
            parts[3].isEmpty, parts[4].utf8.count == 12, parts[4].allSatisfy({ $0.isASCII && $0.isNumber }),
            parts[5].hasPrefix("role/")
        else { return false }
        let path = parts[5].dropFirst(5)
        return !path.isEmpty
            && path.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-/.@+=,".contains($0)) }
    }
}
