import CoreMetrics
import Prometheus

/// A swift-metrics factory over a `PrometheusCollectorRegistry` that gives every family its
/// `# HELP` text.
///
/// swift-prometheus's own `PrometheusMetricsFactory` registers every metric with an empty help
/// (swift-metrics has no place for one), and the registry refuses a second registration of a
/// name with another help. So the help of each metric name is known up front, in `help`, and
/// every handler is made here with it: the libraries keep using plain swift-metrics types and
/// declare their texts next to their metrics (`EKSMetrics.help`, `ServiceAccountSource.metricHelp`).
/// A name missing from `help` is exported without `# HELP`, which the metrics tests catch.
struct DescribedMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    /// Help text by metric name.
    let help: [String: String]
    /// Buckets of a swift-metrics `Timer`, by name; other timers use `defaultDurationBuckets`.
    let durationBuckets: [String: [Duration]]
    let defaultDurationBuckets: [Duration]
    /// Buckets of an aggregating `Recorder` (a value histogram).
    let defaultValueBuckets: [Double]

    init(
        registry: PrometheusCollectorRegistry, help: [String: String], durationBuckets: [String: [Duration]] = [:],
        defaultDurationBuckets: [Duration] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ],
        defaultValueBuckets: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
    ) {
        self.registry = registry
        self.help = help
        self.durationBuckets = durationBuckets
        self.defaultDurationBuckets = defaultDurationBuckets
        self.defaultValueBuckets = defaultValueBuckets
    }

    /// The name as given (no namespace, subsystem or unit added) with its help.
    private func describe(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: describe(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: describe(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: describe(label), labels: dimensions) }
        return registry.makeValueHistogram(
            descriptor: describe(label), labels: dimensions, buckets: defaultValueBuckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: describe(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: describe(label), labels: dimensions, buckets: durationBuckets[label] ?? defaultDurationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge {
            registry.unregisterGauge(gauge)
        } else if let histogram = handler as? ValueHistogram {
            registry.unregisterValueHistogram(histogram)
        }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
