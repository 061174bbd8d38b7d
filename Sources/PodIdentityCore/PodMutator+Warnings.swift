/// The admission warnings of a pod the webhook gives credentials (what `kubectl apply`
/// prints): only what a person must act on, and only names and numbers, never an env value.
extension PodMutator {
    /// Appends to `warnings` what is wrong with `pod`'s annotations or containers for `mode`:
    /// - a `token-expiration` annotation that is not an integer (ignored) or lies outside
    ///   [600, 86400] (clamped), when the pod's token volume is added by this review;
    /// - a `skip-containers` annotation naming no container of the pod;
    /// - a container, not skipped, that defines one variable of the credential pair but not
    ///   the other: it is given neither, so the SDKs may find no credentials.
    ///
    /// Costs one pass over the containers' env names; nothing is allocated unless there is
    /// something to say.
    public func addWarnings(for pod: Pod, mode: PodIdentityMode, to warnings: inout [String]) {
        let annotations = pod.metadata?.annotations
        let volumeName: String, pair: (String, String)
        switch mode {
        case .podIdentity:
            volumeName = settings.volumeName
            pair = (PodMutator.fullURI, PodMutator.tokenFile)
        case .irsa:
            volumeName = MutationSettings.irsaVolumeName
            pair = (PodMutator.roleARN, PodMutator.webIdentityTokenFile)
        }
        if let value = annotations?[tokenExpirationKey],
            pod.spec?.volumes?.contains(where: { Self.same($0.name, volumeName) }) != true
        {
            if let warning = Self.tokenExpirationWarning(value, key: tokenExpirationKey) { warnings.append(warning) }
        }
        let skipped = annotations?[skipContainersKey].map(PodAnnotations.containerNames(fromSkipContainers:)) ?? []
        let initContainers = pod.spec?.initContainers ?? [], containers = pod.spec?.containers ?? []
        if !skipped.isEmpty {
            let unknown = skipped.filter { name in
                !initContainers.contains { Self.same($0.name, name) }
                    && !containers.contains { Self.same($0.name, name) }
            }
            if !unknown.isEmpty {
                warnings.append(
                    "pod-identity-webhook: annotation \(skipContainersKey) names no container of the pod: "
                        + unknown.map { "\"\($0)\"" }.joined(separator: ", "))
            }
        }
        // Init containers, then containers, without building a list of both.
        func checkPairs(of list: [Container]) {
            for container in list where !skipped.contains(where: { Self.same(container.name, $0) }) {
                var hasFirst = false, hasSecond = false
                for variable in container.env ?? [] {
                    if Self.same(variable.name, pair.0) {
                        hasFirst = true
                    } else if Self.same(variable.name, pair.1) {
                        hasSecond = true
                    }
                }
                guard hasFirst != hasSecond else { continue }
                let (defined, missing) = hasFirst ? pair : (pair.1, pair.0)
                warnings.append(
                    "pod-identity-webhook: container \"\(container.name ?? "")\" defines \(defined) but not \(missing), "
                        + "so neither is injected and it may get no AWS credentials; define both or neither")
            }
        }
        checkPairs(of: initContainers)
        checkPairs(of: containers)
    }

    /// The warning for a `token-expiration` annotation `value` that is not used as written.
    static func tokenExpirationWarning(_ value: String, key: String) -> String? {
        guard let seconds = Int64(value) else {
            return "pod-identity-webhook: annotation \(key) is not an integer number of seconds; ignored"
        }
        let used = min(
            max(seconds, MutationSettings.minimumTokenExpiration), MutationSettings.maximumTokenExpiration)
        guard used != seconds else { return nil }
        return "pod-identity-webhook: annotation \(key) asks for \(seconds) seconds; the token lifetime is \(used) "
            + "(the allowed range is \(MutationSettings.minimumTokenExpiration) to "
            + "\(MutationSettings.maximumTokenExpiration))"
    }
}
