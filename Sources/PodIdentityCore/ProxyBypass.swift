/// `--proxy-bypass`: keeps a Pod Identity pod's credential requests away from its HTTP proxy.
///
/// AWS SDKs send the container-credentials request through `HTTP_PROXY`/`HTTPS_PROXY` like any
/// other, and a proxy cannot reach the node-local Pod Identity Agent, so AWS asks every user
/// behind a proxy to add the agent to `NO_PROXY` by hand. With the flag, in every container
/// that gets the credential variables injected (Pod Identity only: IRSA's STS endpoints are
/// ordinary internet endpoints a proxy can serve) and names a proxy in a plain `value`, the
/// agent's two addresses are appended to each `NO_PROXY` / `no_proxy` it has, or `NO_PROXY`
/// is added when it has neither. Both addresses, whatever `--container-credentials-full-uri`
/// says: a pod may reach the agent over either family, and each entry costs nothing.
///
/// What the webhook cannot read (a `valueFrom`, or an `envFrom` that may hold `NO_PROXY`) is
/// left alone and answered with a warning naming the container and the variable, never a value.
/// Replacing an existing value is the one non-additive operation of the webhook; it is guarded
/// by a `test` of the exact current value right before it, so a value changed since the review
/// fails the patch instead of being overwritten.
extension PodMutator {
    /// The Pod Identity Agent's addresses, as `NO_PROXY` entries (no brackets, no port).
    public static let agentAddresses = ["169.254.170.23", "fd00:ec2::23"]
    /// The proxy variables read, in the two spellings SDKs and tools read.
    static let proxyNames = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]
    static let noProxyName = "NO_PROXY"
    static let noProxyNames = [noProxyName, "no_proxy"]

    /// The bypass's operations (appended after all others; they touch only `env`) and its
    /// warnings for `pod`. Empty unless `--proxy-bypass` is on and the mode is Pod Identity.
    public func proxyBypass(for pod: Pod, mode: PodIdentityMode) -> (operations: [PatchOperation], warnings: [String]) {
        guard settings.proxyBypass, case .podIdentity = mode else { return ([], []) }
        let skipKey = settings.annotationPrefix + "/" + PodAnnotations.skipContainersName
        let skipped = pod.metadata?.annotations?[skipKey].map(PodAnnotations.containerNames(fromSkipContainers:)) ?? []
        var operations: [PatchOperation] = [], warnings: [String] = []
        for (field, containers) in [("initContainers", pod.spec?.initContainers), ("containers", pod.spec?.containers)]
        {
            for (index, container) in (containers ?? []).enumerated()
            where !skipped.contains(where: { Self.same(container.name ?? "", $0) }) {
                // Only where the webhook injects the agent's URI: a container that already names
                // either credential variable keeps its own endpoint and its own proxy settings.
                let hasCredentials = (container.env ?? []).contains {
                    Self.same($0.name, PodMutator.fullURI) || Self.same($0.name, PodMutator.tokenFile)
                }
                guard !hasCredentials else { continue }
                let result = Self.proxyBypass(for: container, at: "/spec/\(field)/\(index)")
                operations += result.operations
                warnings += result.warnings
            }
        }
        return (operations, warnings)
    }

    /// One container's bypass; `path` is the container's JSON pointer.
    static func proxyBypass(for container: Container, at path: String) -> (
        operations: [PatchOperation], warnings: [String]
    ) {
        let variables = container.proxyVariables
        let proxies = variables.filter { variable in proxyNames.contains { same(variable.name, $0) } }
        guard !proxies.isEmpty else { return ([], []) }
        let name = container.name ?? ""
        let addresses = agentAddresses.joined(separator: ",")
        guard proxies.contains(where: { $0.setting == .proxy }) else {
            // Only proxies set through valueFrom: whether they name a proxy is unknown here.
            return (
                [],
                proxies.map {
                    "pod-identity-webhook: container \"\(name)\": \($0.name) is set through valueFrom, so NO_PROXY "
                        + "was not changed; add \(addresses) to it yourself"
                }
            )
        }
        let noProxies = variables.filter { variable in noProxyNames.contains { same(variable.name, $0) } }
        if noProxies.isEmpty {
            if container.hasEnvFrom {
                // An env entry would hide a NO_PROXY that envFrom may supply.
                return (
                    [],
                    [
                        "pod-identity-webhook: container \"\(name)\": NO_PROXY was not added because envFrom may set it; "
                            + "add \(addresses) to it yourself"
                    ]
                )
            }
            let entry = EnvVar(name: noProxyName, value: addresses).json
            return ([PatchOperation(path: path + "/env/-", value: entry)], [])
        }
        var operations: [PatchOperation] = [], warnings: [String] = []
        for variable in noProxies {
            let valuePath = path + JSONPointer.path("env", String(variable.index), "value")
            switch variable.setting {
            case .valueFrom:
                warnings.append(
                    "pod-identity-webhook: container \"\(name)\": \(variable.name) is set through valueFrom and was not "
                        + "changed; add \(addresses) to it yourself")
            case .noProxy(nil):
                // No value member (an empty value is omitted by the API server): create it.
                operations.append(PatchOperation(path: valuePath, value: .string(addresses)))
            case .noProxy(let current?):
                guard let appended = appending(agentAddresses, to: current) else { continue }
                operations.append(PatchOperation(op: .test, path: valuePath, value: .string(current)))
                operations.append(PatchOperation(op: .replace, path: valuePath, value: .string(appended)))
            case .proxy:
                continue
            }
        }
        return (operations, warnings)
    }

    /// `list` with the `addresses` it lacks appended, or nil when it lists them all. Entries are
    /// the comma-separated parts of `list`, ASCII spaces and tabs around them ignored, compared
    /// byte for byte; `list` is read scalar by scalar (a `,` followed by a combining mark still
    /// separates). The existing text is kept as it is, so the result always starts with it.
    static func appending(_ addresses: [String], to list: String) -> String? {
        func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }
        let entries = list.unicodeScalars.split(separator: ",", omittingEmptySubsequences: false).map { entry in
            var scalars = entry
            while let first = scalars.first, isBlank(first) { scalars.removeFirst() }
            while let last = scalars.last, isBlank(last) { scalars.removeLast() }
            return String(String.UnicodeScalarView(scalars))
        }
        let missing = addresses.filter { address in !entries.contains { same($0, address) } }
        guard !missing.isEmpty else { return nil }
        let open = list.unicodeScalars.allSatisfy(isBlank) || list.unicodeScalars.last == ","
        return list + (open ? "" : ",") + missing.joined(separator: ",")
    }
}

