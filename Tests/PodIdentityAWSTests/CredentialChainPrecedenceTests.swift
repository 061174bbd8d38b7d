import AsyncHTTPClient
import Foundation
import PodIdentityAWS
import Testing

/// Which provider of the standard chain (`CredentialChain.standard`, what `serve` uses) supplies
/// the credentials when several are configured at once: the environment keys, web identity, the
/// shared files, the container endpoint, IMDS, in that order. The container endpoint and IMDS
/// are the fake endpoints on loopback, reached through the variables the SDKs read, so every
/// request a provider makes is recorded: a provider that lost never sent one.
@Suite("Credential chain: which provider wins", .serialized, .timeLimit(.minutes(2)))
struct CredentialChainPrecedenceTests {
    /// Every provider configured: keys, web identity, a credentials file, the fake container
    /// endpoint and the fake IMDS.
    static func everything(_ directory: TemporaryDirectory, port: Int) throws -> [String: String] {
        try directory.write(
            "credentials", "[default]\naws_access_key_id = AKIDSHAREDFILE\naws_secret_access_key = file-secret\n")
        // An empty token: web identity applies, and fails before it would call the real STS.
        let token = try directory.write("web-identity-token", "")
        return [
            "HOME": directory.url.path,
            "AWS_ACCESS_KEY_ID": "AKIDENVIRONMENT", "AWS_SECRET_ACCESS_KEY": "environment-secret",
            "AWS_WEB_IDENTITY_TOKEN_FILE": token, "AWS_ROLE_ARN": "arn:aws:iam::111122223333:role/web",
            "AWS_REGION": "us-west-2",
            "AWS_SHARED_CREDENTIALS_FILE": directory.path("credentials"), "AWS_CONFIG_FILE": directory.path("config"),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(port)",
        ]
    }

    static func chain(_ environment: [String: String]) -> CredentialChain {
        CredentialChain.standard(environment: environment, httpClient: .shared, logger: CredentialTest.quietLogger)
    }

    @Test("each provider wins over every one after it: environment, web identity, shared files, container, IMDS")
    func order() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            var environment = try Self.everything(directory, port: port)

            // 1. The environment keys, over everything else; nothing else is asked.
            let fromEnvironment = try await Self.chain(environment).credentials()
            #expect(fromEnvironment.accessKeyID == "AKIDENVIRONMENT")
            #expect(fake.snapshot.containerRequests.isEmpty && fake.snapshot.imdsRequests.isEmpty)

            // 2. Web identity, over the shared files, the container endpoint and IMDS: once its
            // variables are set it is the provider, so its failure is the chain's answer.
            environment["AWS_ACCESS_KEY_ID"] = nil
            environment["AWS_SECRET_ACCESS_KEY"] = nil
            let webIdentity = try #require(await CredentialTest.error(from: Self.chain(environment)))
            #expect(webIdentity.kind == .failed)
            #expect(webIdentity.description.contains("AWS_WEB_IDENTITY_TOKEN_FILE"), "\(webIdentity)")
            #expect(fake.snapshot.containerRequests.isEmpty && fake.snapshot.imdsRequests.isEmpty)

            // 3. The shared credentials file, over the container endpoint and IMDS.
            environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = nil
            environment["AWS_ROLE_ARN"] = nil
            #expect(try await Self.chain(environment).credentials().accessKeyID == "AKIDSHAREDFILE")
            #expect(fake.snapshot.containerRequests.isEmpty && fake.snapshot.imdsRequests.isEmpty)

            // 4. The container endpoint (EKS Pod Identity, ECS), over IMDS.
            directory.remove()
            let fromContainer = try await Self.chain(environment).credentials()
            #expect(fromContainer == CredentialTest.endpointCredentials)
            #expect(fake.snapshot.containerRequests.count == 1)
            #expect(fake.snapshot.imdsRequests.isEmpty)

            // 5. IMDS, last.
            environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = nil
            let fromIMDS = try await Self.chain(environment).credentials()
            #expect(fromIMDS == CredentialTest.endpointCredentials)
            #expect(fake.snapshot.containerRequests.count == 1)
            #expect(fake.snapshot.imdsRequests.map(\.method) == ["PUT", "GET", "GET"])

            // 6. Nothing left: an error naming every provider.
            environment["AWS_EC2_METADATA_DISABLED"] = "true"
            let none = try #require(await CredentialTest.error(from: Self.chain(environment)))
            #expect(none.kind == .failed)
            #expect(fake.snapshot.imdsRequests.count == 3)
        }
    }

    @Test("half of the environment keys stop the chain with an error instead of falling through to the next provider")
    func halfSetKeysStop() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            var environment = try Self.everything(directory, port: port)
            environment["AWS_SECRET_ACCESS_KEY"] = nil
            let error = try #require(await CredentialTest.error(from: Self.chain(environment)))
            #expect(error.kind == .failed)
            #expect(error.description.contains("AWS_SECRET_ACCESS_KEY"))
            #expect(fake.snapshot.containerRequests.isEmpty && fake.snapshot.imdsRequests.isEmpty)
        }
    }

    @Test("blank variables configure nothing: empty keys and an empty FULL_URI leave the choice to IMDS")
    func blankVariables() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            let environment = [
                "HOME": directory.url.path,
                "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                "AWS_WEB_IDENTITY_TOKEN_FILE": " ", "AWS_ROLE_ARN": "",
                "AWS_SHARED_CREDENTIALS_FILE": directory.path("credentials"),
                "AWS_CONFIG_FILE": directory.path("config"),
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": " ",
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(port)",
            ]
            let credentials = try await Self.chain(environment).credentials()
            #expect(credentials == CredentialTest.endpointCredentials)
            #expect(fake.snapshot.containerRequests.isEmpty)
            #expect(fake.snapshot.imdsRequests.count == 3)
        }
    }

    @Test("the chain keeps the winner's credentials: a later call does not ask the providers again")
    func winnerIsCached() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            var environment = try Self.everything(directory, port: port)
            for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"] {
                environment[name] = nil
            }
            environment["AWS_SHARED_CREDENTIALS_FILE"] = directory.path("absent")
            // The fake's credentials expire in 2026-11; the chain's clock is the real one, so
            // give them an expiry far enough ahead to be cached.
            fake.update { $0.containerExpiration = "2999-01-01T00:00:00Z" }
            let chain = Self.chain(environment)
            let first = try await chain.credentials()
            let second = try await chain.credentials()
            #expect(first == second)
            #expect(first.accessKeyID == FakeCredentialEndpoints.accessKeyID)
            #expect(fake.snapshot.containerRequests.count == 1)
            #expect(fake.snapshot.imdsRequests.isEmpty)
        }
    }
}
