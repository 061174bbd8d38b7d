import Prometheus

/// What the listeners do with connections and request bodies, for operators watching the
/// webhook under load or attack. Registered on the webhook's own registry.
public final class TransportMetrics: Sendable {
    public static let openConnectionsLabel = "pod_identity_webhook_open_connections"
    public static let connectionsClosedLabel = "pod_identity_webhook_connections_closed_total"
    public static let bodyBytesLabel = "pod_identity_webhook_body_bytes_in_flight"
    public static let bodyRefusedLabel = "pod_identity_webhook_body_budget_refusals_total"

    /// Why the server closed a connection on its own.
    public enum CloseReason: String, Sendable, CaseIterable {
        /// Closed at the connection cap to make room for a new connection.
        case evicted
        /// No TLS handshake within `--tls-handshake-timeout`.
        case tlsHandshakeTimeout = "tls_handshake_timeout"
        /// An HTTP/2 connection still open after GOAWAY and its grace period.
        case goAwayTimeout = "goaway_timeout"
        /// An HTTP/2 stream whose answer could not be delivered in time (reset).
        case streamTimeout = "stream_timeout"
    }

    private let registry: PrometheusCollectorRegistry
    private let bodyBytes: Gauge
    private let bodyRefused: Counter
    /// Made once: a connection opening or closing sets its listener's gauge without a lookup.
    private let openConnections: [String: Gauge]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        bodyBytes = registry.makeGauge(
            name: Self.bodyBytesLabel,
            help: "Bytes of request bodies reserved now against the in-flight body budget.")
        bodyRefused = registry.makeCounter(
            name: Self.bodyRefusedLabel,
            help: "Requests refused with 503 because the in-flight body budget was full.")
        openConnections = Dictionary(
            uniqueKeysWithValues: ["webhook", "metrics"].map { listener in
                (listener, Self.openConnectionsGauge(registry, listener: listener))
            })
        for reason in CloseReason.allCases { _ = counter(listener: "webhook", reason: reason) }
    }

    func setOpenConnections(_ count: Int, listener: String) {
        (openConnections[listener] ?? Self.openConnectionsGauge(registry, listener: listener)).set(Double(count))
    }

    private static func openConnectionsGauge(_ registry: PrometheusCollectorRegistry, listener: String) -> Gauge {
        registry.makeGauge(
            name: openConnectionsLabel, labels: [("listener", listener)],
            help: "Open client connections per listener (webhook: HTTPS, metrics: plain HTTP).")
    }

    func recordClosed(listener: String, reason: CloseReason) {
        counter(listener: listener, reason: reason).increment()
    }

    func setBodyBytesInFlight(_ bytes: Int) {
        bodyBytes.set(Double(bytes))
    }

    func recordBodyRefused() {
        bodyRefused.increment()
    }

    private func counter(listener: String, reason: CloseReason) -> Counter {
        registry.makeCounter(
            name: Self.connectionsClosedLabel, labels: [("listener", listener), ("reason", reason.rawValue)],
            help: "Connections (or HTTP/2 streams) the server closed on its own, by reason.")
    }
}
