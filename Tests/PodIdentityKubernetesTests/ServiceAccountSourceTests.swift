import Foundation
import Logging
import PodIdentityCore
import PodIdentityKubernetesTestSupport
import PodIdentityTestSupport
import ServiceLifecycle
import Testing

@testable import PodIdentityKubernetes

/// The ServiceAccount source against the stand-in, on its own (the webhook's end-to-end tests
/// run it inside `serve`).
@Suite("ServiceAccount source", .serialized, .timeLimit(.minutes(2)))
struct ServiceAccountSourceTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let web = ServiceAccountRef(namespace: "shop", name: "web")

    static func eventually(_ limit: Duration, _ condition: () async -> Bool) async throws -> Bool {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test("the token file is re-read: after the kubelet rotates it, the reconnected watch uses the new token")
    func tokenRotation() async throws {
        let standIn = KubernetesStandIn(token: "first-token")
        standIn.apply(namespace: "shop", name: "web", annotations: ["eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/a"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("first-token\n".utf8).write(to: file)
        try await standIn.serve { port in
            let configuration = try KubernetesConfiguration(
                server: URL(string: "http://127.0.0.1:\(port)")!, credentials: .tokenFile(file.path))
            let source = ServiceAccountSource(kubernetes: configuration, logger: Self.quiet)
            try await LoopbackServer.withRunning(ServiceGroup(services: [source], logger: Self.quiet)) { () async throws in
                #expect(try await Self.eventually(.seconds(5)) { source.isReady })
                // The kubelet writes a new token; the API server stops accepting the old one.
                try Data("second-token\n".utf8).write(to: file)
                standIn.rotateToken("second-token")
                standIn.dropWatches()
                standIn.apply(namespace: "shop", name: "web", annotations: ["eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/b"])
                let updated = try await Self.eventually(.seconds(3)) {
                    await source.serviceAccount(Self.web, waitIfMissing: false)?.roleARN == "arn:aws:iam::1:role/b"
                }
                #expect(updated, "the watch did not resume with the rotated token")
                #expect(standIn.requests.last?.authorized == true)
            }
        }
    }

    @Test("concurrent misses for one ServiceAccount share one GET")
    func singleFlight() async throws {
        let standIn = KubernetesStandIn()
        try await standIn.serve { port in
            let configuration = try KubernetesConfiguration(
                server: URL(string: "http://127.0.0.1:\(port)")!, credentials: .token(standIn.token))
            var settings = ServiceAccountSource.Configuration()
            settings.gracePeriod = .seconds(3)
            let source = ServiceAccountSource(kubernetes: configuration, configuration: settings, logger: Self.quiet)
            try await LoopbackServer.withRunning(ServiceGroup(services: [source], logger: Self.quiet)) { () async throws in
                #expect(try await Self.eventually(.seconds(5)) { source.isReady })
                // Created with the watch cut off and the API slow: every review misses at once.
                standIn.setDown(true)
                standIn.dropWatches()
                standIn.apply(namespace: "shop", name: "burst", annotations: ["eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/c"])
                standIn.setDown(false)
                standIn.setDelay(.milliseconds(300))
                let ref = ServiceAccountRef(namespace: "shop", name: "burst")
                let answers = await withTaskGroup(of: String?.self) { group in
                    for _ in 0..<10 { group.addTask { await source.serviceAccount(ref, waitIfMissing: true)?.roleARN } }
                    var collected: [String?] = []
                    for await answer in group { collected.append(answer) }
                    return collected
                }
                #expect(answers.allSatisfy { $0 == "arn:aws:iam::1:role/c" })
                let gets = standIn.requests.filter { $0.path == "/api/v1/namespaces/shop/serviceaccounts/burst" }
                #expect(gets.count <= 1, "\(gets.count) GETs for one ServiceAccount")
                standIn.setDelay(.zero)
            }
        }
    }
}
