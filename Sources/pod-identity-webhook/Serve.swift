import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOSSL
import PodIdentityAWS
import PodIdentityCore
import PodIdentityServer
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the webhook: HTTPS /mutate, /healthz, /readyz; Prometheus /metrics on the metrics port.",
        discussion: """
            Every option can also come from the environment: POD_IDENTITY_WEBHOOK_ followed by the \
            option name in upper snake case (POD_IDENTITY_WEBHOOK_TOKEN_EXPIRATION=3600). Boolean flags \
            accept --name, --name=true and --name=false.
            """)

    @Option(help: "Address to listen on.") var host = "0.0.0.0"
    @Option(help: "HTTPS port of the webhook.") var port = 8443
    @Option(help: "Plain-HTTP port of /metrics (and /healthz, /readyz).") var metricsPort = 9999
    @Option(help: "PEM certificate (chain) file, re-read when it changes.") var tlsCert = "/etc/webhook/certs/tls.crt"
    @Option(help: "PEM private key file, re-read when it changes.") var tlsKey = "/etc/webhook/certs/tls.key"
    @Option(help: "Minimum TLS version: 1.2 or 1.3 (1.0 and 1.1 are raised to 1.2).") var tlsMinVersion = "1.2"
    @Option(help: "How often the certificate files are checked for rotation, e.g. 5s.") var tlsReloadInterval = "5s"
    @Option(help: "How often the associations file is checked for changes, e.g. 2s.") var associationsReloadInterval =
        "2s"
    @Option(help: "Longest time a client may take to send a review body, e.g. 10s.") var readTimeout = "10s"
    @Option(help: "How long an idle keep-alive connection is kept open, e.g. 90s.") var idleTimeout = "90s"
    @Option(help: "Log format: text or json.") var logFormat = LogFormat.text
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Flag(inversion: .prefixedNo, help: "Serve /debug/associations on the metrics port.") var enableDebuggingHandlers =
        false
    @Flag(
        inversion: .prefixedNo,
        help:
            "Development mode: an in-memory self-signed certificate for localhost, an example association (default/demo), and a ready-to-paste curl."
    )
    var dev = false
    @Flag(inversion: .prefixedNo, help: "Print the version and exit.") var version = false

    @OptionGroup(title: "Associations") var associationOptions: AssociationOptions
    @OptionGroup(title: "Mutation") var mutationOptions: MutationOptions
    @OptionGroup(title: "EKS") var eksOptions: EKSOptions

    enum LogFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    func run() async throws {
        if version {
            print("pod-identity-webhook \(PodIdentityVersion.current)")
            return
        }
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        let format = logFormat
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "pod-identity-webhook")

        var configuration = WebhookConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.metricsPort = metricsPort
        configuration.tlsMinimumVersion = try tlsVersion()
        configuration.certificateReloadInterval = try parseDuration(tlsReloadInterval, flag: "tls-reload-interval")
        configuration.associationsReloadInterval = try parseDuration(
            associationsReloadInterval, flag: "associations-reload-interval")
        configuration.readTimeout = try parseDuration(readTimeout, flag: "read-timeout")
        configuration.idleTimeout = try parseDuration(idleTimeout, flag: "idle-timeout")
        configuration.debuggingHandlers = enableDebuggingHandlers

        var refs = try associationOptions.refs()
        let certificates: CertificateStore
        if dev {
            let pair = try DevCertificate.make()
            certificates = try CertificateStore(
                certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM, logger: logger)
            if refs.isEmpty && associationOptions.associationsFile == nil {
                refs = [ServiceAccountRef(namespace: "default", name: "demo")]
            }
        } else {
            do {
                certificates = try CertificateStore(
                    certificatePath: tlsCert, keyPath: tlsKey, pollInterval: configuration.certificateReloadInterval,
                    logger: logger)
            } catch {
                throw StartupError("\(error) (use --dev for an in-memory development certificate)")
            }
        }
        let metrics = WebhookMetrics()
        let source: any AssociationSource
        var httpClient: HTTPClient?
        if let cluster = eksOptions.clusterName {
            guard associationOptions.associationsFile == nil && associationOptions.associations.isEmpty else {
                throw ValidationError(
                    "--cluster-name and --associations-file/--association are two association sources; choose one")
            }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            httpClient = http
            do {
                let (eksSource, defaults) = try await makeEKSSource(
                    cluster: cluster, httpClient: http, metrics: metrics, logger: logger)
                source = eksSource
                configuration.mutation = try mutationOptions.settings(eks: defaults)
            } catch {
                try? await http.shutdown()
                throw error
            }
        } else if let path = associationOptions.associationsFile {
            do {
                source = try FileAssociationSource(
                    path: path, extra: refs, pollInterval: configuration.associationsReloadInterval, logger: logger)
            } catch {
                throw StartupError(error.description)
            }
        } else {
            if refs.isEmpty {
                logger.warning(
                    "no associations configured (--association, --associations-file): no pod will be mutated")
            }
            source = StaticAssociationSource(refs)
        }
        if eksOptions.clusterName == nil {
            configuration.mutation = try mutationOptions.settings()
        }

        let server = WebhookServer(
            configuration: configuration, source: source, certificates: certificates, metrics: metrics, logger: logger)
        let isDev = dev
        let sourceName =
            source.snapshot.source == "flags" ? refs.map(\.description).joined(separator: ", ") : source.snapshot.source
        let group = try server.makeServiceGroup { listener, port in
            logger.info("listening", metadata: ["listener": "\(listener)", "port": "\(port)"])
            if isDev && listener == .webhook {
                FileHandle.standardOutput.write(
                    Data((DevExample.banner(port: port, associations: sourceName) + "\n").utf8))
            }
        }
        do {
            try await group.run()
        } catch {
            try? await httpClient?.shutdown()
            throw error
        }
        try await httpClient?.shutdown()
    }

    /// EKS mode: checks the cluster with `DescribeCluster` before serving, so a wrong cluster,
    /// region or credentials fail at start with a clear message instead of pods silently not
    /// being mutated.
    private func makeEKSSource(
        cluster: String, httpClient: HTTPClient, metrics: WebhookMetrics, logger: Logger
    ) async throws -> (EKSAssociationSource, MutationOptions.EKSDefaults) {
        let environment = ProcessInfo.processInfo.environment
        let region = try eksOptions.resolvedRegion(environment: environment)
        let eksMetrics = EKSMetrics(factory: metrics.metricsFactory)
        let credentials = CredentialChain.standard(environment: environment, httpClient: httpClient, logger: logger)
        let client: EKSClient
        do {
            client = try EKSClient(
                region: region, endpoint: try eksOptions.endpointURL(), httpClient: httpClient,
                credentials: credentials,
                logger: logger, onRequest: { eksMetrics.recordRequest(operation: $0, status: $1) })
        } catch let error as EKSError {
            throw ValidationError(error.message)
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
        let ipv6 = description.ipFamily?.lowercased() == "ipv6"
        logger.info(
            "EKS mode",
            metadata: [
                "eks.cluster": "\(cluster)", "aws.region": "\(region)",
                "eks.ip_family": "\(description.ipFamily ?? "ipv4")",
            ])
        let source = EKSAssociationSource(
            client: client, configuration: try eksOptions.configuration(cluster: cluster), metrics: eksMetrics,
            logger: logger)
        return (source, MutationOptions.EKSDefaults(region: region, ipv6: ipv6))
    }

    private func tlsVersion() throws -> TLSVersion {
        switch tlsMinVersion {
        case "", "1.0", "1.1", "1.2", "VersionTLS12": return .tlsv12
        case "1.3", "VersionTLS13": return .tlsv13
        default: throw ValidationError("--tls-min-version must be 1.2 or 1.3, got \"\(tlsMinVersion)\"")
        }
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h` or a plain number of seconds.
func parseDuration(_ text: String, flag: String) throws -> Duration {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        if let value = Double(text.dropLast(suffix.count)), value >= 0 {
            return .milliseconds(Int64((value * scale * 1000).rounded()))
        }
    }
    if let value = Double(text), value >= 0 {
        return .milliseconds(Int64((value * 1000).rounded()))
    }
    throw ValidationError("--\(flag) must be a duration such as 500ms, 10s or 2m, got \"\(text)\"")
}

/// A failure to start that is not a usage mistake: printed as `Error: …` without the usage text.
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
