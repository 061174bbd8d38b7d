// swift-tools-version:6.1
// Micro-benchmarks of the pure core (ordo-one package-benchmark), in a package of their own
// so the webhook's build and test command never build them. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "pod-identity-webhook-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The malloc interposer counts allocations; the ARC runtime interposer is off because
        // its package is not in this machine's mirror.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"])
    ],
    targets: [
        // The webhook's own core sources, through a symlink: a path dependency on ".." would
        // take its identity from the checkout folder's name, which differs between clones.
        .target(
            name: "PodIdentityCore",
            path: "PodIdentityCore",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "PodIdentityCore",
            ],
            path: "Benchmarks/CoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
