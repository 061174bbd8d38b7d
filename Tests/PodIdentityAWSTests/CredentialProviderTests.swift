import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PodIdentityAWS
import Synchronization
import Testing

// MARK: - Helpers

enum CredentialTest {
    static let quietLogger = Logger(label: "credential-test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// What the fake container endpoint and IMDS answer.
    static let endpointCredentials = AWSCredentials(
        accessKeyID: FakeCredentialEndpoints.accessKeyID, secretAccessKey: FakeCredentialEndpoints.secretAccessKey,
        sessionToken: FakeCredentialEndpoints.sessionToken, expiration: FakeCredentialEndpoints.expiration)

    /// The `CredentialProviderError` a provider throws; nil (and an issue for any other error)
    /// when it throws something else or answers.
    static func error(from provider: any CredentialProvider) async -> CredentialProviderError? {
        do {
            let credentials = try await provider.credentials()
            Issue.record("expected an error, got \(credentials)")
            return nil
        } catch let error as CredentialProviderError {
            return error
        } catch {
            Issue.record("expected a CredentialProviderError, got \(error)")
            return nil
        }
    }
}

/// A directory under the system's temporary directory, removed with `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("credential-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `contents` to the file `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let filePath = path(name)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: filePath))
        return filePath
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Counts its calls; answers `answer(callNumber)` after `delay`.
final class CountingProvider: CredentialProvider {
    let name: String
    private let calls = Mutex(0)
    private let delay: Duration
    private let answer: @Sendable (Int) throws -> AWSCredentials

    init(
        name: String = "counting", delay: Duration = .zero,
        answer: @escaping @Sendable (Int) throws -> AWSCredentials = { call in
            AWSCredentials(accessKeyID: "AKIDCOUNT\(call)", secretAccessKey: "count-secret-\(call)")
        }
    ) {
        self.name = name
        self.delay = delay
        self.answer = answer
    }

    var count: Int { calls.withLock { $0 } }

    func credentials() async throws -> AWSCredentials {
        let call = calls.withLock { calls in
            calls += 1
            return calls
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        return try answer(call)
    }
}

/// Always throws the same error.
struct ThrowingProvider: CredentialProvider {
    let name: String
    let error: CredentialProviderError
    func credentials() async throws -> AWSCredentials { throw error }
}

/// A settable clock for the chain's `now`.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func set(_ date: Date) { current.withLock { $0 = date } }
}

// MARK: - Environment

@Suite("Environment credential provider", .timeLimit(.minutes(5)))
struct EnvironmentCredentialProviderTests {
    @Test("the key ID, secret and session token are read from the environment")
    func allSet() async throws {
        let credentials = try await EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKIDENVIRONMENT", "AWS_SECRET_ACCESS_KEY": "environment-secret",
            "AWS_SESSION_TOKEN": "environment-token",
        ]).credentials()
        #expect(
            credentials
                == AWSCredentials(
                    accessKeyID: "AKIDENVIRONMENT", secretAccessKey: "environment-secret",
                    sessionToken: "environment-token"))
    }

    @Test("the session token is optional, and an empty one counts as unset")
    func tokenOptional() async throws {
        for environment in [
            ["AWS_ACCESS_KEY_ID": "AKIDENVIRONMENT", "AWS_SECRET_ACCESS_KEY": "environment-secret"],
            [
                "AWS_ACCESS_KEY_ID": "AKIDENVIRONMENT", "AWS_SECRET_ACCESS_KEY": "environment-secret",
                "AWS_SESSION_TOKEN": "",
            ],
        ] {
            let credentials = try await EnvironmentCredentialProvider(environment: environment).credentials()
            #expect(credentials.accessKeyID == "AKIDENVIRONMENT")
            #expect(credentials.secretAccessKey == "environment-secret")
            #expect(credentials.sessionToken == nil)
            #expect(credentials.expiration == nil)
        }
    }

    @Test(
        "only one of the key ID and the secret is a failure whose message holds no secret",
        arguments: [
            ["AWS_ACCESS_KEY_ID": "AKIDENVIRONMENT"],
            ["AWS_SECRET_ACCESS_KEY": "lonely-environment-secret"],
        ])
    func onlyOne(_ environment: [String: String]) async throws {
        let error = try #require(
            await CredentialTest.error(from: EnvironmentCredentialProvider(environment: environment)))
        #expect(error.kind == .failed)
        #expect(!error.description.contains("lonely-environment-secret"))
    }

    @Test("nothing set means not configured")
    func noneSet() async throws {
        let error = try #require(
            await CredentialTest.error(from: EnvironmentCredentialProvider(environment: ["PATH": "/bin"])))
        #expect(error.kind == .notConfigured)
    }
}

