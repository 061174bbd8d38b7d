import Foundation

/// Computes the surgical JSON Patch that gives an associated pod EKS Pod Identity.
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
        credentialEnvironment = PodMutator.credentialEnvironment(fullURI: settings.fullURI, tokenFile: tokenFile)
        mount = .object([
            "name": .string(settings.volumeName),
            "mountPath": .string(settings.mountPath),
            "readOnly": .bool(true),
        ])
    }

    private static func credentialEnvironment(fullURI: String, tokenFile: String) -> [JSONValue] {
        [
            EnvVar(name: PodMutator.fullURI, value: fullURI).json,
            EnvVar(name: PodMutator.tokenFile, value: tokenFile).json,
        ]
    }

    public static let stsRegionalEndpoints = "AWS_STS_REGIONAL_ENDPOINTS"
    public static let defaultRegion = "AWS_DEFAULT_REGION"
    public static let region = "AWS_REGION"
    public static let fullURI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    public static let tokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"

    /// The operations to apply to `pod`; empty when it already has everything.
    public func patch(for pod: Pod) -> [PatchOperation] {
        var operations: [PatchOperation] = []
        addLabel(to: pod, into: &operations)
        addVolume(to: pod, into: &operations)
        let skipped =
            pod.metadata?.annotations?[PodAnnotations.skipContainers]
            .map(PodAnnotations.containerNames(fromSkipContainers:)) ?? []
        let tokenFile = tokenFilePath(for: pod)
        for (field, containers) in [("initContainers", pod.spec?.initContainers), ("containers", pod.spec?.containers)]
        {
            for (index, container) in (containers ?? []).enumerated() where !skipped.contains(container.name ?? "") {
                addCredentials(
                    to: container, at: "/spec/\(field)/\(index)", tokenFile: tokenFile, into: &operations)
            }
        }
        return operations
    }

    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` for this pod: `C:\…` on Windows nodes.
    public func tokenFilePath(for pod: Pod) -> String {
        let selector = pod.spec?.nodeSelector ?? [:]
        if selector["kubernetes.io/os"] == "windows" || selector["beta.kubernetes.io/os"] == "windows" {
            return "C:" + tokenFile.replacingOccurrences(of: "/", with: "\\")
        }
        return tokenFile
    }

    /// The projected token's `expirationSeconds`.
    ///
    /// Precedence: the pod's `token-expiration` annotation when it is an integer (clamped to
    /// [600, 86400]); else the configured default; and only when that default is the
    /// maximum and jitter is on, a random value in [79200, 86400], so that tokens of pods
    /// created together do not all refresh at once.
    public func tokenExpiration(for pod: Pod) -> Int64 {
        if let annotation = pod.metadata?.annotations?[PodAnnotations.tokenExpiration],
            let seconds = PodAnnotations.tokenExpiration(fromAnnotation: annotation)
        {
            return seconds
        }
        if settings.tokenExpirationJitter && settings.tokenExpiration == MutationSettings.maximumTokenExpiration {
            return random.int64(in: MutationSettings.jitterFloor...MutationSettings.maximumTokenExpiration)
        }
        return settings.tokenExpiration
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
        if labels[key] != PodAnnotations.podIdentityLabelValue {
            operations.append(PatchOperation(path: JSONPointer.path("metadata", "labels", key), value: value))
        }
    }

    private func addVolume(to pod: Pod, into operations: inout [PatchOperation]) {
        let volumes = pod.spec?.volumes
        if volumes?.contains(where: { $0.name == settings.volumeName }) == true { return }
        let volume = JSONValue.object([
            "name": .string(settings.volumeName),
            "projected": .object([
                "sources": .array([
                    .object([
                        "serviceAccountToken": .object([
                            "audience": .string(settings.audience),
                            "expirationSeconds": .integer(tokenExpiration(for: pod)),
                            "path": .string(settings.tokenPath),
                        ])
                    ])
                ])
            ]),
        ])
        if pod.spec == nil {
            operations.append(PatchOperation(path: "/spec", value: .object(["volumes": .array([volume])])))
        } else if volumes == nil {
            operations.append(PatchOperation(path: "/spec/volumes", value: .array([volume])))
        } else {
            operations.append(PatchOperation(path: "/spec/volumes/0", value: volume))
        }
    }

    private func addCredentials(
        to container: Container, at path: String, tokenFile: String, into operations: inout [PatchOperation]
    ) {
        var hasSTS = false, hasRegion = false, hasCredentials = false
        for variable in container.env ?? [] {
            switch variable.name {
            case PodMutator.stsRegionalEndpoints: hasSTS = true
            case PodMutator.region, PodMutator.defaultRegion: hasRegion = true
            case PodMutator.fullURI, PodMutator.tokenFile: hasCredentials = true
            default: break
            }
        }
        // Reference quirk, kept so pods match: a container with all three kinds of variables
        // is considered done, mount or not.
        if hasCredentials && hasRegion && hasSTS { return }

        var additions: [JSONValue] = []
        if settings.regionalSTS && !hasSTS { additions += stsEnvironment }
        if !hasRegion { additions += regionEnvironment }
        if !hasCredentials {
            additions +=
                tokenFile == self.tokenFile
                ? credentialEnvironment
                : PodMutator.credentialEnvironment(fullURI: settings.fullURI, tokenFile: tokenFile)
        }
        for extra in settings.extraEnvironment where container.env?.contains(where: { $0.name == extra.name }) != true {
            additions.append(extra.json)
        }
        appendItems(additions, to: container.env, at: path + "/env", into: &operations)

        if container.volumeMounts?.contains(where: { $0.name == settings.volumeName }) != true {
            appendItems([mount], to: container.volumeMounts, at: path + "/volumeMounts", into: &operations)
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
