import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import PodIdentityAWS
import PodIdentityCore
import PodIdentityFileSource
import PodIdentityKubernetes
import PodIdentityServer
import PodIdentitySources
import ServiceLifecycle
import UnixSignals

/// Builds the production webhook: certificates, the association source, the listeners, as one
/// ServiceGroup. `serve` runs exactly this, and so do the end-to-end tests (with port 0 and no
/// signals), so what is tested is what ships.
///
/// `httpClient` is owned by the caller (`HTTPClient.withHTTPClient`), so it is shut down on
/// every path, after the group has stopped. In EKS mode the cluster is checked with
/// `DescribeCluster` before anything listens: a wrong cluster, region or credentials stop the
/// webhook at start with a clear message instead of pods silently not being mutated.
func buildServiceGroup(
    configuration: ServeConfiguration,
    httpClient: HTTPClient,
    logger: Logger,
    gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
    onListening: @escaping @Sendable (WebhookServer.Listener, Int) async -> Void = { _, _ in }
) async throws -> ServiceGroup {
    let certificates: CertificateStore
    switch configuration.certificates {
    case .development:
        let pair = try DevCertificate.make()
        certificates = try CertificateStore(certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM, logger: logger)
    case .files(let certificate, let key):
        do {
            certificates = try CertificateStore(
                certificatePath: certificate, keyPath: key,
                pollInterval: configuration.server.certificateReloadInterval, logger: logger)
        } catch {
            throw StartupError("\(error) (use --dev for an in-memory development certificate)")
        }
    }

    let metrics = WebhookMetrics(help: EKSMetrics.help.merging(ServiceAccountSource.metricHelp) { first, _ in first })
    var server = configuration.server
    let source: any AssociationSource
    switch configuration.associations {
    case .fixed(let refs):
        if refs.isEmpty {
            logger.warning("no associations configured (--association, --associations-file): no pod will be mutated")
        }
        source = StaticAssociationSource(refs)
        server.mutation = try configuration.mutation(nil)
    case .file(let path, let extra):
        do {
            source = try FileAssociationSource(
                path: path, extra: extra, pollInterval: server.associationsReloadInterval, logger: logger)
        } catch {
            throw StartupError(error.description)
        }
        server.mutation = try configuration.mutation(nil)
    case .eks(let eks):
        let (eksSource, defaults) = try await makeEKSSource(
            eks, environment: configuration.environment, httpClient: httpClient, metrics: metrics, logger: logger)
        source = eksSource
        server.mutation = try configuration.mutation(defaults)
    }

    let serviceAccounts = configuration.serviceAccounts.map { settings in
        logger.info("following ServiceAccounts", metadata: ["k8s.api": "\(settings.kubernetes)"])
        return ServiceAccountSource(
            kubernetes: settings.kubernetes, configuration: settings.source, metrics: metrics.metricsFactory,
            logger: logger)
    }
    return try WebhookServer(
        configuration: server, source: source, serviceAccounts: serviceAccounts, certificates: certificates,
        metrics: metrics, logger: logger
    ).makeServiceGroup(gracefulShutdownSignals: gracefulShutdownSignals, onListening: onListening)
}

private func makeEKSSource(
    _ eks: ServeConfiguration.EKS, environment: [String: String], httpClient: HTTPClient, metrics: WebhookMetrics,
    logger: Logger
) async throws -> (EKSAssociationSource, MutationOptions.EKSDefaults) {
    let cluster = eks.source.cluster, region = eks.region
    let eksMetrics = EKSMetrics(factory: metrics.metricsFactory)
    let credentials = CredentialChain.standard(environment: environment, httpClient: httpClient, logger: logger)
    let client: EKSClient
    do {
        client = try EKSClient(
            region: region, endpoint: eks.endpoint, httpClient: httpClient, credentials: credentials, logger: logger,
            onRequest: { eksMetrics.recordRequest(operation: $0, status: $1) })
    } catch let error as EKSError {
        throw ValidationError(error.message)  // a flag's mistake (--region, --eks-endpoint): usage and exit 64
    }
    let description: ClusterDescription
    do {
        description = try await client.describeCluster(cluster)
    } catch {
        throw StartupError(
            "cannot describe EKS cluster \"\(cluster)\" in \(region): \(error). Check --cluster-name, --region and "
                + "the webhook's AWS credentials (it needs eks:DescribeCluster and eks:ListPodIdentityAssociations)."
        )
    }
    logger.info(
        "EKS mode",
        metadata: [
            "eks.cluster": "\(cluster)", "aws.region": "\(region)",
            "eks.ip_family": "\(description.ipFamily ?? "ipv4")",
        ])
    let source = EKSAssociationSource(client: client, configuration: eks.source, metrics: eksMetrics, logger: logger)
    return (source, MutationOptions.EKSDefaults(region: region, ipv6: description.ipFamily?.lowercased() == "ipv6"))
}

/// A failure to start that is not a usage mistake: printed as `Error: …` without the usage text.
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
