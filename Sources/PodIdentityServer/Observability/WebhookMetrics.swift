import CoreMetrics
import Foundation
import PodIdentityCore
import Prometheus

/// The webhook's metrics, made through swift-metrics from an injected factory so that each
/// server (and each test) has its own registry.
public final class WebhookMetrics: Sendable {
    public static let reviewsLabel = "pod_identity_webhook_reviews_total"
    static let podCountLabel = "pod_identity_webhook_pod_count"
    public static let rejectedLabel = "pod_identity_webhook_rejected_requests_total"
    public static let durationLabel = "pod_identity_webhook_review_duration_seconds"
    public static let associationsLabel = "pod_identity_webhook_associations"

    /// Buckets from 50 µs: a review normally takes well under a millisecond.
    public static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
    ]

    /// The `# HELP` of this server's metrics.
    public static let help: [String: String] = [
        reviewsLabel: "AdmissionReviews answered, by decision (mutated, unchanged, not-associated, ignored, error).",
        podCountLabel:
            "Pods given credentials, by method: container_credentials (Pod Identity) or sts_web_identity (IRSA).",
        rejectedLabel:
            "Requests to /mutate refused with an HTTP error instead of an AdmissionReview, by status code; "
            + "the API server then applies the webhook's failurePolicy.",
        durationLabel:
            "Time from a request's arrival at /mutate to its AdmissionReview answer (body read included), in "
            + "seconds; refused requests are not counted.",
        associationsLabel: "Associations the webhook holds now (its association source's snapshot).",
    ]

    public let registry: PrometheusCollectorRegistry
    private let reviews: [ReviewDecision: CoreMetrics.Counter]
    private let duration: CoreMetrics.Timer
    private let associations: CoreMetrics.Meter
    private let factory: DescribedMetricsFactory
    private let process: ProcessMetrics?
    /// The factory behind these metrics, for other components' metrics on the same registry.
    public var metricsFactory: any MetricsFactory { factory }

    /// `help` gives the `# HELP` of the metrics other components make through `metricsFactory`
    /// (e.g. `EKSMetrics.help`); a metric whose name has none is exported without one.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), help: [String: String] = [:]) {
        self.registry = registry
        let factory = DescribedMetricsFactory(
            registry: registry, help: help.merging(Self.help) { _, own in own },
            durationBuckets: [Self.durationLabel: Self.durationBuckets])
        self.factory = factory
        process = ProcessMetrics(registry: registry)
        reviews = Dictionary(
            uniqueKeysWithValues: ReviewDecision.allCases.map {
                (
                    $0,
                    CoreMetrics.Counter(
                        label: Self.reviewsLabel, dimensions: [("decision", $0.rawValue)], factory: factory)
                )
            })
        duration = CoreMetrics.Timer(label: Self.durationLabel, factory: factory)
        associations = CoreMetrics.Meter(label: Self.associationsLabel, factory: factory)
    }

    /// Counts a review answered with an `AdmissionReview`, and its latency; a mutated pod also
    /// counts in the reference's `pod_identity_webhook_pod_count{method}`.
    public func record(_ decision: ReviewDecision, method: CredentialMethod? = nil, duration nanoseconds: Int64) {
        reviews[decision]?.increment()
        duration.recordNanoseconds(nanoseconds)
        if decision == .mutated, let method {
            CoreMetrics.Counter(label: Self.podCountLabel, dimensions: [("method", method.rawValue)], factory: factory)
                .increment()
        }
    }

    /// Counts a request refused with an HTTP error (`status` 400, 408, 413, 415…).
    public func recordRejected(status: Int) {
        CoreMetrics.Counter(label: Self.rejectedLabel, dimensions: [("status", String(status))], factory: factory)
            .increment()
    }

    public func setAssociations(_ count: Int) {
        associations.set(count)
    }

    /// The Prometheus text exposition of everything recorded, and of the process's resources.
    public func exposition() -> String {
        process?.update()
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
