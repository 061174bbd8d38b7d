import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOSSL
import PodIdentityCore
import PodIdentityAWS
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
    @Option(help: "Longest time a new connection may take to finish its TLS handshake, e.g. 10s.")
    var tlsHandshakeTimeout = "10s"
    @Option(
        help:
            "Open connections kept on the webhook port; at the cap the one waiting longest for its handshake, else the one idle longest, is closed for a new one."
    ) var maxConnections = 512
    @Option(
        help:
            "Bytes of review bodies held at once across all connections (e.g. 16Mi, at least 8Mi); a request past it gets 503 with Retry-After."
    ) var maxBodyBytesInFlight = "16Mi"
    @Option(help: "Concurrent streams one HTTP/2 connection may open (1 to 256).") var http2MaxConcurrentStreams = 16
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
    @OptionGroup(title: "ServiceAccounts (IRSA)") var serviceAccountOptions: ServiceAccountOptions

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
        Allocator.returnLargeBlocksToTheSystem()
        if let limit = FileDescriptorLimit.raiseToHardLimit(), limit.after != limit.before {
            logger.info(
                "raised the open-file limit to the hard limit",
                metadata: ["fd.soft_before": "\(limit.before)", "fd.soft": "\(limit.after)"])
        }
        var configuration = try configuration(environment: ProcessInfo.processInfo.environment)
        if let openFiles = FileDescriptorLimit.current() {
            let cap = configuration.server.connectionCap(openFileLimit: openFiles)
            if cap < configuration.server.maxConnections {
                logger.notice(
                    "lowered the connection cap to fit the open-file limit",
                    metadata: ["connections.max": "\(cap)", "fd.soft": "\(openFiles)"])
                configuration.server.maxConnections = cap
            }
        }
        let banner = dev ? configuration.associationsDescription : nil
        try await HTTPClient.withHTTPClient(configuration: .aws) { httpClient in
            let group = try await buildServiceGroup(
                configuration: configuration, httpClient: httpClient, logger: logger
            ) { listener, port in
                logger.info("listening", metadata: ["listener": "\(listener)", "port": "\(port)"])
                if let banner, listener == .webhook {
                    FileHandle.standardOutput.write(Data((DevExample.banner(port: port, associations: banner) + "\n").utf8))
                }
            }
            try await group.run()
        }
    }

    /// The flags, checked, as the configuration `buildServiceGroup` runs.
    func configuration(environment: [String: String]) throws -> ServeConfiguration {
        var configuration = ServeConfiguration()
        configuration.environment = environment
        configuration.server.host = host
        configuration.server.port = port
        configuration.server.metricsPort = metricsPort
        configuration.server.tlsMinimumVersion = try tlsVersion()
        configuration.server.certificateReloadInterval = try parseDuration(
            tlsReloadInterval, flag: "tls-reload-interval")
        configuration.server.associationsReloadInterval = try parseDuration(
            associationsReloadInterval, flag: "associations-reload-interval")
        configuration.server.readTimeout = try parseDuration(readTimeout, flag: "read-timeout")
        configuration.server.idleTimeout = try parseDuration(idleTimeout, flag: "idle-timeout")
        configuration.server.tlsHandshakeTimeout = try parseDuration(
            tlsHandshakeTimeout, flag: "tls-handshake-timeout")
        guard configuration.server.tlsHandshakeTimeout > .zero else {
            throw ValidationError("--tls-handshake-timeout must be more than 0")
        }
        guard maxConnections >= 16 else {
            throw ValidationError("--max-connections must be at least 16, got \(maxConnections)")
        }
        configuration.server.maxConnections = maxConnections
        let budget = try parseByteSize(maxBodyBytesInFlight, flag: "max-body-bytes-in-flight")
        guard budget >= 8 * 1024 * 1024 else {
            throw ValidationError(
                "--max-body-bytes-in-flight must be at least 8Mi (room for the largest review, 4Mi, and the reserve for ordinary ones), got \"\(maxBodyBytesInFlight)\""
            )
        }
        configuration.server.bodyBytesInFlight = budget
        guard (1...256).contains(http2MaxConcurrentStreams) else {
            throw ValidationError(
                "--http2-max-concurrent-streams must be between 1 and 256, got \(http2MaxConcurrentStreams)")
        }
        configuration.server.http2MaxConcurrentStreams = http2MaxConcurrentStreams
        configuration.server.debuggingHandlers = enableDebuggingHandlers
        configuration.certificates = dev ? .development : .files(certificate: tlsCert, key: tlsKey)

        let refs = try associationOptions.refs()
        if let cluster = eksOptions.clusterName {
            guard associationOptions.associationsFile == nil && refs.isEmpty else {
                throw ValidationError(
                    "--cluster-name and --associations-file/--association are two association sources; choose one")
            }
            configuration.associations = .eks(
                .init(
                    region: try eksOptions.resolvedRegion(environment: environment),
                    endpoint: try eksOptions.endpointURL(), source: try eksOptions.configuration(cluster: cluster)))
        } else if let path = associationOptions.associationsFile {
            configuration.associations = .file(path: path, extra: refs)
        } else if refs.isEmpty && dev {
            configuration.associations = .fixed([ServiceAccountRef(namespace: "default", name: "demo")])
        } else {
            configuration.associations = .fixed(refs)
        }
        let mutationOptions = self.mutationOptions
        // Checked now, so a bad mutation flag is a usage error before anything starts.
        let settings = try mutationOptions.settings()
        configuration.serviceAccounts = try serviceAccountOptions.configuration(
            environment: environment, annotationPrefix: settings.annotationPrefix)
        configuration.mutation = { try mutationOptions.settings(eks: $0) }
        return configuration
    }

    private func tlsVersion() throws -> TLSVersion {
        switch tlsMinVersion {
        case "", "1.0", "1.1", "1.2", "VersionTLS12": return .tlsv12
        case "1.3", "VersionTLS13": return .tlsv13
        default: throw ValidationError("--tls-min-version must be 1.2 or 1.3, got \"\(tlsMinVersion)\"")
        }
    }
}

/// Parses `1048576`, `512Ki`, `32Mi` or `1Gi` as a number of bytes.
func parseByteSize(_ text: String, flag: String) throws -> Int {
    let units: [(String, Int)] = [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        if let value = Int(text.dropLast(suffix.count)), value >= 0, value <= Int.max / scale {
            return value * scale
        }
    }
    if let value = Int(text), value >= 0 { return value }
    throw ValidationError("--\(flag) must be a size such as 33554432, 512Ki or 32Mi, got \"\(text)\"")
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