// MARK: - Shared files

@Suite("Shared credentials and config files", .timeLimit(.minutes(5)))
struct SharedFilesCredentialProviderTests {
    static func environment(_ directory: TemporaryDirectory, profile: String? = nil) -> [String: String] {
        var environment = [
            "HOME": directory.url.path,
            "AWS_SHARED_CREDENTIALS_FILE": directory.path("credentials"),
            "AWS_CONFIG_FILE": directory.path("config"),
        ]
        if let profile { environment["AWS_PROFILE"] = profile }
        return environment
    }

    @Test("the credentials file wins over the config file")
    func credentialsFileWins() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "credentials",
            """
            [default]
            aws_access_key_id = AKIDCREDENTIALSFILE
            aws_secret_access_key = credentials-file-secret
            """)
        try directory.write(
            "config",
            """
            [default]
            region = us-west-2
            aws_access_key_id = AKIDCONFIGFILE
            aws_secret_access_key = config-file-secret
            """)
        let credentials = try await SharedFilesCredentialProvider(environment: Self.environment(directory))
            .credentials()
        #expect(
            credentials
                == AWSCredentials(accessKeyID: "AKIDCREDENTIALSFILE", secretAccessKey: "credentials-file-secret"))
    }

    @Test("the config file is used when the credentials file is missing")
    func configFileAlone() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "config",
            """
            [default]
            aws_access_key_id = AKIDCONFIGFILE
            aws_secret_access_key = config-file-secret
            aws_session_token = config-file-token
            """)
        let credentials = try await SharedFilesCredentialProvider(environment: Self.environment(directory))
            .credentials()
        #expect(
            credentials
                == AWSCredentials(
                    accessKeyID: "AKIDCONFIGFILE", secretAccessKey: "config-file-secret",
                    sessionToken: "config-file-token"))
    }

    @Test("AWS_PROFILE selects [profile NAME] in the config file and [NAME] in the credentials file")
    func profileSelection() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "credentials",
            """
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = default-secret
            """)
        try directory.write(
            "config",
            """
            [default]
            region = us-east-1

            [dev]
            aws_access_key_id = AKIDWRONGSECTION
            aws_secret_access_key = wrong-section-secret

            [profile dev]
            aws_access_key_id = AKIDCONFIGDEV
            aws_secret_access_key = config-dev-secret
            """)
        let provider = SharedFilesCredentialProvider(environment: Self.environment(directory, profile: "dev"))
        #expect(try await provider.credentials().accessKeyID == "AKIDCONFIGDEV")

        try directory.write(
            "credentials",
            """
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = default-secret

            [dev]
            aws_access_key_id = AKIDCREDENTIALSDEV
            aws_secret_access_key = credentials-dev-secret
            """)
        #expect(try await provider.credentials().accessKeyID == "AKIDCREDENTIALSDEV")
        let fallback = SharedFilesCredentialProvider(environment: Self.environment(directory))
        #expect(try await fallback.credentials().accessKeyID == "AKIDDEFAULT")
    }

    @Test("comment lines, blank lines, indentation and key case are tolerated")
    func comments() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "credentials",
            """
            # the team's keys
            ; rotated monthly

            [default]
            # aws_access_key_id = AKIDCOMMENTEDOUT
            AWS_ACCESS_KEY_ID=AKIDCOMMENTS
                aws_secret_access_key   =   comments-secret
            ; aws_session_token = commented-token
            """)
        let credentials = try await SharedFilesCredentialProvider(environment: Self.environment(directory))
            .credentials()
        #expect(credentials == AWSCredentials(accessKeyID: "AKIDCOMMENTS", secretAccessKey: "comments-secret"))
    }

    @Test("missing files mean not configured")
    func missingFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = try #require(
            await CredentialTest.error(from: SharedFilesCredentialProvider(environment: Self.environment(directory))))
        #expect(error.kind == .notConfigured)
    }

    @Test("a profile without keys is not configured; a profile with half a key pair is a failure")
    func incompleteProfiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("credentials", "[default]\nregion = eu-west-1\n")
        let none = try #require(
            await CredentialTest.error(from: SharedFilesCredentialProvider(environment: Self.environment(directory))))
        #expect(none.kind == .notConfigured)

        try directory.write("credentials", "[default]\naws_secret_access_key = half-pair-secret\n")
        let half = try #require(
            await CredentialTest.error(from: SharedFilesCredentialProvider(environment: Self.environment(directory))))
        #expect(half.kind == .failed)
        #expect(!half.description.contains("half-pair-secret"))
    }
}

