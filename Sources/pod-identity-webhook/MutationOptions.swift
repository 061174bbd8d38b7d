import ArgumentParser
import PodIdentityCore

/// The mutation flags, shared by `serve` and `mutate`, named and defaulted like the reference's.
struct MutationOptions: ParsableArguments {
    @Option(help: "Audience of the projected service-account token.")
    var containerCredentialsAudience = MutationSettings().audience

    @Option(help: "Where the token volume is mounted in containers.")
    var containerCredentialsTokenMountPath = MutationSettings().mountPath

    @Option(help: "Name of the projected token volume and of its mounts.")
    var containerCredentialsTokenVolumeName = MutationSettings().volumeName

    @Option(help: "File name of the token inside the volume.")
    var containerCredentialsTokenPath = MutationSettings().tokenPath

    @Option(
        help:
            "Value of AWS_CONTAINER_CREDENTIALS_FULL_URI, the Pod Identity Agent. Default: http://169.254.170.23/v1/credentials; in EKS mode on an IPv6 cluster, http://[fd00:ec2::23]/v1/credentials."
    )
    var containerCredentialsFullUri: String?

    @Option(
        help:
            "Default token lifetime in seconds (600 to 86400); the pod annotation eks.amazonaws.com/token-expiration overrides it."
    )
    var tokenExpiration: Int64 = MutationSettings().tokenExpiration

    @Flag(
        inversion: .prefixedNo,
        help:
            "With the default 86400 s lifetime, pick a random lifetime in [79200, 86400] so token refreshes spread out."
    )
    var tokenExpirationJitter = true

    @Option(
        help:
            "If set, AWS_DEFAULT_REGION and AWS_REGION are injected with this value. Default: none; the cluster's region in EKS mode."
    )
    var awsDefaultRegion: String?

    @Flag(inversion: .prefixedNo, help: "Inject AWS_STS_REGIONAL_ENDPOINTS=regional. Default: off; on in EKS mode.")
    var stsRegionalEndpoint: Bool?

    @Flag(
        inversion: .prefixedNo,
        help:
            "On IPv6 EKS clusters, also inject AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 (managed EKS does not; it also sends the pods' own IMDS calls over IPv6)."
    )
    var ipv6ImdsEndpointMode = false

    @Flag(
        inversion: .prefixedNo,
        help:
            "Pod Identity only: in containers that set HTTP_PROXY or HTTPS_PROXY (either case) as a value, append the agent's addresses 169.254.170.23 and fd00:ec2::23 to NO_PROXY/no_proxy, or add NO_PROXY."
    )
    var proxyBypass = false

    @Option(help: "Default audience of IRSA tokens; a ServiceAccount's eks.amazonaws.com/audience overrides it.")
    var tokenAudience = MutationSettings().irsaAudience

    @Option(help: "Where the IRSA token volume (aws-iam-token) is mounted in containers.")
    var tokenMountPath = MutationSettings().irsaMountPath

    @Option(help: "Domain of every annotation read on pods and ServiceAccounts (role-arn, skip-containers…).")
    var annotationPrefix = MutationSettings().annotationPrefix

    /// What EKS mode changes when the user did not say otherwise, so pods come out as on
    /// managed EKS: the cluster's region, regional STS, and the IPv6 agent address.
    struct EKSDefaults {
        var region: String
        var ipv6: Bool
    }

    func settings(eks: EKSDefaults? = nil) throws -> MutationSettings {
        var settings = MutationSettings()
        settings.audience = containerCredentialsAudience
        settings.mountPath = containerCredentialsTokenMountPath
        settings.volumeName = containerCredentialsTokenVolumeName
        settings.tokenPath = containerCredentialsTokenPath
        if let uri = containerCredentialsFullUri {
            settings.fullURI = uri
        } else if eks?.ipv6 == true {
            // As managed EKS does on IPv6 clusters: only the IPv6 agent URI.
            settings.fullURI = MutationSettings.ipv6FullURI
        }
        if eks?.ipv6 == true && ipv6ImdsEndpointMode {
            settings.extraEnvironment = [EnvVar(name: "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", value: "IPv6")]
        }
        // As the reference does, a lifetime under the API server's minimum is raised to it.
        settings.tokenExpiration = max(tokenExpiration, MutationSettings.minimumTokenExpiration)
        settings.tokenExpirationJitter = tokenExpirationJitter
        settings.irsaAudience = tokenAudience
        settings.irsaMountPath = tokenMountPath
        settings.annotationPrefix = annotationPrefix
        settings.proxyBypass = proxyBypass
        settings.region = awsDefaultRegion.flatMap { $0.isEmpty ? nil : $0 } ?? eks?.region
        settings.regionalSTS = stsRegionalEndpoint ?? (eks != nil)
        if let problem = settings.validationError() {
            throw ValidationError(problem)
        }
        return settings
    }
}

/// `--association` and `--associations-file`, shared by `serve` and `mutate`.
struct AssociationOptions: ParsableArguments {
    @Option(
        name: .customLong("association"),
        help: ArgumentHelp("A NAMESPACE/SERVICEACCOUNT pair to treat as associated (repeatable).", valueName: "ns/sa"))
    var associations: [String] = []

    @Option(
        name: [.customLong("associations-file"), .customLong("watch-container-credentials-config")],
        help: ArgumentHelp(
            "YAML or JSON file of {namespace, serviceAccount} entries (or the reference's {\"identities\": [...]}), re-read when it changes.",
            valueName: "path"))
    var associationsFile: String?

    func refs() throws -> [ServiceAccountRef] {
        try associations.map {
            guard let ref = ServiceAccountRef(parsing: $0) else {
                throw ValidationError("--association \"\($0)\" is not NAMESPACE/SERVICEACCOUNT")
            }
            return ref
        }
    }
}
