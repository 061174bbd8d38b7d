import Foundation
import Prometheus
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The process's own resources under the names every Prometheus client library uses
/// (`process_resident_memory_bytes`, `process_cpu_seconds_total`…), so dashboards and alerts
/// written for them work unchanged. Read from `/proc/self` at each scrape; only on Linux
/// (elsewhere `init` returns nil and none of them is exported).
final class ProcessMetrics: Sendable {
    static let residentMemoryLabel = "process_resident_memory_bytes"
    static let virtualMemoryLabel = "process_virtual_memory_bytes"
    static let cpuLabel = "process_cpu_seconds_total"
    static let openFDsLabel = "process_open_fds"
    static let maxFDsLabel = "process_max_fds"
    static let startTimeLabel = "process_start_time_seconds"

    static let help: [String: String] = [
        residentMemoryLabel: "Resident memory of the webhook process, in bytes.",
        virtualMemoryLabel: "Virtual memory size of the webhook process, in bytes.",
        cpuLabel: "User and system CPU time the webhook process has used, in seconds.",
        openFDsLabel: "File descriptors the webhook process holds open.",
        maxFDsLabel: "The webhook process's limit on open file descriptors (the soft RLIMIT_NOFILE).",
        startTimeLabel: "Start time of the webhook process, in seconds since the Unix epoch.",
    ]

    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private let cpu: Prometheus.Counter
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let startTime: Gauge
    /// CPU seconds already added to the counter (a counter only goes up, by differences).
    private let cpuCounted = Mutex<Double>(0)
    private let ticksPerSecond: Double
    private let pageSize: Double

    init?(registry: PrometheusCollectorRegistry) {
        guard let units = Self.units(), Self.readStat() != nil else { return nil }
        (ticksPerSecond, pageSize) = units
        func describe(_ label: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: label, unitName: "", helpText: Self.help[label] ?? "")
        }
        residentMemory = registry.makeGauge(descriptor: describe(Self.residentMemoryLabel))
        virtualMemory = registry.makeGauge(descriptor: describe(Self.virtualMemoryLabel))
        cpu = registry.makeCounter(descriptor: describe(Self.cpuLabel))
        openFDs = registry.makeGauge(descriptor: describe(Self.openFDsLabel))
        maxFDs = registry.makeGauge(descriptor: describe(Self.maxFDsLabel))
        startTime = registry.makeGauge(descriptor: describe(Self.startTimeLabel))
        update()
    }

    /// Clock ticks per second (the unit of CPU times in `/proc`) and the page size (of `rss`);
    /// nil where there is no `/proc` to read.
    private static func units() -> (ticks: Double, page: Double)? {
        #if os(Linux)
            let ticks = sysconf(Int32(_SC_CLK_TCK)), page = sysconf(Int32(_SC_PAGESIZE))
            return ticks > 0 && page > 0 ? (Double(ticks), Double(page)) : nil
        #else
            return nil
        #endif
    }

    /// `/proc/self/stat` fields after the command name: index 0 is field 3 (state) of proc(5).
    private static func readStat() -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: end)...].split(separator: " ", omittingEmptySubsequences: true)
        return fields.count > 21 ? fields : nil
    }

    /// Reads `/proc` and sets every value; called before each exposition.
    func update() {
        guard let stat = Self.readStat() else { return }
        // proc(5): utime 14, stime 15, starttime 22 (ticks after boot), vsize 23 (bytes), rss 24 (pages).
        let field = { (number: Int) in Double(stat[number - 3]) ?? 0 }
        let used = (field(14) + field(15)) / ticksPerSecond
        let added = cpuCounted.withLock { counted -> Double in
            let delta = used - counted
            guard delta > 0 else { return 0 }
            counted = used
            return delta
        }
        if added > 0 { cpu.increment(by: added) }
        virtualMemory.set(to: field(23))
        residentMemory.set(to: field(24) * pageSize)
        if let boot = Self.bootTime() { startTime.set(to: boot + field(22) / ticksPerSecond) }
        if let open = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFDs.set(to: Double(open.count))
        }
        if let limit = Self.openFileLimit() { maxFDs.set(to: limit) }
    }

    /// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The soft limit of "Max open files" in `/proc/self/limits` ("unlimited" gives nil).
    private static func openFileLimit() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/limits", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Max open files") {
            let columns = line.dropFirst("Max open files".count).split(separator: " ", omittingEmptySubsequences: true)
            return columns.first.flatMap { Double($0) }
        }
        return nil
    }
}