// MARK: - Container

@Suite("Container credential provider against a fake endpoint", .timeLimit(.minutes(5)))
struct ContainerCredentialProviderTests {
    @Test("FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, read again on every call and preferred to the token")
    func fullURIWithTokenFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tokenPath = try directory.write("token", "first-token\n")
        let fake = FakeCredentialEndpoints { $0.containerAuthorization = "first-token" }
        try await fake.serve { port in
            let provider = ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenPath,
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "not-this-token",
                ],
                httpClient: .shared, timeout: .seconds(10))
            let resolved1 = try await provider.credentials()
            #expect(resolved1 == CredentialTest.endpointCredentials)

            try Data("second-token\n".utf8).write(to: URL(fileURLWithPath: tokenPath))
            fake.update { $0.containerAuthorization = "second-token" }
            let resolved2 = try await provider.credentials()
            #expect(resolved2 == CredentialTest.endpointCredentials)

            let requests = fake.snapshot.containerRequests
            #expect(requests.map(\.authorization) == ["first-token", "second-token"])
            #expect(requests.map(\.path) == ["/v1/credentials", "/v1/credentials"])
        }
    }

    @Test("FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN")
    func fullURIWithToken() async throws {
        let fake = FakeCredentialEndpoints { $0.containerAuthorization = "static-token" }
        try await fake.serve { port in
            let provider = ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "static-token",
                ],
                httpClient: .shared, timeout: .seconds(10))
            let resolved3 = try await provider.credentials()
            #expect(resolved3 == CredentialTest.endpointCredentials)
            #expect(fake.snapshot.containerRequests.map(\.authorization) == ["static-token"])
        }
    }

    @Test("a wrong authorization token is a failure carrying the 401")
    func wrongToken() async throws {
        let fake = FakeCredentialEndpoints { $0.containerAuthorization = "right-token" }
        try await fake.serve { port in
            let provider = ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong-token",
                ],
                httpClient: .shared, timeout: .seconds(10))
            let error = try #require(await CredentialTest.error(from: provider))
            #expect(error.kind == .failed)
            #expect(error.description.contains("401"))
            #expect(error.description.contains("AccessDenied"))
        }
    }

    @Test("RELATIVE_URI goes to the agent address (here the fake) and wins over FULL_URI")
    func relativeURI() async throws {
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            let provider = ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/5b8e1f6c-task",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/never",
                ],
                httpClient: .shared, timeout: .seconds(10), relativeURIBase: "http://127.0.0.1:\(port)")
            let resolved4 = try await provider.credentials()
            #expect(resolved4 == CredentialTest.endpointCredentials)
            let requests = fake.snapshot.containerRequests
            #expect(requests.map(\.path) == ["/v2/credentials/5b8e1f6c-task"])
            #expect(requests.map(\.authorization) == [nil])
        }
    }

    @Test(
        "expirations with fractional seconds or an offset are read",
        arguments: [
            ("2026-11-23T12:00:00.250Z", 1_795_435_200.25),
            ("2026-11-23T13:30:00+01:30", 1_795_435_200.0),
            ("2026-11-23T12:00:00.000000Z", 1_795_435_200.0),
        ])
    func expirationForms(_ text: String, _ expected: Double) async throws {
        let fake = FakeCredentialEndpoints { $0.containerExpiration = text }
        try await fake.serve { port in
            let provider = ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials"],
                httpClient: .shared, timeout: .seconds(10))
            let expiration = try #require(try await provider.credentials().expiration)
            #expect(abs(expiration.timeIntervalSince1970 - expected) < 0.001)
        }
    }

    @Test(
        "plain http to anything but loopback or the agent addresses is refused",
        arguments: [
            "http://example.com/v1/credentials",
            "http://10.0.0.1/v1/credentials",
            "http://128.0.0.1/v1/credentials",
            "http://169.254.169.254/latest/meta-data",
            "http://169.254.170.3/v1/credentials",
            "http://[fd00:ec2::254]/v1/credentials",
            "http://0127.0.0.1/v1/credentials",
        ])
    func plainHTTPRefused(_ uri: String) async throws {
        let provider = ContainerCredentialProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri], httpClient: .shared)
        let error = try #require(await CredentialTest.error(from: provider))
        #expect(error.kind == .failed)
        #expect(error.description.contains("https"))
    }

    @Test("a scheme other than http or https is refused")
    func otherScheme() async throws {
        let provider = ContainerCredentialProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "ftp://127.0.0.1/v1/credentials"], httpClient: .shared)
        let error = try #require(await CredentialTest.error(from: provider))
        #expect(error.kind == .failed)
    }

    @Test("a 500 is a failure with the status and the agent's reason")
    func serverError() async throws {
        let fake = FakeCredentialEndpoints { $0.containerStatus = 500 }
        try await fake.serve { port in
            let provider = ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials"],
                httpClient: .shared, timeout: .seconds(10))
            let error = try #require(await CredentialTest.error(from: provider))
            #expect(error.kind == .failed)
            #expect(error.description.contains("500"))
            #expect(error.description.contains("InternalError"))
        }
    }

    @Test(
        "an answer that is not complete credentials JSON is a failure that quotes none of it",
        arguments: [
            #"{"AccessKeyId":"ASIALEAKY","SecretAccessKey":"leaky-secret-value","Token":"leaky-to"#,
            #"{"AccessKeyId":"ASIALEAKY","SecretAccessKey":"leaky-secret-value","Token":"leaky-token"}"#,
            #"{"AccessKeyId":"ASIALEAKY","SecretAccessKey":"leaky-secret-value","Expiration":"tomorrow"}"#,
            #"["leaky-secret-value"]"#,
        ])
    func badJSON(_ body: String) async throws {
        let fake = FakeCredentialEndpoints { $0.containerBody = body }
        try await fake.serve { port in
            let provider = ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials"],
                httpClient: .shared, timeout: .seconds(10))
            let error = try #require(await CredentialTest.error(from: provider))
            #expect(error.kind == .failed)
            #expect(!error.description.contains("leaky-secret-value"))
            #expect(!error.description.contains("leaky-to"))
        }
    }

    @Test("neither URI set means not configured")
    func notConfigured() async throws {
        let provider = ContainerCredentialProvider(
            environment: ["AWS_CONTAINER_AUTHORIZATION_TOKEN": "orphan-token"], httpClient: .shared)
        let error = try #require(await CredentialTest.error(from: provider))
        #expect(error.kind == .notConfigured)
    }
}

