import AsyncHTTPClient
import Foundation
import Logging

extension CredentialChain {
    /// The SDKs' default chain, in their order: environment variables, web identity (IRSA),
    /// the shared credentials and config files, the container credentials endpoint (ECS, EKS Pod
    /// Identity), and the EC2 instance metadata service.
    public static func standard(
        environment: [String: String] = ProcessInfo.processInfo.environment, httpClient: HTTPClient, logger: Logger
    ) -> CredentialChain {
        CredentialChain(
            providers: [
                EnvironmentCredentialProvider(environment: environment),
                WebIdentityCredentialProvider(environment: environment, httpClient: httpClient),
                SharedFilesCredentialProvider(environment: environment),
                ContainerCredentialProvider(environment: environment, httpClient: httpClient),
                IMDSCredentialProvider(environment: environment, httpClient: httpClient),
            ],
            logger: logger)
    }
}
