import Foundation

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: CredentialProvider {
    public let name = "environment"
    private let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func credentials() async throws -> AWSCredentials {
        let keyID = environment["AWS_ACCESS_KEY_ID"] ?? "", secret = environment["AWS_SECRET_ACCESS_KEY"] ?? ""
        if keyID.isEmpty && secret.isEmpty {
            throw CredentialProviderError.notConfigured("AWS_ACCESS_KEY_ID is not set")
        }
        guard !keyID.isEmpty, !secret.isEmpty else {
            throw CredentialProviderError.failed(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set, only one is")
        }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: nil)
    }
}
