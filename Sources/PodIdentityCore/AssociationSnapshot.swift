import Foundation

/// An immutable set of associated service accounts, built whole by a source and swapped
/// in atomically, so a review never sees a half-finished sync.
public struct AssociationSnapshot: Sendable, Equatable {
    public let serviceAccounts: Set<ServiceAccountRef>
    /// Where the snapshot came from (`file:/path`, `flags`, `eks:cluster`), for operators.
    public let source: String
    public let createdAt: Date

    public init(_ serviceAccounts: some Sequence<ServiceAccountRef>, source: String, createdAt: Date = Date()) {
        self.serviceAccounts = Set(serviceAccounts)
        self.source = source
        self.createdAt = createdAt
    }

    public static let empty = AssociationSnapshot([], source: "none", createdAt: Date(timeIntervalSince1970: 0))

    public func contains(_ ref: ServiceAccountRef) -> Bool { serviceAccounts.contains(ref) }

    public var count: Int { serviceAccounts.count }

    /// A new snapshot holding the pairs of both.
    public func merging(_ other: AssociationSnapshot) -> AssociationSnapshot {
        AssociationSnapshot(
            serviceAccounts.union(other.serviceAccounts), source: source + "+" + other.source,
            createdAt: max(createdAt, other.createdAt))
    }
}
