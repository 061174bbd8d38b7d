import CoreMetrics
import Foundation
import PodIdentityCore
import PodIdentitySources

/// The EKS source's metrics, made from an injected swift-metrics factory.
public final class EKSMetrics: Sendable {
    private let factory: any MetricsFactory
    private let associations: Meter
    private let lastSuccess: Meter
    private let syncDuration: CoreMetrics.Timer

    public init(factory: any MetricsFactory) {
        self.factory = factory
        associations = Meter(label: "pod_identity_webhook_eks_associations", factory: factory)
        lastSuccess = Meter(label: "pod_identity_webhook_eks_last_successful_sync_timestamp_seconds", factory: factory)
        syncDuration = CoreMetrics.Timer(label: "pod_identity_webhook_eks_sync_duration_seconds", factory: factory)
    }

    func recordSync(duration: Duration, associations count: Int) {
        associations.set(count)
        lastSuccess.set(Date().timeIntervalSince1970)
        syncDuration.recordNanoseconds(duration.nanosecondsClamped)
    }

    func recordSyncError(reason: String) {
        Counter(label: "pod_identity_webhook_eks_sync_errors_total", dimensions: [("reason", reason)], factory: factory)
            .increment()
    }

    func recordMissLookup(_ result: String) {
        Counter(
            label: "pod_identity_webhook_eks_miss_lookups_total", dimensions: [("result", result)], factory: factory
        )
        .increment()
    }

    /// Counts one HTTP attempt to EKS; pass as `EKSClient`'s `onRequest`.
    public func recordRequest(operation: String, status: Int) {
        Counter(
            label: "pod_identity_webhook_eks_requests_total",
            dimensions: [("operation", operation), ("status", String(status))], factory: factory
        ).increment()
    }
}
