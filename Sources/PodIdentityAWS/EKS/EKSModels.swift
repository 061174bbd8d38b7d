import Foundation
import PodIdentityCore

/// One Pod Identity Association, as `ListPodIdentityAssociations` summarizes it.
public struct PodIdentityAssociationSummary: Codable, Sendable, Equatable {
    public var clusterName: String?
    public var namespace: String
    public var serviceAccount: String
    public var associationArn: String?
    public var associationId: String?
    public var ownerArn: String?

    public init(
        clusterName: String? = nil, namespace: String, serviceAccount: String, associationArn: String? = nil,
        associationId: String? = nil, ownerArn: String? = nil
    ) {
        self.clusterName = clusterName
        self.namespace = namespace
        self.serviceAccount = serviceAccount
        self.associationArn = associationArn
        self.associationId = associationId
        self.ownerArn = ownerArn
    }

    public var ref: ServiceAccountRef { ServiceAccountRef(namespace: namespace, name: serviceAccount) }
}

/// One page of `ListPodIdentityAssociations`.
public struct PodIdentityAssociationPage: Codable, Sendable, Equatable {
    public var associations: [PodIdentityAssociationSummary]
    public var nextToken: String?

    public init(associations: [PodIdentityAssociationSummary], nextToken: String? = nil) {
        self.associations = associations
        self.nextToken = nextToken
    }
}

/// What `DescribeCluster` tells the webhook.
public struct ClusterDescription: Sendable, Equatable {
    public var name: String
    public var arn: String?
    public var status: String?
    /// `ipv4` or `ipv6`: selects the Pod Identity Agent address pods get.
    public var ipFamily: String?

    public init(name: String, arn: String? = nil, status: String? = nil, ipFamily: String? = nil) {
        self.name = name
        self.arn = arn
        self.status = status
        self.ipFamily = ipFamily
    }
}

extension ClusterDescription: Decodable {
    private struct Envelope: Decodable {
        struct Cluster: Decodable {
            struct Network: Decodable { var ipFamily: String? }
            var name: String
            var arn: String?
            var status: String?
            var kubernetesNetworkConfig: Network?
        }
        var cluster: Cluster
    }

    public init(from decoder: any Decoder) throws {
        let cluster = try Envelope(from: decoder).cluster
        self.init(
            name: cluster.name, arn: cluster.arn, status: cluster.status,
            ipFamily: cluster.kubernetesNetworkConfig?.ipFamily)
    }
}

/// An error answered by the EKS API or met on the way, typed so callers can tell throttling,
/// missing clusters and bad credentials apart. Carries AWS's own message.
public struct EKSError: Error, CustomStringConvertible, Equatable {
    /// The AWS error type (`ResourceNotFoundException`, `ThrottlingException`…), or a local
    /// kind: `Timeout`, `TransportError`, `InvalidResponse`, `PaginationLoop`.
    public var type: String
    public var message: String
    /// The HTTP status, 0 when no answer was received.
    public var status: Int
    /// The server's `Retry-After`, when it sent one.
    public var retryAfter: Duration?

    public init(type: String, message: String, status: Int) {
        self.type = type
        self.message = message
        self.status = status
    }

    public var description: String { "\(type) (HTTP \(status)): \(message)" }

    /// Throttling and server-side faults are worth retrying; the rest is not.
    public var isRetryable: Bool {
        status == 429 || status >= 500 || status == 0 && type != "PaginationLoop" && type != "InvalidResponse"
            || ["ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"].contains(type)
    }

    public var isThrottling: Bool {
        status == 429 || ["ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"].contains(type)
    }

    /// Reads an error answer: type from `x-amzn-ErrorType` (before any `:`), else the body's
    /// `__type`/`code`; message from the body's `message`/`Message`.
    static func from(status: Int, errorTypeHeader: String?, body: Data) -> EKSError {
        struct Body: Decodable {
            var message: String?
            var Message: String?
            var __type: String?
            var code: String?
        }
        let decoded = try? JSONDecoder().decode(Body.self, from: body)
        var type = errorTypeHeader.map { String($0.split(separator: ":", maxSplits: 1).first ?? "") }
        if type?.isEmpty != false {
            type = (decoded?.__type ?? decoded?.code).map { String($0.split(separator: "#").last ?? "") }
        }
        let message = decoded?.message ?? decoded?.Message ?? String(decoding: body.prefix(200), as: UTF8.self)
        return EKSError(type: type ?? "HTTP\(status)", message: message, status: status)
    }
}
