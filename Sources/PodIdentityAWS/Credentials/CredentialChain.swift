import Foundation
import Logging

/// The SDKs' default chain: the first provider that applies supplies the credentials.
///
/// Temporary credentials are cached and refreshed `refreshMargin` (5 minutes) before they
/// expire, by one refresh at a time however many requests need them. A refresh that fails
/// while the cached credentials have not expired yet keeps them and is retried on the next
/// call. Credentials are never
/// logged; only which provider supplied them.
public actor CredentialChain: CredentialProvider {
    public nonisolated let name = "chain"
    private let providers: [any CredentialProvider]
    private let refreshMargin: TimeInterval
    private let now: @Sendable () -> Date
    private let logger: Logger
    private var cached: AWSCredentials?
    private var refresh: Task<AWSCredentials, any Error>?

    public init(
        providers: [any CredentialProvider], refreshMargin: TimeInterval = 300,
        now: @escaping @Sendable () -> Date = Date.init, logger: Logger
    ) {
        self.providers = providers
        self.refreshMargin = refreshMargin
        self.now = now
        self.logger = logger
    }

    public func credentials() async throws -> AWSCredentials {
        if let cached, !needsRefresh(cached) { return cached }
        let credentials: AWSCredentials
        do {
            if let refresh {
                credentials = try await refresh.value
            } else {
                let task = Task { try await self.resolve() }
                refresh = task
                defer { refresh = nil }
                credentials = try await task.value
            }
        } catch {
            // Inside the refresh window the cached credentials are still valid for minutes:
            // keep serving them (the next call retries the refresh); fail only once they expire.
            if let cached, !isExpired(cached) {
                logger.warning(
                    "refreshing AWS credentials failed; using the cached ones until they expire",
                    metadata: ["error": "\(error)"])
                return cached
            }
            throw error
        }
        cached = credentials
        return credentials
    }

    /// Drops the cached credentials, e.g. after AWS answered that they expired.
    public func invalidate() async {
        cached = nil
    }

    private func isExpired(_ credentials: AWSCredentials) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        return expiration <= now()
    }

    private func needsRefresh(_ credentials: AWSCredentials) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        return expiration.timeIntervalSince(now()) < refreshMargin
    }

    private func resolve() async throws -> AWSCredentials {
        var skipped: [String] = []
        for provider in providers {
            do {
                let credentials = try await provider.credentials()
                logger.debug("AWS credentials resolved", metadata: ["aws.credentials.provider": "\(provider.name)"])
                return credentials
            } catch let error as CredentialProviderError where error.kind == .notConfigured {
                skipped.append("\(provider.name): \(error.description)")
            }
        }
        throw CredentialProviderError.failed(
            "no AWS credentials found; tried " + skipped.joined(separator: "; "))
    }
}
