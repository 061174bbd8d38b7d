import Benchmark
import Foundation
import PodIdentityCore

/// The core's hot path, without the network: decode a review, look the service account up,
/// mutate, encode the response; and snapshot lookups at two cache sizes.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput, .peakMemoryResident],
        maxDuration: .seconds(3), maxIterations: 100_000)

    let snapshot = AssociationSnapshot(
        (0..<5_000).map { ServiceAccountRef(namespace: "ns-\($0 % 50)", name: "sa-\($0)") }
            + [ServiceAccountRef(namespace: "shop", name: "app")],
        source: "benchmark")
    let reviewer = AdmissionReviewer(mutator: PodMutator())

    for (label, envCount) in [("6 KB pod", 8), ("1 MiB pod", 6_300)] {
        let body = Data(RealisticReview.body(serviceAccount: "app", envPerContainer: envCount))
        Benchmark("review \(label) (\(body.count) bytes): decode, mutate, encode") { benchmark in
            for _ in benchmark.scaledIterations {
                let outcome = try await reviewer.review(body) { .snapshot(snapshot.contains($0)) }
                precondition(outcome.decision == .mutated)
                blackHole(outcome.responseBody)
            }
        }
    }
    // The three stages of the 6 KB review on their own.
    let body = Data(RealisticReview.body(serviceAccount: "app"))
    Benchmark("stage: decode the 6 KB review") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try AdmissionReviewer.decode(body))
        }
    }
    let pod = try! AdmissionReviewer.decode(body).request!.object!.pod!
    let mutator = PodMutator()
    Benchmark("stage: compute the patch for the 6 KB pod") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(mutator.patch(for: pod))
        }
    }
    let patch = JSONPatch(mutator.patch(for: pod))
    Benchmark("stage: encode the patch (JSON, then base64)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(patch.jsonData.base64EncodedString())
        }
    }

    let unassociated = Data(RealisticReview.body(serviceAccount: "other"))
    Benchmark("review 6 KB pod, not associated: decode, look up, encode") { benchmark in
        for _ in benchmark.scaledIterations {
            let outcome = try await reviewer.review(unassociated) { .snapshot(snapshot.contains($0)) }
            precondition(outcome.decision == .notAssociated)
            blackHole(outcome.responseBody)
        }
    }

    for count in [5_000, 100_000] {
        let refs = (0..<count).map { ServiceAccountRef(namespace: "ns-\($0 % 200)", name: "service-account-\($0)") }
        let snapshot = AssociationSnapshot(refs, source: "benchmark")
        let probes = (0..<1_000).map { index -> ServiceAccountRef in
            // Half hits, half misses, spread over the whole set.
            index.isMultiple(of: 2)
                ? refs[(index * 7_919) % count]
                : ServiceAccountRef(namespace: "ns-\(index % 200)", name: "absent-\(index)")
        }
        Benchmark(
            "snapshot lookup, \(count) associations (1,000 lookups, half hits)",
            configuration: .init(scalingFactor: .one)
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                var hits = 0
                for probe in probes where snapshot.contains(probe) { hits += 1 }
                precondition(hits == probes.count / 2)
                blackHole(hits)
            }
        }
    }
}