// MARK: - Web identity

@Suite("Web identity credential provider against a fake STS", .timeLimit(.minutes(5)))
struct WebIdentityCredentialProviderTests {
    static let roleArn = "arn:aws:iam::111122223333:role/app-role"

    @Test("AssumeRoleWithWebIdentity is called unsigned with the form fields, and its XML answer is read")
    func request() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Characters that form encoding must escape, though real JWTs are base64url.
        let tokenPath = try directory.write("token", "eyJhbGciOiJSUzI1NiJ9.pay+load/x=.sig&more\n")
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            let provider = WebIdentityCredentialProvider(
                environment: [
                    "AWS_WEB_IDENTITY_TOKEN_FILE": tokenPath, "AWS_ROLE_ARN": Self.roleArn,
                    "AWS_ROLE_SESSION_NAME": "webhook-session", "AWS_REGION": "us-west-2",
                ],
                httpClient: .shared, stsEndpoint: URL(string: "http://127.0.0.1:\(port)")!)
            let credentials = try await provider.credentials()
            #expect(credentials.accessKeyID == FakeCredentialEndpoints.accessKeyID)
            #expect(credentials.secretAccessKey == FakeCredentialEndpoints.secretAccessKey)
            #expect(credentials.sessionToken == FakeCredentialEndpoints.stsSessionToken)
            #expect(credentials.expiration == FakeCredentialEndpoints.expiration)

