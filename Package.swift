// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "pod-identity-webhook",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pod-identity-webhook", targets: ["pod-identity-webhook"]),
        .library(name: "PodIdentityCore", targets: ["PodIdentityCore"]),
        .library(name: "PodIdentityServer", targets: ["PodIdentityServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
    ],
    targets: [
        // Pure mutation logic: Foundation only, no I/O.
        .target(
            name: "PodIdentityCore",
            swiftSettings: swiftSettings
        ),
        // What every background source shares: the association-source protocol, the static
        // source, the file watcher, backoff, cancellable sleep. No YAML, no HTTP, no server.
        .target(
            name: "PodIdentitySources",
            dependencies: [
                "PodIdentityCore",
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The associations file (YAML or JSON) and the source that follows it.
        .target(
            name: "PodIdentityFileSource",
            dependencies: [
                "PodIdentityCore",
                "PodIdentitySources",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // AWS: SigV4, credential providers, the EKS client and the EKS association source.
        .target(
            name: "PodIdentityAWS",
            dependencies: [
                "PodIdentityCore",
                "PodIdentitySources",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Kubernetes: the ServiceAccount list/watch client and cache (IRSA and the ServiceAccount
        // annotations). On Core and Sources only, like AWS.
        .target(
            name: "PodIdentityKubernetes",
            dependencies: [
                "PodIdentityCore",
                "PodIdentitySources",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTPS server, TLS with certificate reload, health, metrics, logging. No AWS, no Kubernetes.
        .target(
            name: "PodIdentityServer",
            dependencies: [
                "PodIdentityCore",
                "PodIdentitySources",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
                .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The command line (serve, mutate, version), the offline mutation and the wiring.
        .executableTarget(
            name: "pod-identity-webhook",
            dependencies: [
                "PodIdentityCore",
                "PodIdentitySources",
                "PodIdentityFileSource",
                "PodIdentityServer",
                "PodIdentityAWS",
                "PodIdentityKubernetes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the test targets only.
        .target(
            name: "PodIdentityTestSupport",
            dependencies: [
                "PodIdentityCore",
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The EKS stand-in, shared by the AWS tests and the executable's end-to-end tests.
        .target(
            name: "PodIdentityAWSTestSupport",
            dependencies: [
                "PodIdentityAWS",
                "PodIdentityCore",
                "PodIdentityTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Kubernetes API stand-in (ServiceAccounts: discovery, GET, paginated LIST, WATCH over
        // HTTP or HTTPS), for the Kubernetes client's tests; proven against the real kubectl.
        .target(
            name: "PodIdentityKubernetesTestSupport",
            dependencies: [
                "PodIdentityTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PodIdentityCoreTests",
            dependencies: ["PodIdentityCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PodIdentitySourcesTests",
            dependencies: [
                "PodIdentitySources",
                "PodIdentityFileSource",
                "PodIdentityCore",
                "PodIdentityTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PodIdentityAWSTests",
            dependencies: [
                "PodIdentityAWS",
                "PodIdentityCore",
                "PodIdentityAWSTestSupport",
                "PodIdentityTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Fixtures", "Support/botocore_sign.py"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PodIdentityKubernetesTests",
            dependencies: [
                "PodIdentityKubernetes",
                "PodIdentityKubernetesTestSupport",
                "PodIdentityCore",
                "PodIdentitySources",
                "PodIdentityTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PodIdentityServerTests",
            dependencies: [
                "PodIdentityServer",
                "PodIdentityCore",
                "PodIdentitySources",
                "PodIdentityTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The executable's tests: the command line, the build function end to end (file and EKS
        // mode), the mutation fixtures through every path, the chart and the scripts.
        .testTarget(
            name: "PodIdentityWebhookTests",
            dependencies: [
                "pod-identity-webhook",
                "PodIdentityAWS",
                "PodIdentityAWSTestSupport",
                "PodIdentityKubernetes",
                "PodIdentityKubernetesTestSupport",
                "PodIdentityCore",
                "PodIdentityServer",
                "PodIdentityTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