/// An entry of a container's `env` that `--proxy-bypass` reads: a proxy variable or
/// `NO_PROXY`/`no_proxy`. No other value is ever decoded, and a proxy's own value (a URL that
/// may carry a password) is not kept.
public struct ProxyVariable: Sendable, Equatable {
    public enum Setting: Sendable, Equatable {
        /// Set through `valueFrom` (the kubelet resolves it; unknown here).
        case valueFrom
        /// A proxy variable with a non-empty `value` (an empty one sets no proxy and is not listed).
        case proxy
        /// `NO_PROXY`/`no_proxy` with this `value`; nil when the entry has no `value` string.
        case noProxy(String?)
    }

    /// The entry's position in `env`.
    public var index: Int
    public var name: String
    public var setting: Setting

    public init(index: Int, name: String, setting: Setting) {
        self.index = index
        self.name = name
        self.setting = setting
    }

    /// Whether an entry named `name` is read at all, and as a proxy (true) or a NO_PROXY (false).
    static func isProxy(_ name: String) -> Bool? {
        if PodMutator.proxyNames.contains(where: { PodMutator.same(name, $0) }) { return true }
        if PodMutator.noProxyNames.contains(where: { PodMutator.same(name, $0) }) { return false }
        return nil
    }

    /// The entry for `name` given what its object held, or nil when it is not listed.
    static func make(index: Int, name: String?, value: String?, valueFrom: Bool) -> ProxyVariable? {
        guard let name, let isProxy = isProxy(name) else { return nil }
        if valueFrom { return ProxyVariable(index: index, name: name, setting: .valueFrom) }
        if isProxy {
            guard let value, !value.isEmpty else { return nil }
            return ProxyVariable(index: index, name: name, setting: .proxy)
        }
        return ProxyVariable(index: index, name: name, setting: .noProxy(value))
    }
}

