import Foundation
import PodIdentityAWS
import PodIdentityAWSTestSupport
import PodIdentityCore
import Testing

/// What the EKS client does when AWS refuses the credentials it signed with: an
/// `ExpiredTokenException` or an `InvalidSignatureException` makes it drop the credential
/// chain's cached credentials, so the next request fetches fresh ones from the provider
/// instead of signing with the refused ones until their stated expiry. Other errors leave the
/// cache alone.
@Suite("EKS client: refused credentials are fetched again", .serialized, .timeLimit(.minutes(2)))
struct EKSExpiredCredentialsTests {
    /// A provider whose every answer carries a new session token and an expiry an hour ahead,
    /// so the chain would keep the first answer for 55 minutes if nothing invalidated it.
    /// `secret(call)` lets a call answer a secret the stand-in refuses.
    static func provider(secret: @escaping @Sendable (Int) -> String = { _ in EKSStandIn.secretAccessKey })
        -> CountingProvider
    {
        CountingProvider(name: "rotating") { call in
            AWSCredentials(
                accessKeyID: EKSStandIn.accessKeyID, secretAccessKey: secret(call), sessionToken: "session-\(call)",
                expiration: Date().addingTimeInterval(3600))
        }
    }

    static func chain(_ provider: CountingProvider) -> CredentialChain {
        CredentialChain(providers: [provider], logger: EKSTest.quietLogger)
    }

    @Test(
        "an expired-token answer drops the cached credentials; the next request signs with fresh ones",
        arguments: ["ExpiredTokenException", "InvalidSignatureException"])
    func refusedCredentialsAreRefetched(_ errorType: String) async throws {
        let provider = Self.provider()
        try await EKSTest.with(credentials: Self.chain(provider)) { standIn, client in
            _ = try await client.describeCluster(standIn.clusterName)
            _ = try await client.describeCluster(standIn.clusterName)
            #expect(provider.count == 1, "cached while valid")

            standIn.setFaults { _, index in
                index == 2 ? .status(403, type: errorType, message: "refused") : nil
            }
            await #expect {
                _ = try await client.describeCluster(standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == errorType && (error as? EKSError)?.status == 403
            }
            #expect(standIn.requests.count == 3, "a refused credential is not a throttle: no retry")

            _ = try await client.describeCluster(standIn.clusterName)
            #expect(provider.count == 2, "fetched again after AWS refused them")
            _ = try await client.describeCluster(standIn.clusterName)
            #expect(provider.count == 2, "and cached again")
        }
    }

    @Test("credentials the stand-in really refuses (a wrong secret) are replaced by the provider's next answer")
    func wrongSecretReplaced() async throws {
        let provider = Self.provider { call in call == 1 ? "a-secret-aws-does-not-know" : EKSStandIn.secretAccessKey }
        try await EKSTest.with(credentials: Self.chain(provider)) { standIn, client in
            await #expect {
                _ = try await client.listAllPodIdentityAssociations(cluster: standIn.clusterName)
            } throws: { error in
                (error as? EKSError)?.type == "InvalidSignatureException"
            }
            standIn.add(namespace: "shop", serviceAccount: "checkout")
            let all = try await client.listAllPodIdentityAssociations(cluster: standIn.clusterName)
            #expect(all.map(\.ref) == [ServiceAccountRef(namespace: "shop", name: "checkout")])
            #expect(provider.count == 2)
        }
    }

    @Test(
        "errors that say nothing about the credentials keep them cached",
        arguments: [
            EKSStandIn.Fault.status(403, type: "AccessDeniedException", message: "not authorized"),
            .status(404, type: "ResourceNotFoundException", message: "No cluster found"),
            .status(400, type: "InvalidParameterException", message: "bad"),
        ])
    func otherErrorsKeepCredentials(_ fault: EKSStandIn.Fault) async throws {
        let provider = Self.provider()
        try await EKSTest.with(credentials: Self.chain(provider)) { standIn, client in
            _ = try await client.describeCluster(standIn.clusterName)
            standIn.setFaults { _, index in index == 1 ? fault : nil }
            await #expect(throws: EKSError.self) { _ = try await client.describeCluster(standIn.clusterName) }
            _ = try await client.describeCluster(standIn.clusterName)
            #expect(provider.count == 1)
        }
    }

    @Test("through the source: the sync refused for an expired token fails, the next one signs afresh and succeeds")
    func syncAfterExpiredToken() async throws {
        let provider = Self.provider()
        let standIn = EKSStandIn()
        standIn.add(namespace: "shop", serviceAccount: "checkout")
        try await EKSTest.with(standIn, credentials: Self.chain(provider)) { standIn, client in
            var configuration = EKSAssociationSource.Configuration(cluster: standIn.clusterName)
            configuration.missLookupTimeout = .zero
            let source = EKSAssociationSource(client: client, configuration: configuration, logger: EKSTest.quietLogger)
            #expect(await source.syncOnce())
            standIn.add(namespace: "shop", serviceAccount: "cart")
            standIn.setFaults { _, index in
                index == 1 ? .status(403, type: "ExpiredTokenException", message: "The security token is expired") : nil
            }
            #expect(!(await source.syncOnce()))
            #expect(source.syncStatus.lastError?.contains("ExpiredTokenException") == true)
            #expect(await source.syncOnce())
            #expect(source.snapshot.count == 2)
            #expect(provider.count == 2)
        }
    }
}
