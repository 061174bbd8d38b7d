import ArgumentParser
import Foundation
import PodIdentityAWS

/// The EKS association source's flags (`serve` only).
struct EKSOptions: ParsableArguments {
    @Option(help: "EKS cluster whose Pod Identity Associations are used. Turns on EKS mode.")
    var clusterName: String?

    @Option(help: "AWS region of the cluster (default: AWS_REGION, then AWS_DEFAULT_REGION).")
    var region: String?

    @Option(help: "EKS API endpoint override: a VPC or FIPS endpoint (https), or a loopback stand-in (http).")
    var eksEndpoint: String?

    @Option(help: "Full sync interval (±10% jitter), e.g. 30s.")
    var syncInterval = "30s"

    @Option(help: "How long a review may wait for a targeted lookup on a cache miss; 0 turns the lookup off.")
    var missLookupTimeout = "1s"

    @Option(help: "How long a miss lookup's \"not associated\" is remembered.")
    var missLookupNegativeTtl = "30s"

    @Option(help: "Miss lookups allowed per second (burst: twice that, at least 1).")
    var missLookupRate = 5.0

    func resolvedRegion(environment: [String: String]) throws -> String {
        let region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? ""
        guard !region.isEmpty else {
            throw ValidationError("--cluster-name needs a region: --region, AWS_REGION or AWS_DEFAULT_REGION")
        }
        return region
    }

    func endpointURL() throws -> URL? {
        guard let eksEndpoint else { return nil }
        guard let url = URL(string: eksEndpoint), url.scheme != nil, url.host != nil else {
            throw ValidationError("--eks-endpoint \"\(eksEndpoint)\" is not a URL")
        }
        return url
    }

    func configuration(cluster: String) throws -> EKSAssociationSource.Configuration {
        var configuration = EKSAssociationSource.Configuration(cluster: cluster)
        configuration.syncInterval = try parseDuration(syncInterval, flag: "sync-interval")
        guard configuration.syncInterval >= .seconds(1) else {
            throw ValidationError("--sync-interval must be at least 1s")
        }
        configuration.missLookupTimeout = try parseDuration(missLookupTimeout, flag: "miss-lookup-timeout")
        configuration.missLookupNegativeTTL = try parseDuration(missLookupNegativeTtl, flag: "miss-lookup-negative-ttl")
        guard missLookupRate >= 0 else { throw ValidationError("--miss-lookup-rate must not be negative") }
        configuration.missLookupRate = missLookupRate
        configuration.missLookupBurst = max(1, missLookupRate * 2)
        return configuration
    }
}
