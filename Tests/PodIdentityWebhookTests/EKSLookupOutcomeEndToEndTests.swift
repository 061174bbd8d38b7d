import Foundation
import PodIdentityAWSTestSupport
import PodIdentityCore
import PodIdentityTestSupport
import Testing

/// The association lookup's outcome in the answer, through the real server (`serve` flags,
/// `buildServiceGroup`) against the EKS stand-in: where an association came from, a miss
/// lookup that timed out, and what `/debug/explain` says about a pair afterwards.
@Suite("EKS lookup outcome end to end", .serialized, .timeLimit(.minutes(3)))
struct EKSLookupOutcomeEndToEndTests {
    /// Filtered listings (the miss lookup asks for one namespace and service account).
    static func missLookups(_ standIn: EKSStandIn) -> Int {
        standIn.requests.filter { $0.operation == "ListPodIdentityAssociations" && $0.query["namespace"] != nil }.count
    }

    static func audit(_ response: JSONValue?) -> [String: String] {
        guard case .object(let members)? = response?["auditAnnotations"] else { return [:] }
        return members.compactMapValues(\.stringValue)
    }

    static func warnings(_ response: JSONValue?) -> [String] {
        guard case .array(let items)? = response?["warnings"] else { return [] }
        return items.compactMap(\.stringValue)
    }

    @Test(
        "an association in EKS but not in the snapshot yet, whose miss lookup times out: allowed, no patch, a warning and an audit annotation saying so"
    )
    func missLookupTimesOut() async throws {
        let standIn = EKSStandIn()
        // The full sync answers; every miss lookup hangs far past --miss-lookup-timeout.
        standIn.setFaults { request, _ in
            request.operation == "ListPodIdentityAssociations" && request.query["namespace"] != nil
                ? .hang(.seconds(3)) : nil
        }
        try await standIn.serve { port in
            try await EKSModeWebhook.run(
                standIn: standIn, standInPort: port,
                extra: ["--miss-lookup-timeout", "300ms", "--sync-interval", "10m"]
            ) { webhook in
                #expect(
                    try await webhook.eventually(within: .seconds(30)) {
                        try await webhook.get("/readyz").status == 200
                    })
                // Created after the first (and, for this test, only) full sync.
                standIn.add(namespace: "shop", serviceAccount: "checkout")
                let started = ContinuousClock.now
                let response = try await webhook.review(serviceAccount: "checkout")
                let elapsed = ContinuousClock.now - started
                #expect(response?["allowed"] == true)
                #expect(response?["patch"] == nil)
                let audit = Self.audit(response)
                #expect(audit["decision"] == "not-associated")
                #expect(audit["association-lookup"] == "timed-out")
                #expect(audit["source"] == "eks-miss-lookup")
                #expect(audit["reason"]?.contains("the EKS miss lookup timed out") == true, "\(audit)")
                let warnings = Self.warnings(response)
                #expect(warnings.count == 1)
                #expect(warnings.first?.contains("service account shop/checkout timed out") == true, "\(warnings)")
                #expect(warnings.first?.contains("starts without AWS credentials") == true)
                #expect(Self.missLookups(standIn) == 1, "the review did ask EKS")
                let line = try #require(webhook.logs.all.last { $0.message == "review" })
                #expect(line.metadata["admission.association_lookup"] == "timed-out")
                #expect(line.metadata["admission.source"] == "eks-miss-lookup")
                #expect(line.metadata["warning"]?.contains("timed out") == true)
                #expect(elapsed >= .milliseconds(250), "the review waited for the lookup")
                #expect(elapsed < .seconds(2.5), "the review did not wait for EKS's answer")
            }
        }
    }

    @Test("the audit annotation source names the EKS snapshot, the miss lookup and the negative cache")
    func sources() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await standIn.serve { port in
            try await EKSModeWebhook.run(standIn: standIn, standInPort: port, extra: ["--sync-interval", "10m"]) {
                webhook in
                #expect(
                    try await webhook.eventually(within: .seconds(30)) {
                        try await webhook.get("/readyz").status == 200
                    })
                let synced = try await webhook.review(serviceAccount: "checkout")
                #expect(synced?["patch"] != nil)
                #expect(Self.audit(synced)["source"] == "eks-snapshot")
                #expect(Self.warnings(synced).isEmpty)

                standIn.add(namespace: "shop", serviceAccount: "late")
                let late = try await webhook.review(serviceAccount: "late")
                #expect(late?["patch"] != nil)
                #expect(Self.audit(late)["source"] == "eks-miss-lookup")
                #expect(Self.warnings(late).isEmpty)

                let nobody = try await webhook.review(serviceAccount: "nobody")
                #expect(Self.audit(nobody)["source"] == "eks-miss-lookup")
                #expect(Self.audit(nobody)["association-lookup"] == nil)
                let again = try await webhook.review(serviceAccount: "nobody")
                #expect(Self.audit(again)["source"] == "eks-negative-cache")
                #expect(Self.warnings(again).isEmpty)
            }
        }
    }

    @Test("/debug/explain over HTTP in EKS mode: an associated, an unassociated and a negatively cached pair")
    func explain() async throws {
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await standIn.serve { port in
            try await EKSModeWebhook.run(
                standIn: standIn, standInPort: port, extra: ["--sync-interval", "10m", "--enable-debugging-handlers"]
            ) { webhook in
                #expect(
                    try await webhook.eventually(within: .seconds(30)) {
                        try await webhook.get("/readyz").status == 200
                    })
                func explain(_ serviceAccount: String) async throws -> JSONValue {
                    let response = try await webhook.get(
                        "/debug/explain?namespace=shop&serviceAccount=\(serviceAccount)")
                    #expect(response.status == 200)
                    return try JSONValue.parse(Data(response.body.utf8))
                }
                let associated = try await explain("checkout")
                #expect(associated["wouldDo"] == "pod-identity" && associated["associated"] == true)
                #expect(associated["source"] == .string("eks:\(standIn.clusterName)"))
                #expect(associated["lastSync"]?["cluster"] == .string(standIn.clusterName))
                #expect(associated["lookup"] == nil)

                let lookupsBefore = Self.missLookups(standIn)
                let unassociated = try await explain("nobody")
                #expect(unassociated["wouldDo"] == "not-associated" && unassociated["associated"] == false)
                #expect(unassociated["lookup"] == nil)
                #expect(Self.missLookups(standIn) == lookupsBefore, "explain starts no lookup")

                // A review's miss lookup finds nothing: the pair is in the negative cache.
                let review = try await webhook.review(serviceAccount: "nobody")
                #expect(review?["patch"] == nil)
                #expect(Self.missLookups(standIn) == lookupsBefore + 1)
                let cached = try await explain("nobody")
                #expect(cached["wouldDo"] == "not-associated")
                let left = try #require(cached["lookup"]?["negativeCacheSecondsLeft"]?.stringValue.flatMap(Double.init))
                #expect(left > 0 && left <= 30)
                #expect(cached["reason"]?.stringValue?.contains("recently answered that it has no association") == true)
            }
        }
    }
}
