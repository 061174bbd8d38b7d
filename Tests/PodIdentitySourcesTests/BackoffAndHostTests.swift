import PodIdentitySources
import Testing

@Suite("Backoff and host addresses", .timeLimit(.minutes(1)))
struct BackoffAndHostTests {
    @Test("full jitter under a ceiling that doubles up to the cap")
    func backoff() {
        let backoff = Backoff(base: .milliseconds(100), cap: .seconds(5))
        #expect(backoff.delay(attempt: 1, random: { $0.upperBound }) == .milliseconds(200))
        #expect(backoff.delay(attempt: 3, random: { $0.upperBound }) == .milliseconds(800))
        #expect(backoff.delay(attempt: 3, random: { _ in 0.25 }) == .milliseconds(200))
        #expect(backoff.delay(attempt: 60, random: { $0.upperBound }) == .seconds(5))
        #expect(backoff.delay(attempt: 2, random: { $0.lowerBound }) == .zero)
    }

    @Test(
        "loopback is localhost, 127.0.0.0/8 and ::1, read strictly",
        arguments: [
            ("localhost", true), ("LOCALHOST", true), ("127.0.0.1", true), ("127.255.1.9", true), ("::1", true),
            ("[::1]", true), ("0:0:0:0:0:0:0:1", true), ("127.evil.example", false), ("127.0.0.1.nip.io", false),
            ("0127.0.0.1", false), ("128.0.0.1", false), ("::2", false), ("example.com", false), ("", false),
        ])
    func loopback(host: String, expected: Bool) {
        #expect(HostAddress.isLoopback(host) == expected)
    }
}
