import Foundation

/// The parts of an `AdmissionReview` request (`admission.k8s.io/v1` or `v1beta1`) that the
/// webhook reads. The two versions share this shape.
public struct AdmissionReview: Decodable, Sendable, Equatable {
    public static let supportedAPIVersions = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]

    public var apiVersion: String?
    public var kind: String?
    public var request: AdmissionRequest?
}

public struct AdmissionRequest: Decodable, Sendable, Equatable {
    public var uid: String
    public var kind: GroupVersionKind?
    public var subResource: String?
    public var namespace: String?
    public var operation: String?
    /// The pod, or why it could not be read; nil when the request carries no object.
    public var object: PodPayload?

    /// True for the creation of a Pod itself (not of a subresource such as a binding or eviction).
    public var isPodCreation: Bool {
        operation == "CREATE" && kind?.kind == "Pod" && (kind?.group ?? "").isEmpty
            && (subResource ?? "").isEmpty
    }
}

public struct GroupVersionKind: Decodable, Sendable, Equatable {
    public var group: String?
    public var version: String?
    public var kind: String?
}

/// The request's object decoded as a Pod, keeping a decoding failure instead of failing the
/// whole review: a review of an unreadable pod is still answered (allowed, with a warning).
public struct PodPayload: Decodable, Sendable, Equatable {
    public var pod: Pod?
    public var problem: String?

    public init(pod: Pod) { self.pod = pod }

    public init(from decoder: any Decoder) throws {
        do {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                problem = "the request's object is null"
            } else {
                pod = try container.decode(Pod.self)
            }
        } catch let error as DecodingError {
            problem = PodPayload.describe(error)
        }
    }

    /// A decoding error in words, naming the field; never quoting the pod's values.
    static func describe(_ error: DecodingError) -> String {
        func where_(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }
                .joined()
            return path.isEmpty ? "the object" : String(path.drop(while: { $0 == "." }))
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(where_(context)) is not a \(type)"
        case .valueNotFound(let type, let context): return "\(where_(context)) is null where a \(type) is needed"
        case .keyNotFound(let key, let context): return "\(where_(context)) lacks \(key.stringValue)"
        case .dataCorrupted(let context): return "\(where_(context)) is malformed"
        @unknown default: return "the object is malformed"
        }
    }
}
