import Foundation

/// Which credentials a pod gets, and why.
public enum PodIdentityMode: Sendable, Equatable {
    /// EKS Pod Identity: the pod's ServiceAccount has an association. The ServiceAccount,
    /// when known, may override regional STS and the token lifetime.
    case podIdentity(ServiceAccountInfo?)
    /// IRSA: no association, but the ServiceAccount names a role (`role-arn`).
    case irsa(ServiceAccountInfo, roleARN: String)
}

/// Computes the surgical JSON Patch that gives a pod AWS credentials: EKS Pod Identity for
/// an associated pod, IRSA for one whose ServiceAccount names a role.
///
/// Pure: no I/O, no clock; randomness comes from the injected source. The rules are
/// DESIGN §1 and match the reference webhook's resulting pod, except that patches only
/// add what is missing instead of re-emitting whole container lists.
public struct PodMutator: Sendable {
    public let settings: MutationSettings
    public let random: any RandomSource

    /// The token file's path, computed once: `mountPath/tokenPath`, cleaned.
    private let tokenFile: String
    /// The patch values that depend only on the settings, built once (they were most of the
    /// patch's allocations): the env entries, by kind, and the volume mount.
    private let stsEnvironment: [JSONValue]
    private let regionEnvironment: [JSONValue]
    private let credentialEnvironment: [JSONValue]
    private let mount: JSONValue
    private let irsaTokenFile: String
    private let irsaMount: JSONValue
    let skipContainersKey: String
    let tokenExpirationKey: String

    public init(settings: MutationSettings = MutationSettings(), random: any RandomSource = SystemRandomSource()) {
        self.settings = settings
        self.random = random
        tokenFile = PodMutator.cleanPath(settings.mountPath + "/" + settings.tokenPath)
        stsEnvironment = [EnvVar(name: PodMutator.stsRegionalEndpoints, value: "regional").json]
        regionEnvironment =
            settings.region.map {
                [
                    EnvVar(name: PodMutator.defaultRegion, value: $0).json,
                    EnvVar(name: PodMutator.region, value: $0).json,
                ]
            } ?? []
        credentialEnvironment = [
            EnvVar(name: PodMutator.fullURI, value: settings.fullURI).json,
            EnvVar(name: PodMutator.tokenFile, value: tokenFile).json,
        ]
        mount = .object([
            "name": .string(settings.volumeName),
            "mountPath": .string(settings.mountPath),
            "readOnly": .bool(true),
        ])
        irsaTokenFile = PodMutator.cleanPath(settings.irsaMountPath + "/" + MutationSettings.irsaTokenPath)
        irsaMount = .object([
            "name": .string(MutationSettings.irsaVolumeName),
            "mountPath": .string(settings.irsaMountPath),
            "readOnly": .bool(true),
        ])
        skipContainersKey = settings.annotationPrefix + "/" + PodAnnotations.skipContainersName
        tokenExpirationKey = settings.annotationPrefix + "/" + ServiceAccountInfo.tokenExpirationKey
    }

    public static let stsRegionalEndpoints = "AWS_STS_REGIONAL_ENDPOINTS"
    public static let defaultRegion = "AWS_DEFAULT_REGION"
    public static let region = "AWS_REGION"
    public static let fullURI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    public static let tokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
    public static let roleARN = "AWS_ROLE_ARN"
    public static let webIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE"

    /// What one pod's patch is made of, for its mode.
    private struct Plan {
        var volumeName: String
        var volume: JSONValue
        var mount: JSONValue
        /// The two variables of the credential pair; either one present means "has credentials".
        var credentialNames: (String, String)
        var credentialEnvironment: [JSONValue]
        var regionalSTS: Bool
        var label: Bool
        var extraEnvironment: [EnvVar]
    }

