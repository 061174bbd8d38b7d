import PodIdentityCore
import ServiceLifecycle

/// Where associations come from: the flags, a file, or (later) the EKS API.
///
/// A source is a ServiceLifecycle `Service`: its `run()` does the background work (file
/// watching, polling) and returns on graceful shutdown.
public protocol AssociationSource: Service {
    /// The pairs known right now.
    var snapshot: AssociationSnapshot { get }
    /// True once the source has loaded at least once; `/readyz` reports it.
    var isReady: Bool { get }
    /// Whether pods of `ref` get Pod Identity, where that answer came from, and whether the
    /// source could not ask (a failed or timed-out lookup: the pod is treated as not
    /// associated). May wait, bounded, to ask upstream on a miss. Called for every review:
    /// keep it cheap.
    func association(of ref: ServiceAccountRef) async -> AssociationLookup
    /// What an operator should know about the last load or sync, for `/debug/associations`.
    var debugStatus: [String: String] { get }
    /// What this source knows about one pair beyond its snapshot (a negative-cache entry, an
    /// earlier lookup), for `/debug/explain`; never starts a lookup.
    func explain(_ ref: ServiceAccountRef) -> [String: String]
}

extension AssociationSource {
    public var debugStatus: [String: String] { [:] }

    public func explain(_ ref: ServiceAccountRef) -> [String: String] { [:] }

    public func association(of ref: ServiceAccountRef) async -> AssociationLookup {
        .snapshot(snapshot.contains(ref))
    }
}

/// A fixed set of pairs, from `--association NS/SA` flags or `serve --dev`.
public struct StaticAssociationSource: AssociationSource {
    public let snapshot: AssociationSnapshot
    public var isReady: Bool { true }

    public init(_ refs: [ServiceAccountRef], source: String = "flags") {
        snapshot = AssociationSnapshot(refs, source: source)
    }

    public func association(of ref: ServiceAccountRef) async -> AssociationLookup {
        .snapshot(snapshot.contains(ref), .flags)
    }

    public func run() async throws {
        try? await gracefulShutdown()
    }
}
