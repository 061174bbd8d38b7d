import Foundation
import PodIdentityAWS
import PodIdentityCore
import PodIdentityKubernetes
import PodIdentityServer

/// Everything `serve` runs with, parsed and checked: what `Serve` builds from the command line
/// and what the end-to-end tests build directly. `buildServiceGroup` turns it into the running
/// webhook.
struct ServeConfiguration {
    /// Where the serving certificate comes from.
    enum Certificates {
        /// An in-memory self-signed pair for localhost (`--dev`).
        case development
        /// `--tls-cert` and `--tls-key`, re-read when they change.
        case files(certificate: String, key: String)
    }

    /// Where associations come from: exactly one source.
    enum Associations {
        /// `--association` flags (or `--dev`'s example); possibly none.
        case fixed([ServiceAccountRef])
        /// `--associations-file`, plus any `--association` flags.
        case file(path: String, extra: [ServiceAccountRef])
        /// `--cluster-name`: the EKS API.
        case eks(EKS)
    }

    struct EKS {
        var region: String
        /// `--eks-endpoint`; nil means the region's public endpoint.
        var endpoint: URL?
        var source: EKSAssociationSource.Configuration
    }

    /// `--watch-service-accounts`: how to reach the API server and how to follow.
    struct ServiceAccounts {
        var kubernetes: KubernetesConfiguration
        var source: ServiceAccountSource.Configuration
    }

    /// Listeners, timeouts, debugging handlers. Its `mutation` is set by `buildServiceGroup`
    /// from `mutation` below.
    var server = WebhookConfiguration()
    var certificates = Certificates.development
    var associations = Associations.fixed([])
    /// nil: no Kubernetes API access at all (the default, zero RBAC).
    var serviceAccounts: ServiceAccounts?
    /// The mutation settings; EKS mode passes the cluster's facts (region, IP family) so that
    /// what the user did not set comes out as on managed EKS.
    var mutation: (MutationOptions.EKSDefaults?) throws -> MutationSettings = { _ in MutationSettings() }
    /// The process environment: the AWS credential chain and region read it.
    var environment: [String: String] = ProcessInfo.processInfo.environment

    /// How the banner of `--dev` names the associations.
    var associationsDescription: String {
        switch associations {
        case .fixed(let refs): refs.isEmpty ? "none" : refs.map(\.description).joined(separator: ", ")
        case .file(let path, _): "file:\(path)"
        case .eks(let eks): "eks:\(eks.source.cluster)"
        }
    }
}