    /// The operations to apply to `pod`; empty when it already has everything.
    public func patch(for pod: Pod, mode: PodIdentityMode = .podIdentity(nil)) -> [PatchOperation] {
        let plan = self.plan(for: pod, mode: mode)
        var operations: [PatchOperation] = []
        if plan.label { addLabel(to: pod, into: &operations) }
        addVolume(plan, to: pod, into: &operations)
        let skipped =
            pod.metadata?.annotations?[skipContainersKey].map(PodAnnotations.containerNames(fromSkipContainers:)) ?? []
        for (field, containers) in [("initContainers", pod.spec?.initContainers), ("containers", pod.spec?.containers)]
        {
            for (index, container) in (containers ?? []).enumerated()
            where !skipped.contains(where: { Self.same(container.name ?? "", $0) }) {
                addCredentials(plan, to: container, at: "/spec/\(field)/\(index)", into: &operations)
            }
        }
        if settings.proxyBypass { operations += proxyBypass(for: pod, mode: mode).operations }
        return operations
    }

    private func plan(for pod: Pod, mode: PodIdentityMode) -> Plan {
        switch mode {
        case .podIdentity(let serviceAccount):
            let file = tokenFilePath(for: pod)
            return Plan(
                volumeName: settings.volumeName,
                volume: Self.projectedVolume(
                    name: settings.volumeName, audience: settings.audience,
                    expiration: tokenExpiration(for: pod, serviceAccount: serviceAccount), path: settings.tokenPath),
                mount: mount, credentialNames: (PodMutator.fullURI, PodMutator.tokenFile),
                credentialEnvironment: file == tokenFile
                    ? credentialEnvironment
                    : [
                        EnvVar(name: PodMutator.fullURI, value: settings.fullURI).json,
                        EnvVar(name: PodMutator.tokenFile, value: file).json,
                    ],
                regionalSTS: serviceAccount?.regionalSTS ?? settings.regionalSTS, label: true,
                extraEnvironment: settings.extraEnvironment)
        case .irsa(let serviceAccount, let roleARN):
            return Plan(
                volumeName: MutationSettings.irsaVolumeName,
                volume: Self.projectedVolume(
                    name: MutationSettings.irsaVolumeName, audience: serviceAccount.audience ?? settings.irsaAudience,
                    expiration: tokenExpiration(for: pod, serviceAccount: serviceAccount, jitter: false),
                    path: MutationSettings.irsaTokenPath),
                mount: irsaMount, credentialNames: (PodMutator.roleARN, PodMutator.webIdentityTokenFile),
                credentialEnvironment: [
                    EnvVar(name: PodMutator.roleARN, value: roleARN).json,
                    EnvVar(name: PodMutator.webIdentityTokenFile, value: Self.forNode(of: pod, irsaTokenFile)).json,
                ],
                regionalSTS: serviceAccount.regionalSTS ?? settings.regionalSTS, label: false, extraEnvironment: [])
        }
    }

    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` for this pod: `C:\…` on Windows nodes.
    public func tokenFilePath(for pod: Pod) -> String {
        Self.forNode(of: pod, tokenFile)
    }

    /// `path` as the pod's node spells it: `C:` + backslashes on Windows nodes.
    private static func forNode(of pod: Pod, _ path: String) -> String {
        let selector = pod.spec?.nodeSelector ?? [:]
        if Self.same(selector["kubernetes.io/os"], "windows") || Self.same(selector["beta.kubernetes.io/os"], "windows")
        {
            return "C:" + path.replacingOccurrences(of: "/", with: "\\")
        }
        return path
    }

    /// The projected token's `expirationSeconds`.
    ///
    /// Precedence, stated once: the pod's `token-expiration` annotation when it is an integer
    /// (clamped to [600, 86400]); else the ServiceAccount's `token-expiration` annotation (same
    /// rule); else `--token-expiration`. Only in that last case, when the default is the
    /// maximum and jitter is on (Pod Identity only, never IRSA), a random value in
    /// [79200, 86400], so that tokens of pods created together do not all refresh at once.
    public func tokenExpiration(for pod: Pod, serviceAccount: ServiceAccountInfo? = nil, jitter: Bool = true) -> Int64 {
        if let annotation = pod.metadata?.annotations?[tokenExpirationKey],
            let seconds = PodAnnotations.tokenExpiration(fromAnnotation: annotation)
        {
            return seconds
        }
        if let seconds = serviceAccount?.tokenExpiration { return seconds }
        if jitter && settings.tokenExpirationJitter && settings.tokenExpiration == MutationSettings.maximumTokenExpiration {
            return random.int64(in: MutationSettings.jitterFloor...MutationSettings.maximumTokenExpiration)
        }
        return settings.tokenExpiration
    }

    private static func projectedVolume(name: String, audience: String, expiration: Int64, path: String) -> JSONValue {
        .object([
            "name": .string(name),
            "projected": .object([
                "sources": .array([
                    .object([
                        "serviceAccountToken": .object([
                            "audience": .string(audience), "expirationSeconds": .integer(expiration),
                            "path": .string(path),
                        ])
                    ])
                ])
            ]),
        ])
    }

    private func addLabel(to pod: Pod, into operations: inout [PatchOperation]) {
        let key = PodAnnotations.podIdentityLabel, value = JSONValue.string(PodAnnotations.podIdentityLabelValue)
        guard let metadata = pod.metadata else {
            operations.append(PatchOperation(path: "/metadata", value: .object(["labels": .object([key: value])])))
            return
        }
        guard let labels = metadata.labels else {
            operations.append(PatchOperation(path: "/metadata/labels", value: .object([key: value])))
            return
        }
        if !Self.same(labels[key], PodAnnotations.podIdentityLabelValue) {
            operations.append(PatchOperation(path: JSONPointer.path("metadata", "labels", key), value: value))
        }
    }

    private func addVolume(_ plan: Plan, to pod: Pod, into operations: inout [PatchOperation]) {
        let volumes = pod.spec?.volumes
        if volumes?.contains(where: { Self.same($0.name, plan.volumeName) }) == true { return }
        if pod.spec == nil {
            operations.append(PatchOperation(path: "/spec", value: .object(["volumes": .array([plan.volume])])))
        } else if volumes == nil {
            operations.append(PatchOperation(path: "/spec/volumes", value: .array([plan.volume])))
        } else {
            operations.append(PatchOperation(path: "/spec/volumes/0", value: plan.volume))
        }
    }

    /// Names compared as Kubernetes compares them: byte for byte, never by Unicode
    /// canonical equivalence (Swift's `==` on `String`).
    static func same(_ name: String?, _ other: String) -> Bool {
        guard let name else { return false }
        return StringMap.sameBytes(name, other)
    }

    private func addCredentials(
        _ plan: Plan, to container: Container, at path: String, into operations: inout [PatchOperation]
    ) {
        var hasSTS = false, hasRegion = false, hasCredentials = false
        for variable in container.env ?? [] {
            guard let name = variable.name else { continue }
            if Self.same(name, PodMutator.stsRegionalEndpoints) {
                hasSTS = true
            } else if Self.same(name, PodMutator.region) || Self.same(name, PodMutator.defaultRegion) {
                hasRegion = true
            } else if Self.same(name, plan.credentialNames.0) || Self.same(name, plan.credentialNames.1) {
                hasCredentials = true
            }
        }
        // Reference quirk, kept so pods match: a container with all three kinds of variables
        // is considered done, mount or not.
        if hasCredentials && hasRegion && hasSTS { return }

        var additions: [JSONValue] = []
        if plan.regionalSTS && !hasSTS { additions += stsEnvironment }
        if !hasRegion { additions += regionEnvironment }
        if !hasCredentials { additions += plan.credentialEnvironment }
        for extra in plan.extraEnvironment
        where container.env?.contains(where: { Self.same($0.name, extra.name) }) != true {
            additions.append(extra.json)
        }
        appendItems(additions, to: container.env, at: path + "/env", into: &operations)

        if container.volumeMounts?.contains(where: { Self.same($0.name, plan.volumeName) }) != true {
            appendItems([plan.mount], to: container.volumeMounts, at: path + "/volumeMounts", into: &operations)
        }
    }

    /// Appends to an existing list entry by entry, or creates the list in one operation.
    private func appendItems(
        _ items: [JSONValue], to list: [Named]?, at path: String, into operations: inout [PatchOperation]
    ) {
        guard !items.isEmpty else { return }
        if list == nil {
            operations.append(PatchOperation(path: path, value: .array(items)))
        } else {
            for item in items {
                operations.append(PatchOperation(path: path + "/-", value: item))
            }
        }
    }

    /// Lexical path cleaning as Go's `path.Clean` does it, so the token file path matches
    /// the reference's `filepath.Join` for any configured mount path.
    static func cleanPath(_ path: String) -> String {
        let rooted = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !rooted {
                    parts.append(part)
                }
            default: parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        if rooted { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }
}
