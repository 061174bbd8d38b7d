import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import PodIdentityCore
import PodIdentityServer
import PodIdentityTestSupport
import Testing

/// An HTTP client trusting the test certificate, with a connect timeout that allows for a
/// loaded 2-core machine starting every suite's servers at once (the shared helper's 1 s does
/// not), keeping its connections between requests.
enum PatientClient {
    static func make(trusting pem: String = WebhookServerTests.certificate.certificatePEM) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        return HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .seconds(30))))
    }
}

/// Samples of a Prometheus text exposition by series (`name{labels}` as written), for exact
/// checks of a scraped value.
private func samples(_ exposition: String) -> [String: Double] {
    var result: [String: Double] = [:]
    for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            continue
        }
        result[String(line[..<space])] = value
    }
    return result
}

/// A review that is a well-formed AdmissionReview but whose `request.object` is not a Pod
/// (wrong types, a string, null) is answered through the real server over TLS, not refused:
/// 200, `allowed: true`, no patch, a warning that names the field but never quotes the pod,
/// the `error` decision in the audit annotations and the metrics. The API server then creates
/// the pod unmutated instead of applying `failurePolicy` to a webhook error.
@Suite("Undecodable pods over HTTP", .serialized, .timeLimit(.minutes(2)))
struct UndecodablePodOverHTTPTests {
    static let secret = "pod-secret-\(UUID().uuidString)"

    /// Objects that do not decode as a Pod, and the field the warning must name.
    static let objects: [(object: JSONValue, names: String)] = [
        (.object(["spec": .object(["containers": .string(secret)])]), "spec.containers"),
        (
            .object(["metadata": .object(["name": "web", "labels": .string(secret)]), "spec": .object([:])]),
            "metadata.labels"
        ),
        (.string(secret), "object"),
        (.null, "object"),
    ]

    @Test("answered allowed with a warning, counted as decision=error, never as a rejected request")
    func allowedWithWarning() async throws {
        try await TestServer.with(certificates: try WebhookServerTests.store()) { server in
            let client = try PatientClient.make()
            defer { client.shutdownInBackground() }
            for (index, item) in Self.objects.enumerated() {
                let uid = "undecodable-\(index)"
                let answer = try await WebhookServerTests.post(
                    client, server.base + "/mutate", body: Reviews.body(uid: uid, object: item.object))
                #expect(answer.status == 200, "\(item.names)")
                let review = try JSONValue.parse(answer.body)
                let response = try #require(review["response"])
                #expect(response["uid"] == .string(uid))
                #expect(response["allowed"] == true)
                #expect(response["patch"] == nil && response["patchType"] == nil)
                #expect(response["auditAnnotations"]?["decision"] == "error")
                #expect(
                    response["auditAnnotations"]?["reason"]
                        == "the pod could not be decoded; it starts without credentials")
                guard case .array(let warnings)? = response["warnings"] else {
                    Issue.record("no warnings for \(item.names): \(String(decoding: answer.body, as: UTF8.self))")
                    continue
                }
                #expect(warnings.count == 1)
                let warning = try #require(warnings.first?.stringValue)
                #expect(warning.hasPrefix("pod-identity-webhook: pod not mutated"))
                #expect(warning.contains(item.names), "\(warning)")
                #expect(!String(decoding: answer.body, as: UTF8.self).contains(Self.secret))
            }

            // The server goes on mutating.
            let good = try await WebhookServerTests.post(client, server.base + "/mutate", body: Reviews.body())
            #expect(try JSONValue.parse(good.body)["response"]?["patch"] != nil)

            let metrics = samples(try await WebhookServerTests.get(client, server.metricsBase + "/metrics").body)
            #expect(metrics[#"pod_identity_webhook_reviews_total{decision="error"}"#] == Double(Self.objects.count))
            #expect(metrics[#"pod_identity_webhook_reviews_total{decision="mutated"}"#] == 1)
            #expect(!metrics.keys.contains { $0.hasPrefix(WebhookMetrics.rejectedLabel) }, "nothing was rejected")
            let lines = server.logs.all.filter { $0.message == "review" }
            #expect(lines.filter { $0.metadata["admission.decision"] == "error" }.count == Self.objects.count)
            #expect(!server.logs.all.contains { $0.text.contains(Self.secret) })
        }
    }
}
