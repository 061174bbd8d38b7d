import Testing

@testable import PodIdentityServer

@Suite("Connection table: who gives way at the cap", .timeLimit(.minutes(1)))
struct ConnectionTableTests {
    @Test("below the cap nobody is closed")
    func belowCap() {
        var table = ConnectionTable<Int>(limit: 3)
        #expect(table.open(1) == nil)
        #expect(table.open(2) == nil)
        #expect(table.open(3) == nil)
        #expect(table.count == 3)
    }

    @Test("past the cap the connection waiting longest for its handshake goes first")
    func handshakingFirst() {
        var table = ConnectionTable<Int>(limit: 3)
        _ = table.open(1)
        _ = table.open(2)
        _ = table.open(3)
        table.set(1, .idle)
        #expect(table.open(4) == 2)
        #expect(table.open(5) == 3)
        #expect(table.count == 3)
    }

    @Test("with no handshake pending, the one idle longest goes; a busy one never")
    func idleLongest() {
        var table = ConnectionTable<Int>(limit: 3)
        for id in 1...3 { _ = table.open(id) }
        table.set(2, .idle)
        table.set(1, .idle)
        table.set(3, .busy)
        #expect(table.open(4) == 2)
        table.set(4, .idle)
        table.set(1, .busy)
        table.set(1, .idle)  // busy in between: idle only from now, so 4 has waited longer
        #expect(table.open(5) == 4)
        #expect(table.phase(of: 3) == .busy)
    }

    @Test("when every other connection is busy nobody is closed and the count passes the cap")
    func allBusy() {
        var table = ConnectionTable<Int>(limit: 2)
        _ = table.open(1)
        _ = table.open(2)
        table.set(1, .busy)
        table.set(2, .busy)
        #expect(table.open(3) == nil)
        #expect(table.count == 3)
        table.close(1)
        #expect(table.count == 2)
    }
}