            let request = try #require(fake.snapshot.stsRequests.first)
            #expect(
                request.form == [
                    "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": Self.roleArn,
                    "RoleSessionName": "webhook-session",
                    "WebIdentityToken": "eyJhbGciOiJSUzI1NiJ9.pay+load/x=.sig&more",
                ])
            #expect(request.contentType == "application/x-www-form-urlencoded")
            #expect(!request.hadAuthorization)
        }
    }

    @Test("the token file is read again on every call; the session name has a default")
    func rereadAndDefaultSession() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tokenPath = try directory.write("token", "first.jwt.token")
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            let provider = WebIdentityCredentialProvider(
                environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": tokenPath, "AWS_ROLE_ARN": Self.roleArn],
                httpClient: .shared, stsEndpoint: URL(string: "http://127.0.0.1:\(port)/")!)
            _ = try await provider.credentials()
            try Data("second.jwt.token\n".utf8).write(to: URL(fileURLWithPath: tokenPath))
            _ = try await provider.credentials()
            let forms = fake.snapshot.stsRequests.map(\.form)
            #expect(forms.map { $0["WebIdentityToken"] } == ["first.jwt.token", "second.jwt.token"])
            #expect(forms.allSatisfy { $0["RoleSessionName"]?.hasPrefix("pod-identity-webhook-") == true })
        }
    }

    @Test("an STS error answer is a failure naming its code and message")
    func stsError() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tokenPath = try directory.write("token", "expired.jwt.token")
        let fake = FakeCredentialEndpoints { $0.stsMode = .invalidIdentityToken }
        try await fake.serve { port in
            let provider = WebIdentityCredentialProvider(
                environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": tokenPath, "AWS_ROLE_ARN": Self.roleArn],
                httpClient: .shared, stsEndpoint: URL(string: "http://127.0.0.1:\(port)")!)
            let error = try #require(await CredentialTest.error(from: provider))
            #expect(error.kind == .failed)
            #expect(
                error.description
                    == "STS AssumeRoleWithWebIdentity failed: InvalidIdentityToken: Incorrect token audience & issuer <sts.amazonaws.com>"
            )
            #expect(!error.description.contains("expired.jwt.token"))
        }
    }

    @Test("only one of the token file and the role ARN is a failure; neither is not configured")
    func configuration() async throws {
        let missingRole = try #require(
            await CredentialTest.error(
                from: WebIdentityCredentialProvider(
                    environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/token"], httpClient: .shared)))
        #expect(missingRole.kind == .failed)
        #expect(missingRole.description.contains("AWS_ROLE_ARN"))

        let missingFile = try #require(
            await CredentialTest.error(
                from: WebIdentityCredentialProvider(environment: ["AWS_ROLE_ARN": Self.roleArn], httpClient: .shared)))
        #expect(missingFile.kind == .failed)

        let neither = try #require(
            await CredentialTest.error(from: WebIdentityCredentialProvider(environment: [:], httpClient: .shared)))
        #expect(neither.kind == .notConfigured)
    }

    @Test("an unreadable token file is a failure")
    func unreadableTokenFile() async throws {
        let provider = WebIdentityCredentialProvider(
            environment: [
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/\(UUID().uuidString)/token", "AWS_ROLE_ARN": Self.roleArn,
            ],
            httpClient: .shared, stsEndpoint: URL(string: "http://127.0.0.1:1")!)
        let error = try #require(await CredentialTest.error(from: provider))
        #expect(error.kind == .failed)
        #expect(error.description.contains("AWS_WEB_IDENTITY_TOKEN_FILE"))
    }

    @Test("STS endpoints: regional, .cn in China regions, global without a region")
    func endpoints() throws {
        #expect(
            try WebIdentityCredentialProvider.defaultEndpoint(region: "eu-west-1").absoluteString
                == "https://sts.eu-west-1.amazonaws.com")
        #expect(
            try WebIdentityCredentialProvider.defaultEndpoint(region: "cn-northwest-1").absoluteString
                == "https://sts.cn-northwest-1.amazonaws.com.cn")
        #expect(
            try WebIdentityCredentialProvider.defaultEndpoint(region: nil).absoluteString == "https://sts.amazonaws.com"
        )
        #expect(throws: CredentialProviderError.self) {
            try WebIdentityCredentialProvider.defaultEndpoint(region: "evil.com/x")
        }
    }
}

// MARK: - IMDS

