import ArgumentParser
import Foundation
import PodIdentityKubernetes

/// Following ServiceAccounts (`serve` only): IRSA and the ServiceAccount annotations.
struct ServiceAccountOptions: ParsableArguments {
    @Flag(
        inversion: .prefixedNo,
        help:
            "Follow the cluster's ServiceAccounts (list/watch; needs get, list, watch on serviceaccounts): IRSA and the ServiceAccount annotations."
    )
    var watchServiceAccounts = false

    @Option(help: "kubeconfig whose current context reaches the API server (default: the in-cluster configuration).")
    var kubeconfig: String?

    @Option(
        help: "How long a review may wait for a ServiceAccount not seen yet (one GET); 0 turns the lookup off.")
    var serviceAccountLookupGracePeriod = "1s"

    /// The Kubernetes configuration and the source's settings, or nil when not following.
    func configuration(environment: [String: String], annotationPrefix: String) throws -> ServeConfiguration.ServiceAccounts? {
        guard watchServiceAccounts else {
            if kubeconfig != nil {
                FileHandle.standardError.write(
                    Data(
                        "pod-identity-webhook: warning: --kubeconfig has no effect without --watch-service-accounts\n"
                            .utf8))
            }
            return nil
        }
        var source = ServiceAccountSource.Configuration()
        source.annotationPrefix = annotationPrefix
        source.gracePeriod = try parseDuration(serviceAccountLookupGracePeriod, flag: "service-account-lookup-grace-period")
        let kubernetes: KubernetesConfiguration
        do {
            kubernetes = try kubeconfig.map { try Kubeconfig.load(path: $0) } ?? .inCluster(environment: environment)
        } catch let error as KubernetesError {
            throw StartupError(error.description)
        }
        return .init(kubernetes: kubernetes, source: source)
    }
}
