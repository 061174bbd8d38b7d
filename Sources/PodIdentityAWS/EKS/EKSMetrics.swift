import CoreMetrics
import Foundation
import PodIdentityCore
import PodIdentitySources

/// The EKS source's metrics, made from an injected swift-metrics factory.
public final class EKSMetrics: Sendable {
    static let associationsLabel = "pod_identity_webhook_eks_associations"
    static let lastSuccessLabel = "pod_identity_webhook_eks_last_successful_sync_timestamp_seconds"
    static let syncDurationLabel = "pod_identity_webhook_eks_sync_duration_seconds"
    static let syncErrorsLabel = "pod_identity_webhook_eks_sync_errors_total"
    static let missLookupsLabel = "pod_identity_webhook_eks_miss_lookups_total"
    static let requestsLabel = "pod_identity_webhook_eks_requests_total"

    /// The `# HELP` of each metric, by name, for the exporter (`WebhookMetrics(help:)`).
    public static let help: [String: String] = [
        associationsLabel: "Pod Identity Associations of the cluster after the last successful full sync.",
        lastSuccessLabel:
            "When the last full sync of the associations from EKS succeeded, in seconds since the Unix epoch.",
        syncDurationLabel:
            "Duration of a successful full sync (every page of ListPodIdentityAssociations), in seconds.",
        syncErrorsLabel: "Full syncs that failed (the previous associations are kept), by the EKS error type.",
        missLookupsLabel:
            "Reviews whose service account missed the cache, by what the miss lookup answered: found, not-found, "
            + "negative-cached, rate-limited, failed, timeout.",
        requestsLabel: "HTTP requests to the EKS API, retries included, by operation and HTTP status (0: no answer).",
    ]

    private let factory: any MetricsFactory
    private let associations: Meter
    private let lastSuccess: Meter
    private let syncDuration: CoreMetrics.Timer

    public init(factory: any MetricsFactory) {
        self.factory = factory
        associations = Meter(label: Self.associationsLabel, factory: factory)
        lastSuccess = Meter(label: Self.lastSuccessLabel, factory: factory)
        syncDuration = CoreMetrics.Timer(label: Self.syncDurationLabel, factory: factory)
    }

    func recordSync(duration: Duration, associations count: Int) {
        associations.set(count)
        lastSuccess.set(Date().timeIntervalSince1970)
        syncDuration.recordNanoseconds(duration.nanosecondsClamped)
    }

    func recordSyncError(reason: String) {
        Counter(label: Self.syncErrorsLabel, dimensions: [("reason", reason)], factory: factory)
            .increment()
    }

    func recordMissLookup(_ result: String) {
        Counter(
            label: Self.missLookupsLabel, dimensions: [("result", result)], factory: factory
        )
        .increment()
    }

    /// Counts one HTTP attempt to EKS; pass as `EKSClient`'s `onRequest`.
    public func recordRequest(operation: String, status: Int) {
        Counter(
            label: Self.requestsLabel,
            dimensions: [("operation", operation), ("status", String(status))], factory: factory
        ).increment()
    }
}
