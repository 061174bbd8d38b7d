/// Everything the mutation can be told, with the reference webhook's defaults.
///
/// Names follow the reference's flags (`--container-credentials-*`, `--token-expiration`,
/// `--aws-default-region`, `--sts-regional-endpoint`) so migrating users keep their manifests.
public struct MutationSettings: Sendable, Equatable {
    /// Audience of the projected service-account token (`--container-credentials-audience`).
    public var audience = "pods.eks.amazonaws.com"
    /// Where the token volume is mounted in containers (`--container-credentials-token-mount-path`).
    public var mountPath = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
    /// Name of the projected volume and of its mounts (`--container-credentials-token-volume-name`).
    public var volumeName = "eks-pod-identity-token"
    /// File name of the token inside the volume (`--container-credentials-token-path`).
    public var tokenPath = "eks-pod-identity-token"
    /// The Pod Identity Agent endpoint (`--container-credentials-full-uri`).
    public var fullURI = MutationSettings.ipv4FullURI
    /// Default token lifetime in seconds (`--token-expiration`); never below 600.
    public var tokenExpiration: Int64 = MutationSettings.maximumTokenExpiration
    /// Spread token refreshes when the default lifetime is the maximum (`--token-expiration-jitter`).
    public var tokenExpirationJitter = true
    /// Injected as `AWS_DEFAULT_REGION` and `AWS_REGION` when set (`--aws-default-region`).
    public var region: String?
    /// Inject `AWS_STS_REGIONAL_ENDPOINTS=regional` (`--sts-regional-endpoint`).
    public var regionalSTS = false
    /// Default audience of IRSA tokens (`--token-audience`); a ServiceAccount's `audience`
    /// annotation overrides it.
    public var irsaAudience = "sts.amazonaws.com"
    /// Where the IRSA token volume is mounted (`--token-mount-path`).
    public var irsaMountPath = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
    /// The domain of every annotation read, on pods and ServiceAccounts (`--annotation-prefix`).
    public var annotationPrefix = "eks.amazonaws.com"
    /// Extra variables appended after the credential variables when missing, such as
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6` on IPv6 clusters.
    public var extraEnvironment: [EnvVar] = []
    /// Append the Pod Identity Agent's addresses to `NO_PROXY` of containers that name a proxy
    /// (`--proxy-bypass`; see ProxyBypass.swift).
    public var proxyBypass = false

    public init() {}

    public static let ipv4FullURI = "http://169.254.170.23/v1/credentials"
    public static let ipv6FullURI = "http://[fd00:ec2::23]/v1/credentials"
    /// The kube-apiserver refuses projected tokens shorter than 10 minutes.
    public static let minimumTokenExpiration: Int64 = 600
    /// EKS issues Pod Identity tokens for at most 24 hours.
    public static let maximumTokenExpiration: Int64 = 86400
    /// The IRSA token volume (and mount) name and its file name, fixed as in the reference.
    public static let irsaVolumeName = "aws-iam-token"
    public static let irsaTokenPath = "token"
    /// Low end of the jitter range, 22 hours, as the reference uses.
    public static let jitterFloor: Int64 = 79200

    /// Checks the settings and returns the first problem found, in words for a flag user.
    public func validationError() -> String? {
        if audience.isEmpty { return "--container-credentials-audience must not be empty" }
        if !mountPath.hasPrefix("/") {
            return "--container-credentials-token-mount-path must be an absolute path, got \"\(mountPath)\""
        }
        if volumeName.isEmpty { return "--container-credentials-token-volume-name must not be empty" }
        if tokenPath.isEmpty || tokenPath.hasPrefix("/") {
            return "--container-credentials-token-path must be a relative path, got \"\(tokenPath)\""
        }
        if fullURI.isEmpty { return "--container-credentials-full-uri must not be empty" }
        if tokenExpiration < MutationSettings.minimumTokenExpiration
            || tokenExpiration > MutationSettings.maximumTokenExpiration
        {
            return "--token-expiration must be between 600 and 86400 seconds, got \(tokenExpiration)"
        }
        if let region, region.isEmpty { return "--aws-default-region must not be empty when given" }
        if irsaAudience.isEmpty { return "--token-audience must not be empty" }
        if !irsaMountPath.hasPrefix("/") {
            return "--token-mount-path must be an absolute path, got \"\(irsaMountPath)\""
        }
        if annotationPrefix.isEmpty || annotationPrefix.contains("/") {
            return "--annotation-prefix must be a domain such as eks.amazonaws.com, got \"\(annotationPrefix)\""
        }
        return nil
    }
}

/// A name and literal value, as the mutation adds them to a container's `env`.
public struct EnvVar: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    var json: JSONValue { .object(["name": .string(name), "value": .string(value)]) }
}
