import AsyncHTTPClient
import NIOCore

extension HTTPClient.Configuration {
    /// The HTTP client configuration for AWS calls (EKS, STS, the credential endpoints).
    ///
    /// A request's deadline does not bound a connection that is refused and retried:
    /// AsyncHTTPClient keeps trying until the configuration's connect timeout (10 s by
    /// default). The credential endpoints are on the link or on loopback and answer at once
    /// when they exist, so 2 s to connect is plenty, and "no metadata service here" is
    /// known in seconds, not ten.
    public static var aws: HTTPClient.Configuration {
        HTTPClient.Configuration(timeout: .init(connect: .seconds(2)))
    }
}
