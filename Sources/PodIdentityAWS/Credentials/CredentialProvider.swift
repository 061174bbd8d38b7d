import Foundation

/// A source of AWS credentials, as the SDKs' default chain has several.
public protocol CredentialProvider: Sendable {
    /// A short name for logs ("environment", "shared-files"…), never the credentials.
    var name: String { get }
    /// The credentials, or `CredentialProviderError.notConfigured` when this source does not
    /// apply here (so the chain moves on), or another error when it applies but fails.
    func credentials() async throws -> AWSCredentials
    /// Forgets any cached credentials, e.g. after AWS answered that they expired. Providers
    /// that cache nothing need not implement it.
    func invalidate() async
}

extension CredentialProvider {
    public func invalidate() async {}
}

public struct CredentialProviderError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The source is not set up in this environment; the chain tries the next one.
        case notConfigured
        /// The source is set up but failed.
        case failed
    }

    public var kind: Kind
    public var description: String

    public static func notConfigured(_ description: String) -> Self {
        .init(kind: .notConfigured, description: description)
    }
    public static func failed(_ description: String) -> Self { .init(kind: .failed, description: description) }
}
