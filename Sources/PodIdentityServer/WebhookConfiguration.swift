import NIOSSL
import PodIdentityCore

/// Everything `serve` is told. Every field has the default documented in README.md.
public struct WebhookConfiguration: Sendable {
    /// Address to bind (`--host`). All interfaces by default, as a Service needs.
    public var host = "0.0.0.0"
    /// HTTPS port of `/mutate`, `/healthz`, `/readyz` (`--port`). 0 picks a free port.
    public var port = 8443
    /// Plain-HTTP port of `/metrics` (`--metrics-port`). 0 picks a free port.
    public var metricsPort = 9999
    /// Lowest TLS version accepted (`--tls-min-version`): 1.2 unless raised to 1.3.
    public var tlsMinimumVersion: TLSVersion = .tlsv12
    /// Largest review body accepted; the API server sends at most about 3 MiB.
    public var maxBodySize = 4 * 1024 * 1024
    /// How long a client may take to send its whole body (`--read-timeout`).
    public var readTimeout: Duration = .seconds(10)
    /// How long an idle keep-alive connection is kept (`--idle-timeout`).
    public var idleTimeout: Duration = .seconds(90)
    /// How often the certificate files are checked for rotation (`--tls-reload-interval`).
    public var certificateReloadInterval: Duration = .seconds(5)
    /// How often the associations file is checked for changes (`--associations-reload-interval`).
    public var associationsReloadInterval: Duration = .seconds(2)
    /// Serve `/debug/associations` on the metrics port (`--enable-debugging-handlers`).
    public var debuggingHandlers = false
    /// The mutation's settings.
    public var mutation = MutationSettings()

    public init() {}
}
