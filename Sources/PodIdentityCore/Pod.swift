/// The few fields of a Pod that the mutation reads.
///
/// Decoding is lenient: every other field is ignored on read, and since patches are
/// surgical, nothing read here is ever written back, so fields this type does not know
/// (including those of newer Kubernetes versions) cannot be lost.
public struct Pod: Decodable, Sendable, Equatable {
    public var metadata: ObjectMeta?
    public var spec: PodSpec?

    public init(metadata: ObjectMeta? = nil, spec: PodSpec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }

    /// `metadata.name`, else `metadata.generateName`: what to call the pod in logs.
    public var displayName: String {
        if let name = metadata?.name, !name.isEmpty { return name }
        return metadata?.generateName ?? ""
    }
}

public struct ObjectMeta: Decodable, Sendable, Equatable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    /// Keys compared byte for byte, as Kubernetes compares them (see `StringMap`).
    public var labels: StringMap?
    public var annotations: StringMap?

    public init(
        name: String? = nil, generateName: String? = nil, namespace: String? = nil,
        labels: StringMap? = nil, annotations: StringMap? = nil
    ) {
        self.name = name
        self.generateName = generateName
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}

public struct PodSpec: Decodable, Sendable, Equatable {
    public var serviceAccountName: String?
    /// The deprecated alias of `serviceAccountName`, still honoured by the API server.
    public var serviceAccount: String?
    public var nodeSelector: StringMap?
    public var volumes: [Named]?
    public var containers: [Container]?
    public var initContainers: [Container]?

    public init(
        serviceAccountName: String? = nil, serviceAccount: String? = nil, nodeSelector: StringMap? = nil,
        volumes: [Named]? = nil, containers: [Container]? = nil, initContainers: [Container]? = nil
    ) {
        self.serviceAccountName = serviceAccountName
        self.serviceAccount = serviceAccount
        self.nodeSelector = nodeSelector
        self.volumes = volumes
        self.containers = containers
        self.initContainers = initContainers
    }
}

public struct Container: Decodable, Sendable, Equatable {
    public var name: String?
    /// Only the names: env values may hold secrets and are never decoded (but for the proxy
    /// entries below).
    public var env: [Named]?
    public var volumeMounts: [Named]?
    /// The `env` entries `--proxy-bypass` reads: the proxy variables (whether they have a value,
    /// not the value) and `NO_PROXY`/`no_proxy` (their value). Decoded in ProxyBypass.swift.
    public var proxyVariables: [ProxyVariable] = []
    /// Whether `envFrom` lists a source (which may define `NO_PROXY`).
    public var hasEnvFrom = false

    public init(
        name: String? = nil, env: [Named]? = nil, volumeMounts: [Named]? = nil,
        proxyVariables: [ProxyVariable] = [], hasEnvFrom: Bool = false
    ) {
        self.name = name
        self.env = env
        self.volumeMounts = volumeMounts
        self.proxyVariables = proxyVariables
        self.hasEnvFrom = hasEnvFrom
    }
}

/// Any list entry that the mutation identifies by its `name` (env var, volume, mount); names
/// are compared byte for byte (`PodMutator`), never by Swift's canonical-equivalence `==`.
public struct Named: Decodable, Sendable, Equatable, ExpressibleByStringLiteral {
    public var name: String?

    public init(name: String?) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }
}