@Suite("IMDS credential provider against a fake metadata service", .timeLimit(.minutes(5)))
struct IMDSCredentialProviderTests {
    @Test("IMDSv2: token PUT with a TTL, role list and role credentials with the token")
    func flow() async throws {
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            let provider = IMDSCredentialProvider(
                environment: [:], httpClient: .shared, endpoint: URL(string: "http://127.0.0.1:\(port)")!,
                connectTimeout: .seconds(5), timeout: .seconds(10))
            let resolved5 = try await provider.credentials()
            #expect(resolved5 == CredentialTest.endpointCredentials)
            let requests = fake.snapshot.imdsRequests
            #expect(requests.map(\.method) == ["PUT", "GET", "GET"])
            #expect(
                requests.map(\.path) == [
                    "/latest/api/token", "/latest/meta-data/iam/security-credentials/",
                    "/latest/meta-data/iam/security-credentials/\(FakeCredentialEndpoints.roleName)",
                ])
            #expect(requests.first?.ttl == "21600")
            #expect(
                requests.dropFirst().map(\.token) == [
                    FakeCredentialEndpoints.imdsToken, FakeCredentialEndpoints.imdsToken,
                ])
        }
    }

    @Test("AWS_EC2_METADATA_SERVICE_ENDPOINT chooses the endpoint")
    func endpointFromEnvironment() async throws {
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            let provider = IMDSCredentialProvider(
                environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(port)/"], httpClient: .shared, connectTimeout: .seconds(5), timeout: .seconds(10))
            let resolved6 = try await provider.credentials()
            #expect(resolved6 == CredentialTest.endpointCredentials)
            #expect(fake.snapshot.imdsRequests.count == 3)
        }
    }

    @Test("AWS_EC2_METADATA_DISABLED=true means not configured, without a request")
    func disabled() async throws {
        let fake = FakeCredentialEndpoints()
        try await fake.serve { port in
            let provider = IMDSCredentialProvider(
                environment: ["AWS_EC2_METADATA_DISABLED": "true"], httpClient: .shared,
                endpoint: URL(string: "http://127.0.0.1:\(port)")!)
            let error = try #require(await CredentialTest.error(from: provider))
            #expect(error.kind == .notConfigured)
            #expect(fake.snapshot.imdsRequests.isEmpty)
        }
    }

    @Test("an instance without a role is not configured")
    func noRole() async throws {
        let fake = FakeCredentialEndpoints { $0.imdsRole = nil }
        try await fake.serve { port in
            let provider = IMDSCredentialProvider(
                environment: [:], httpClient: .shared, endpoint: URL(string: "http://127.0.0.1:\(port)")!,
                connectTimeout: .seconds(5), timeout: .seconds(10))
            let error = try #require(await CredentialTest.error(from: provider))
            #expect(error.kind == .notConfigured)
        }
    }

    @Test("an unreachable metadata service is not configured")
    func unreachable() async throws {
        // The client `serve` uses (HTTPClient.Configuration.aws).
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .aws)
        defer { _ = client.shutdown() as EventLoopFuture<Void> }
        let provider = IMDSCredentialProvider(
            environment: [:], httpClient: client, endpoint: URL(string: "http://127.0.0.1:9")!)
        let error = try #require(await CredentialTest.error(from: provider))
        #expect(error.kind == .notConfigured)
        #expect(error.description == "no instance metadata service reachable")
    }

    /// How long "no IMDS here" takes is bounded by configuration, not measured: a wall-clock
    /// bound flaked when the whole suite ran in parallel on 2 cores. A refused connection is
    /// retried until the client's connect timeout whatever the request's deadline, so that
    /// timeout is the bound.
    @Test("refused connections to AWS endpoints are retried for at most 2 s")
    func connectTimeoutBound() {
        #expect(HTTPClient.Configuration.aws.timeout.connect == .seconds(2))
    }
}

// MARK: - Chain

@Suite("Credential chain", .timeLimit(.minutes(5)))
struct CredentialChainTests {
    @Test("the first provider that applies wins: environment over shared files")
    func order() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n")
        let environment = [
            "HOME": directory.url.path, "AWS_SHARED_CREDENTIALS_FILE": directory.path("credentials"),
            "AWS_CONFIG_FILE": directory.path("config"),
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
        ]
        let chain = CredentialChain(
            providers: [
                EnvironmentCredentialProvider(environment: environment),
                SharedFilesCredentialProvider(environment: environment),
            ],
            logger: CredentialTest.quietLogger)
        #expect(try await chain.credentials().accessKeyID == "AKIDENV")

