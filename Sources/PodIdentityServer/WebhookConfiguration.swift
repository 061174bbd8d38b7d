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
    /// How long a new connection may take to finish its TLS handshake (`--tls-handshake-timeout`).
    public var tlsHandshakeTimeout: Duration = .seconds(10)
    /// Open connections kept on the webhook port (`--max-connections`); at the cap the one
    /// waiting longest for its handshake, else the one idle longest, is closed for a new one.
    public var maxConnections = 512
    /// Open connections kept on the metrics port (probes and scrapes need few).
    public var metricsMaxConnections = 64
    /// Bytes of review bodies held at once across all connections (`--max-body-bytes-in-flight`);
    /// a request past it is answered 503 with `Retry-After`. A review being decoded and
    /// answered holds about three times its body, so 16 MiB keeps the peak near 64 MiB.
    public var bodyBytesInFlight = 16 * 1024 * 1024
    /// Concurrent streams an HTTP/2 client may open on one connection (`--http2-max-concurrent-streams`).
    public var http2MaxConcurrentStreams = 16
    /// How long an HTTP/2 connection may finish its streams after GOAWAY before it is closed.
    public var gracefulCloseTimeout: Duration = .seconds(10)
    /// How often the certificate files are checked for rotation (`--tls-reload-interval`).
    public var certificateReloadInterval: Duration = .seconds(5)
    /// How often the associations file is checked for changes (`--associations-reload-interval`).
    public var associationsReloadInterval: Duration = .seconds(2)
    /// Serve `/debug/associations` on the metrics port (`--enable-debugging-handlers`).
    public var debuggingHandlers = false
    /// The mutation's settings.
    public var mutation = MutationSettings()

    public init() {}

    /// The webhook port's connection cap lowered, if need be, so that both listeners at
    /// their accept limits, plus `reserve` descriptors for everything else (certificate and
    /// association reloads, AWS and Kubernetes connections), fit in `openFileLimit`.
    public func connectionCap(openFileLimit: UInt64, reserve: Int = 64) -> Int {
        let limit = Int(clamping: openFileLimit)
        let available = limit - reserve - WebhookServer.acceptLimit(metricsMaxConnections)
        var cap = min(maxConnections, max(16, available * 8 / 9))
        while cap > 16 && WebhookServer.acceptLimit(cap) > available { cap -= 1 }
        return cap
    }
}
