import PodIdentityCore

/// Where the ServiceAccounts of pods come from (a Kubernetes list/watch), as the server sees
/// it: no Kubernetes types, only the facts the mutation uses.
public protocol ServiceAccountLookup: Sendable {
    /// True once the first complete listing is in; `/readyz` waits for it.
    var isReady: Bool { get }
    /// The ServiceAccount `ref` as known now. With `waitIfMissing`, one that is not known yet
    /// (created a moment before its pod) may be fetched, within a bounded grace period; any
    /// failure answers nil (fail open).
    func serviceAccount(_ ref: ServiceAccountRef, waitIfMissing: Bool) async -> ServiceAccountInfo?
    /// The followed ServiceAccounts that say something to the mutation, for `/debug/associations`.
    var annotatedServiceAccounts: [ServiceAccountInfo] { get }
    /// What an operator should know about the watch, for `/debug/associations`.
    var debugStatus: [String: String] { get }
}
