@testable import PodIdentityCore
import Testing

@Suite("Duration units", .timeLimit(.minutes(5)))
struct DurationUnitsTests {
    @Test(
        "milliseconds with three decimals, for log lines",
        arguments: [
            (Duration.microseconds(1_234), "1.234"), (.nanoseconds(5_999), "0.005"), (.seconds(2), "2000.000"),
            (.milliseconds(12) + .microseconds(40), "12.040"), (.zero, "0.000"),
        ])
    func millisecondsText(duration: Duration, text: String) {
        #expect(duration.millisecondsText == text)
    }

    @Test("nanoseconds clamp instead of overflowing; milliseconds and seconds")
    func conversions() {
        #expect(Duration.seconds(3).nanosecondsClamped == 3_000_000_000)
        #expect(Duration.seconds(Int64.max).nanosecondsClamped == .max)
        #expect(Duration.milliseconds(1_500).milliseconds == 1_500)
        #expect(Duration.milliseconds(1_500).inSeconds == 1.5)
    }
}