        var withoutKeys = environment
        withoutKeys["AWS_ACCESS_KEY_ID"] = nil
        withoutKeys["AWS_SECRET_ACCESS_KEY"] = nil
        let fallback = CredentialChain(
            providers: [
                EnvironmentCredentialProvider(environment: withoutKeys),
                SharedFilesCredentialProvider(environment: withoutKeys),
            ],
            logger: CredentialTest.quietLogger)
        #expect(try await fallback.credentials().accessKeyID == "AKIDFILE")
    }

    @Test("a provider that applies but fails stops the chain with its error")
    func failureStops() async throws {
        let later = CountingProvider(name: "later")
        let chain = CredentialChain(
            providers: [
                ThrowingProvider(name: "absent", error: .notConfigured("not here")),
                ThrowingProvider(name: "broken", error: .failed("broken provider failed")),
                later,
            ],
            logger: CredentialTest.quietLogger)
        let error = try #require(await CredentialTest.error(from: chain))
        #expect(error == .failed("broken provider failed"))
        #expect(later.count == 0)
    }

    @Test("when no provider applies, the error lists each one with its reason")
    func noneApplies() async throws {
        let chain = CredentialChain(
            providers: [
                ThrowingProvider(name: "first", error: .notConfigured("reason one")),
                ThrowingProvider(name: "second", error: .notConfigured("reason two")),
            ],
            logger: CredentialTest.quietLogger)
        let error = try #require(await CredentialTest.error(from: chain))
        #expect(error.kind == .failed)
        #expect(error.description.contains("first: reason one"))
        #expect(error.description.contains("second: reason two"))
    }

    @Test("credentials without an expiry are fetched once and cached; invalidate() drops them")
    func caching() async throws {
        let provider = CountingProvider()
        let chain = CredentialChain(providers: [provider], logger: CredentialTest.quietLogger)
        let first = try await chain.credentials()
        let second = try await chain.credentials()
        #expect(first == second)
        #expect(provider.count == 1)
        await chain.invalidate()
        #expect(try await chain.credentials().accessKeyID == "AKIDCOUNT2")
        #expect(provider.count == 2)
    }

    @Test("temporary credentials are refreshed 5 minutes before they expire")
    func refreshBeforeExpiry() async throws {
        let start = Date(timeIntervalSince1970: 1_795_435_200)
        let clock = TestClock(start)
        let provider = CountingProvider { call in
            AWSCredentials(
                accessKeyID: "ASIACOUNT\(call)", secretAccessKey: "count-secret-\(call)", sessionToken: "token-\(call)",
                expiration: start.addingTimeInterval(3600 * Double(call)))
        }
        let chain = CredentialChain(providers: [provider], now: { clock.now }, logger: CredentialTest.quietLogger)
        #expect(try await chain.credentials().accessKeyID == "ASIACOUNT1")

        clock.set(start.addingTimeInterval(3600 - 301))
        #expect(try await chain.credentials().accessKeyID == "ASIACOUNT1")
        #expect(provider.count == 1)

        clock.set(start.addingTimeInterval(3600 - 299))
        #expect(try await chain.credentials().accessKeyID == "ASIACOUNT2")
        #expect(provider.count == 2)

        clock.set(start.addingTimeInterval(3600))
        #expect(try await chain.credentials().accessKeyID == "ASIACOUNT2")
        #expect(provider.count == 2)
    }

    @Test("concurrent callers share a single refresh")
    func singleFlight() async throws {
        let provider = CountingProvider(delay: .milliseconds(100))
        let chain = CredentialChain(providers: [provider], logger: CredentialTest.quietLogger)
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 {
                group.addTask { try await chain.credentials().accessKeyID }
            }
            var collected: [String] = []
            for try await key in group { collected.append(key) }
            return collected
        }
        #expect(keys == Array(repeating: "AKIDCOUNT1", count: 10))
        #expect(provider.count == 1)
    }

    @Test("a failed refresh is not cached; the next call tries again")
    func failureNotCached() async throws {
        let provider = CountingProvider { call in
            guard call > 1 else { throw CredentialProviderError.failed("transient") }
            return AWSCredentials(accessKeyID: "AKIDRETRY", secretAccessKey: "retry-secret")
        }
        let chain = CredentialChain(providers: [provider], logger: CredentialTest.quietLogger)
        let error = try #require(await CredentialTest.error(from: chain))
        #expect(error == .failed("transient"))
        #expect(try await chain.credentials().accessKeyID == "AKIDRETRY")
        #expect(provider.count == 2)
    }

    @Test("the standard chain tries environment, web identity, shared files, container and IMDS, in that order")
    func standardOrder() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let base = [
            "HOME": directory.url.path, "AWS_SHARED_CREDENTIALS_FILE": directory.path("credentials"),
            "AWS_CONFIG_FILE": directory.path("config"), "AWS_EC2_METADATA_DISABLED": "true",
        ]
        let empty = CredentialChain.standard(environment: base, httpClient: .shared, logger: CredentialTest.quietLogger)
        let error = try #require(await CredentialTest.error(from: empty))
        #expect(error.kind == .failed)
        let names = ["environment", "web-identity", "shared-files", "container", "imds"]
        let positions = names.map { error.description.range(of: "\($0): ")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(error.description)")
        let found = positions.compactMap { $0 }
        #expect(found == found.sorted())

        var withKeys = base
        withKeys["AWS_ACCESS_KEY_ID"] = "AKIDSTANDARD"
        withKeys["AWS_SECRET_ACCESS_KEY"] = "standard-secret"
        let chain = CredentialChain.standard(
            environment: withKeys, httpClient: .shared, logger: CredentialTest.quietLogger)
        #expect(try await chain.credentials().accessKeyID == "AKIDSTANDARD")
    }

    @Test("chain errors never contain a secret")
    func errorsHoldNoSecret() async throws {
        let secret = "chain-secret-never-shown"
        let halfEnvironment = CredentialChain(
            providers: [EnvironmentCredentialProvider(environment: ["AWS_SECRET_ACCESS_KEY": secret])],
            logger: CredentialTest.quietLogger)
        let failed = try #require(await CredentialTest.error(from: halfEnvironment))
        #expect(!failed.description.contains(secret))
        #expect(!"\(failed)".contains(secret))

        let fake = FakeCredentialEndpoints {
            $0.containerBody =
                #"{"AccessKeyId":"ASIALEAK","SecretAccessKey":"chain-secret-never-shown","Expiration":"soon"}"#
        }
        try await fake.serve { port in
            let chain = CredentialChain(
                providers: [
                    ContainerCredentialProvider(
                        environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v1/credentials"],
                        httpClient: .shared)
                ],
                logger: CredentialTest.quietLogger)
            let error = try #require(await CredentialTest.error(from: chain))
            #expect(!error.description.contains(secret))
        }
    }

    @Test("AWSCredentials' descriptions, reflection and dump never contain the secret or the session token")
    func descriptionsRedact() {
        let credentials = AWSCredentials(
            accessKeyID: "AKIDSHOWN", secretAccessKey: "hidden-secret-value", sessionToken: "hidden-session-token",
            expiration: FakeCredentialEndpoints.expiration)
        var dumped = ""
        dump(credentials, to: &dumped)
        let texts = [
            credentials.description, credentials.debugDescription, String(describing: credentials),
            String(reflecting: credentials), "\(credentials)", "\([credentials])", dumped,
        ]
        for text in texts {
            #expect(text.contains("AKIDSHOWN"))
            #expect(!text.contains("hidden-secret-value"))
            #expect(!text.contains("hidden-session-token"))
        }
    }
}

