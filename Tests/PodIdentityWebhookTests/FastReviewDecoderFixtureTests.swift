import Foundation
import Testing

@testable import PodIdentityCore

/// The fast decoder against `JSONDecoder` over the mutation fixtures (which live with the
/// executable's tests): whenever the fast path answers, its answer must be the one
/// `JSONDecoder` gives; and on real pods it must answer, or it speeds nothing up.
@Suite("FastReviewDecoder on the fixtures", .timeLimit(.minutes(2)))
struct FastReviewDecoderFixtureTests {
    static func fast(_ body: Data) -> AdmissionReview? {
        body.withUnsafeBytes { FastReviewDecoder.decode($0.bindMemory(to: UInt8.self)) }
    }

    static func foundation(_ body: Data) -> AdmissionReview? {
        try? AdmissionReviewer.decodeWithFoundation(body)
    }

    @Test(
        "every fixture's review decodes on the fast path to what JSONDecoder gives, or falls back when the pod is unreadable",
        arguments: Fixture.all)
    func fixtures(fixture: Fixture) throws {
        let body = try fixture.reviewBody()
        let foundation = try #require(Self.foundation(body))
        if foundation.request?.object?.problem != nil {
            // A pod JSONDecoder cannot read: its warning must come from JSONDecoder.
            #expect(Self.fast(body) == nil)
        } else {
            let fast = try #require(Self.fast(body), "the fast path fell back on a readable pod")
            #expect(fast == foundation)
        }
    }

    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("randomly damaged reviews: whenever the fast path answers, JSONDecoder answers the same")
    func damagedReviews() throws {
        let original = Array(
            try #require(Fixture.all.first { $0.name.contains("thirty") } ?? Fixture.all.first).reviewBody())
        var random = SplitMix64(state: 0x5EED)
        let alphabet = Array(#"{}[]",:\"0123456789-+.eEtrufalsn u\ "#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xA9, 0xFF]
        var answered = 0
        for round in 0..<3_000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[position] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: position)
                default: bytes.insert(alphabet.randomElement(using: &random)!, at: position)
                }
            }
            let body = Data(bytes)
            guard let fast = Self.fast(body) else { continue }
            answered += 1
            let foundation = Self.foundation(body)
            #expect(fast == foundation, "round \(round): the fast path and JSONDecoder disagree")
            if fast != foundation { break }
        }
        // Most single-byte damage lands in a skipped string and keeps the document valid.
        #expect(answered > 500)
    }
}
