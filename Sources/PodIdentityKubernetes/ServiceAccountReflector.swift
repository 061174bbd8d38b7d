import PodIdentityCore
import PodIdentitySources

/// The ServiceAccount cache's list/watch bookkeeping, as client-go's reflector does it, apart
/// from its I/O: a paginated LIST replaces the store only once complete; a WATCH then runs
/// from the list's resource version, bookmarks keep that version fresh; a stream the server
/// ends normally is reopened at once; `410 Gone` means "list again"; any other failure is
/// retried with backoff, and the store is kept through it (an API outage never empties it).
///
/// Every decision is a returned `Action`; `ServiceAccountSource` performs it.
struct ServiceAccountReflector {
    enum Action: Equatable {
        /// LIST a page (`nil`: the first).
        case list(continueToken: String?)
        /// WATCH from this resource version.
        case watch(resourceVersion: String)
        /// Wait, then do `then`.
        indirect case wait(Duration, then: Action)
    }

    let prefix: String
    let backoff: Backoff
    /// The ServiceAccounts known, with their facts (all of them: a pod's ServiceAccount that
    /// is known and says nothing must not wait for a lookup).
    private(set) var store: [ServiceAccountRef: ServiceAccountInfo] = [:]
    /// True once a complete LIST is in.
    private(set) var synced = false
    private(set) var resourceVersion: String?
    /// Consecutive failures, for the backoff; also what `/debug` shows.
    private(set) var failures = 0
    private(set) var lastError: String?
    /// LISTs and WATCHes started after a failure or a 410, for the restarts metric.
    private(set) var restarts = 0
    private var pending: [ServiceAccountRef: ServiceAccountInfo] = [:]

    init(prefix: String, backoff: Backoff = Backoff(base: .milliseconds(200), cap: .seconds(30))) {
        self.prefix = prefix
        self.backoff = backoff
    }

    func start() -> Action { .list(continueToken: nil) }

    /// A LIST page arrived.
    mutating func listed(_ page: KubernetesClient.Page) -> Action {
        for object in page.items {
            if let info = object.info(prefix: prefix) { pending[info.ref] = info }
        }
        if let token = page.continueToken { return .list(continueToken: token) }
        store = pending
        pending = [:]
        synced = true
        resourceVersion = page.resourceVersion
        failures = 0
        lastError = nil
        return .watch(resourceVersion: page.resourceVersion)
    }

    /// One watch event.
    mutating func apply(_ event: WatchEvent) {
        switch event {
        case .added(let object), .modified(let object):
            if let info = object.info(prefix: prefix) { store[info.ref] = info }
            remember(object.metadata?.resourceVersion)
        case .deleted(let object):
            if let info = object.info(prefix: prefix) { store[info.ref] = nil }
            remember(object.metadata?.resourceVersion)
        case .bookmark(let version):
            remember(version)
        }
        failures = 0
    }

    /// A ServiceAccount fetched on its own (a miss lookup) joins the store, unless the watch
    /// has already told something about it.
    mutating func fetched(_ info: ServiceAccountInfo) {
        if store[info.ref] == nil { store[info.ref] = info }
    }

    /// The server ended the watch (its `timeoutSeconds`): reopen from where it was.
    func watchEnded() -> Action {
        .watch(resourceVersion: resourceVersion ?? "")
    }

    /// A LIST or WATCH failed. `410 Gone` lists again at once; anything else waits, then
    /// resumes: the watch from its version once synced, else the listing from its start.
    mutating func failed(_ error: KubernetesError) -> Action {
        failures += 1
        restarts += 1
        lastError = error.description
        pending = [:]
        if error.isGone {
            return .list(continueToken: nil)
        }
        let wait = backoff.delay(attempt: failures, random: { _ in 1 })
        if synced, let resourceVersion { return .wait(wait, then: .watch(resourceVersion: resourceVersion)) }
        return .wait(wait, then: .list(continueToken: nil))
    }

    private mutating func remember(_ version: String?) {
        if let version, !version.isEmpty { resourceVersion = version }
    }
}