// MARK: - Decoding

extension Container {
    private enum Keys: String, CodingKey {
        case name, env, envFrom, volumeMounts
    }

    /// One `env` entry: its name, and for the entries `--proxy-bypass` reads, where the value
    /// comes from. Lenient about `value` and `valueFrom` (any other type reads as absent), as
    /// the fast decoder is.
    private struct EnvEntry: Decodable {
        var name: String?
        var value: String?
        var valueFrom = false

        private enum Keys: String, CodingKey { case name, value, valueFrom }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            guard let name, ProxyVariable.isProxy(name) != nil else { return }
            value = try? container.decodeIfPresent(String.self, forKey: .value)
            valueFrom = container.contains(.valueFrom) && (try? container.decodeNil(forKey: .valueFrom)) == false
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        if let entries = try container.decodeIfPresent([EnvEntry].self, forKey: .env) {
            env = entries.map { Named(name: $0.name) }
            proxyVariables = entries.enumerated().compactMap { index, entry in
                ProxyVariable.make(index: index, name: entry.name, value: entry.value, valueFrom: entry.valueFrom)
            }
        }
        volumeMounts = try container.decodeIfPresent([Named].self, forKey: .volumeMounts)
        if let list = try? container.nestedUnkeyedContainer(forKey: .envFrom) {
            hasEnvFrom = (list.count ?? 0) > 0
        }
    }
}

extension FastReviewDecoder.Parser {
    /// The keys of an `env` entry the fast path reads (a repeated one falls back).
    static let environmentFields: [Key] = ["name", "value", "valueFrom"]

    /// A container's `env`: the names, and the entries `--proxy-bypass` reads (see
    /// `ProxyVariable`). A `value` is turned into a string only for those entries.
    mutating func environment(depth: Int) throws(FastReviewDecoder.Fallback) -> ([Named], [ProxyVariable]) {
        var list: [Named] = [], variables: [ProxyVariable] = []
        try array(depth: depth) { (parser: inout Self) throws(FastReviewDecoder.Fallback) in
            var name: String?, value: (start: Int, end: Int, escaped: Bool)?, valueFrom = false
            try parser.object(depth: depth + 1, fields: Self.environmentFields) {
                (parser: inout Self, key: Key) throws(FastReviewDecoder.Fallback) in
                switch key {
                case "name": name = try parser.optionalString()
                case "value":
                    parser.skipWhitespace()
                    if parser.peek() == UInt8(ascii: "\"") {
                        let (start, end, escaped) = try parser.scanString()
                        value = (start, end, escaped)
                    } else {
                        try parser.skipValue(depth: depth + 2)
                    }
                case "valueFrom":
                    if try !parser.isNull() {
                        try parser.skipValue(depth: depth + 2)
                        valueFrom = true
                    }
                default: try parser.skipValue(depth: depth + 2)
                }
            }
            if let name, ProxyVariable.isProxy(name) != nil {
                var text: String?
                if let value {
                    text =
                        value.escaped
                        ? try parser.unescape(value.start, value.end) : parser.text(value.start, value.end)
                }
                if let variable = ProxyVariable.make(index: list.count, name: name, value: text, valueFrom: valueFrom) {
                    variables.append(variable)
                }
            }
            list.append(Named(name: name))
        }
        return (list, variables)
    }

    /// `envFrom`: whether it is an array with at least one element (anything else reads as none).
    mutating func hasElements(depth: Int) throws(FastReviewDecoder.Fallback) -> Bool {
        skipWhitespace()
        guard peek() == UInt8(ascii: "[") else {
            try skipValue(depth: depth)
            return false
        }
        var count = 0
        try array(depth: depth) { (parser: inout Self) throws(FastReviewDecoder.Fallback) in
            try parser.skipValue(depth: depth + 1)
            count += 1
        }
        return count > 0
    }
}
