import Testing

@testable import PodIdentityServer

/// The table on a made-up clock: instants are plain seconds.
@Suite("Connection table: who gives way at the cap", .timeLimit(.minutes(1)))
struct ConnectionTableTests {
    typealias Table = ConnectionTable<Int, ContinuousClock.Instant>
    static let zero = ContinuousClock.now

    static func at(_ seconds: Double) -> ContinuousClock.Instant { zero.advanced(by: .seconds(seconds)) }

    @Test("below the cap nobody is closed")
    func belowCap() {
        var table = Table(limit: 3, patience: .seconds(1), requestPatience: .milliseconds(100))
        #expect(table.open(1, now: Self.at(0)) == nil)
        #expect(table.open(2, now: Self.at(0)) == nil)
        #expect(table.open(3, now: Self.at(0)) == nil)
        #expect(table.count == 3)
    }

    @Test("past the cap the connection that has waited longest, past its patience, for a handshake goes first")
    func staleHandshakeFirst() {
        var table = Table(limit: 3, patience: .seconds(1), requestPatience: .milliseconds(100))
        _ = table.open(1, now: Self.at(0))
        _ = table.open(2, now: Self.at(0.1))
        _ = table.open(3, now: Self.at(0.2))
        table.set(1, .idle, now: Self.at(0.3))
        #expect(table.open(4, now: Self.at(2)) == 2)
        #expect(table.open(5, now: Self.at(2)) == 3)
        #expect(table.count == 3)
    }

    @Test("silence past the patience goes first, then young handshakes, then fresh ones, then used kept-alive ones")
    func patienceOrder() {
        var table = Table(limit: 3, patience: .seconds(1), requestPatience: .milliseconds(100))
        _ = table.open(1, now: Self.at(0))
        _ = table.open(2, now: Self.at(0))
        _ = table.open(3, now: Self.at(0))
        table.set(1, .fresh, now: Self.at(0.01))  // handshake done, then silence
        table.set(2, .fresh, now: Self.at(0.01))
        table.set(2, .busy, now: Self.at(0.02))
        table.set(2, .idle, now: Self.at(0.03))  // served a request, kept alive
        // At 0.05 s, 1 has just finished its handshake (its request may be on the way) and 3
        // is still in its own: 3 gives way.
        #expect(table.open(4, now: Self.at(0.05)) == 3)
        // At 0.5 s, 1 has been silent past its request patience: it goes before 4's handshake.
        #expect(table.open(5, now: Self.at(0.5)) == 1)
        // At 2 s, 4's handshake is past its patience and goes before the used connection.
        #expect(table.open(6, now: Self.at(2)) == 4)
        #expect(table.phase(of: 2) == .idle)
        // Fresh connections within their request patience still go before a used one.
        table.set(5, .fresh, now: Self.at(2.05))
        table.set(6, .fresh, now: Self.at(2.06))
        #expect(table.open(7, now: Self.at(2.1)) == 5)
    }

    @Test("among idle connections the one idle longest goes; a busy one never")
    func idleLongest() {
        var table = Table(limit: 3, patience: .seconds(1), requestPatience: .milliseconds(100))
        for id in 1...3 { _ = table.open(id, now: Self.at(0)) }
        table.set(2, .idle, now: Self.at(0.1))
        table.set(1, .idle, now: Self.at(0.2))
        table.set(3, .busy, now: Self.at(0.3))
        #expect(table.open(4, now: Self.at(0.4)) == 2)
        table.set(4, .idle, now: Self.at(0.5))
        table.set(1, .busy, now: Self.at(0.6))
        table.set(1, .idle, now: Self.at(0.7))  // busy in between: idle only from now, so 4 has waited longer
        #expect(table.open(5, now: Self.at(0.8)) == 4)
        #expect(table.phase(of: 3) == .busy)
    }

    @Test("when every other connection is busy nobody is closed and the count passes the cap")
    func allBusy() {
        var table = Table(limit: 2, patience: .seconds(1), requestPatience: .milliseconds(100))
        _ = table.open(1, now: Self.at(0))
        _ = table.open(2, now: Self.at(0))
        table.set(1, .busy, now: Self.at(0))
        table.set(2, .busy, now: Self.at(0))
        #expect(table.open(3, now: Self.at(5)) == nil)
        #expect(table.count == 3)
        table.close(1)
        #expect(table.count == 2)
    }
}