@Suite("Credential chain: failures inside the refresh window", .timeLimit(.minutes(1)))
struct CredentialChainRefreshWindowTests {
    @Test("a refresh that fails inside the window keeps the still-valid credentials, retries, and fails once they expire")
    func failedRefreshKeepsValidCredentials() async throws {
        let start = Date(timeIntervalSince1970: 1_795_435_200)
        let clock = TestClock(start)
        let provider = CountingProvider { call in
            guard call == 1 else { throw CredentialProviderError.failed("STS is down (call \(call))") }
            return AWSCredentials(
                accessKeyID: "ASIAFIRST", secretAccessKey: "first-secret", sessionToken: "first-token",
                expiration: start.addingTimeInterval(3600))
        }
        let chain = CredentialChain(providers: [provider], now: { clock.now }, logger: CredentialTest.quietLogger)
        #expect(try await chain.credentials().accessKeyID == "ASIAFIRST")

        // 4 minutes before expiry: inside the 5-minute window, the refresh fails.
        clock.set(start.addingTimeInterval(3600 - 240))
        #expect(try await chain.credentials().accessKeyID == "ASIAFIRST")
        #expect(provider.count == 2)
        // Every call retries the refresh while the old credentials serve.
        #expect(try await chain.credentials().accessKeyID == "ASIAFIRST")
        #expect(provider.count == 3)

        // Expired: the failure surfaces.
        clock.set(start.addingTimeInterval(3600))
        await #expect(throws: CredentialProviderError.self) { try await chain.credentials() }
    }
}

/// A provider that caches nothing of its own but is told to invalidate: the EKS client calls
/// `invalidate()` through the protocol, whatever provider it was given.
final class InvalidationRecorder: CredentialProvider {
    let name = "recorder"
    private let invalidations = Mutex(0)
    var count: Int { invalidations.withLock { $0 } }

    func credentials() async throws -> AWSCredentials {
        AWSCredentials(accessKeyID: "AKIDSTANDIN0EXAMPLE", secretAccessKey: "not-the-stand-in-secret")
    }

    func invalidate() async { invalidations.withLock { $0 += 1 } }
}
