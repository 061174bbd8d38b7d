extension Duration {
    /// Whole nanoseconds, `Int64.max` for a duration too long to count them (timeouts that
    /// mean "never").
    package var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds.
    package var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// Seconds as a floating-point number (a property of its own name, not `seconds`, which
    /// would read like the static `.seconds(_:)`).
    package var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Milliseconds with three decimals (`"1.234"`), for log lines; without `String(format:)`,
    /// which goes through Foundation's formatter on every review.
    package var millisecondsText: String {
        let micros = max(0, nanosecondsClamped / 1000)
        let fraction = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
