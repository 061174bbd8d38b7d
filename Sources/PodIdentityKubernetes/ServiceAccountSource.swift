import AsyncHTTPClient
import CoreMetrics
import Foundation
import Logging
import PodIdentityCore
import PodIdentitySources
import ServiceLifecycle
import Synchronization

/// The ServiceAccounts of the cluster, followed with a list/watch (`--watch-service-accounts`):
/// what IRSA and the ServiceAccount annotations need.
///
/// The bookkeeping is `ServiceAccountReflector`'s; this type does its I/O, owns the HTTP
/// client for the lifetime of `run()`, and answers lookups. A pod whose ServiceAccount is not
/// known yet (created a moment before the pod) gets one targeted GET, single-flight per pair,
/// rate-limited, awaited at most the grace period; any failure answers "unknown" (fail open).
public final class ServiceAccountSource: Service, ServiceAccountLookup {
    public struct Configuration: Sendable {
        /// `--annotation-prefix`.
        public var annotationPrefix = "eks.amazonaws.com"
        /// `--service-account-lookup-grace-period`; zero turns the GET on a miss off.
        public var gracePeriod: Duration = .seconds(1)
        /// How long the server keeps one watch open (`timeoutSeconds`), like client-go's 5–10 minutes.
        public var watchTimeout: Duration = .seconds(300)
        /// Items per LIST page.
        public var pageSize = 500
        /// GETs on a miss, per second, with a burst (the reference allows 10/s, burst 20).
        public var lookupRate = 10.0
        public var lookupBurst = 20.0
        /// Waits between reconnects after failures.
        public var backoff = Backoff(base: .milliseconds(200), cap: .seconds(30))

        public init() {}
    }

    private let kubernetes: KubernetesConfiguration
    private let configuration: Configuration
    private let logger: Logger
    private let metrics: (any MetricsFactory)?
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let state: Mutex<State>

    private struct State {
        var reflector: ServiceAccountReflector
        var client: KubernetesClient?
        var bucket: TokenBucket
        var inFlight: Set<ServiceAccountRef> = []
        var waiters: [ServiceAccountRef: [CheckedContinuation<LookupStep, Never>]] = [:]
    }

    /// What a review that missed does next: take an answer, or lead the GET.
    private enum LookupStep: Sendable {
        case answer(ServiceAccountInfo?)
        case lead(KubernetesClient)
    }

    public init(
        kubernetes: KubernetesConfiguration, configuration: Configuration = Configuration(),
        metrics: (any MetricsFactory)? = nil, logger: Logger,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.kubernetes = kubernetes
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        state = Mutex(
            State(
                reflector: ServiceAccountReflector(prefix: configuration.annotationPrefix, backoff: configuration.backoff),
                bucket: TokenBucket(rate: configuration.lookupRate, burst: configuration.lookupBurst, now: clock())))
    }

    public var isReady: Bool { state.withLock { $0.reflector.synced } }

    public var annotatedServiceAccounts: [ServiceAccountInfo] {
        state.withLock { $0.reflector.store.values.filter(\.isInteresting) }.sorted { $0.ref < $1.ref }
    }

    public var count: Int { state.withLock { $0.reflector.store.count } }

    public var debugStatus: [String: String] {
        state.withLock { state in
            var status = [
                "server": kubernetes.server.absoluteString, "synced": String(state.reflector.synced),
                "serviceAccounts": String(state.reflector.store.count), "restarts": String(state.reflector.restarts),
            ]
            if let version = state.reflector.resourceVersion { status["resourceVersion"] = version }
            if let error = state.reflector.lastError { status["lastError"] = error }
            return status
        }
    }

    // MARK: The list/watch loop

    public func run() async throws {
        let httpConfiguration = try KubernetesClient.httpConfiguration(for: kubernetes)
        try await HTTPClient.withHTTPClient(configuration: httpConfiguration) { http in
            let client = KubernetesClient(configuration: kubernetes, http: http)
            state.withLock { $0.client = client }
            defer { state.withLock { $0.client = nil } }
            var action = state.withLock { $0.reflector.start() }
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                guard let next = await perform(action, with: client) else { return }
                action = next
            }
        }
    }

    /// Does `action`; returns the next one, or nil on shutdown.
    private func perform(
        _ action: ServiceAccountReflector.Action, with client: KubernetesClient
    ) async -> ServiceAccountReflector.Action? {
        switch action {
        case .list(let token):
            do {
                let page = try await client.list(limit: configuration.pageSize, continueToken: token)
                let (next, count) = state.withLock { ($0.reflector.listed(page), $0.reflector.store.count) }
                if case .watch = next {
                    gauge(Self.countLabel, count)
                    logger.info(
                        "listed ServiceAccounts", metadata: ["k8s.service_accounts": "\(count)"])
                }
                return next
            } catch {
                return failed(error, during: "list")
            }
        case .watch(let version):
            do {
                try await cancelWhenGracefulShutdown {
                    try await client.watch(
                        resourceVersion: version, timeoutSeconds: Int(self.configuration.watchTimeout.inSeconds)
                    ) { event in
                        let count = self.state.withLock { state in
                            state.reflector.apply(event)
                            return state.reflector.store.count
                        }
                        self.gauge(Self.countLabel, count)
                    }
                }
                return state.withLock { $0.reflector.watchEnded() }
            } catch let error as KubernetesError {
                if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
                return failed(error, during: "watch")
            } catch {
                return nil  // graceful shutdown
            }
        case .wait(let duration, let then):
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
            } catch {
                return nil
            }
            return then
        }
    }

    private func failed(_ error: KubernetesError, during what: String) -> ServiceAccountReflector.Action {
        let next = state.withLock { $0.reflector.failed(error) }
        counter(Self.restartsLabel, [("reason", error.isGone ? "gone" : "error")])
        if error.isGone {
            logger.info("ServiceAccount \(what) expired (410 Gone); listing again", metadata: ["error": "\(error)"])
        } else {
            logger.warning(
                "ServiceAccount \(what) failed; keeping the cache and retrying", metadata: ["error": "\(error)"])
        }
        return next
    }

    // MARK: Lookups

    public func serviceAccount(_ ref: ServiceAccountRef, waitIfMissing: Bool) async -> ServiceAccountInfo? {
        if let known = state.withLock({ $0.reflector.store[ref] }) {
            return known
        }
        guard waitIfMissing, configuration.gracePeriod > .zero else {
            lookup("missing")
            return nil
        }
        let now = clock()
        let step = await withCheckedContinuation { (continuation: CheckedContinuation<LookupStep, Never>) in
            let decision: LookupStep? = state.withLock { state in
                if let known = state.reflector.store[ref] { return .answer(known) }
                if state.inFlight.contains(ref) {
                    state.waiters[ref, default: []].append(continuation)
                    return nil
                }
                guard let client = state.client, state.bucket.take(now: now) else { return .answer(nil) }
                state.inFlight.insert(ref)
                return .lead(client)
            }
            if let decision { continuation.resume(returning: decision) }
        }
        guard case .lead(let client) = step else {
            if case .answer(let info) = step {
                lookup(info == nil ? "missing" : "joined")
                return info
            }
            return nil
        }
        let grace = configuration.gracePeriod, prefix = configuration.annotationPrefix
        let result: ServiceAccountInfo?? = await withTaskGroup(of: ServiceAccountInfo??.self) { group in
            group.addTask {
                do {
                    return .some(try await client.get(ref)?.info(prefix: prefix))
                } catch {
                    return nil
                }
            }
            group.addTask {
                try? await cancellableSleep(for: grace)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let found = result ?? nil
        let waiters = state.withLock { state in
            state.inFlight.remove(ref)
            if let found { state.reflector.fetched(found) }
            return state.waiters.removeValue(forKey: ref) ?? []
        }
        for waiter in waiters { waiter.resume(returning: .answer(found)) }
        switch result {
        case .some(.some): lookup("found")
        case .some(.none): lookup("not-found")
        case .none:
            lookup("failed")
            logger.warning(
                "ServiceAccount lookup failed or outlasted the grace period; pod treated as without one",
                metadata: ["k8s.namespace": "\(ref.namespace)", "k8s.service_account": "\(ref.name)"])
        }
        return found
    }

    // MARK: Metrics

    static let countLabel = "pod_identity_webhook_service_accounts"
    static let restartsLabel = "pod_identity_webhook_service_account_watch_restarts_total"
    static let lookupsLabel = "pod_identity_webhook_service_account_lookups_total"

    /// The `# HELP` of each metric, by name, for the exporter (`WebhookMetrics(help:)`).
    public static let metricHelp: [String: String] = [
        countLabel: "ServiceAccounts in the cache the list/watch keeps.",
        restartsLabel:
            "Failed LISTs or WATCHes of ServiceAccounts, each followed by a retry with backoff (the cache is kept), "
            + "by reason: gone (410, listed again) or error.",
        lookupsLabel:
            "Reviews whose ServiceAccount was not in the cache, by result: found or not-found (this review's GET), "
            + "failed (the GET failed or outlasted the grace period), joined (another review's GET found it), "
            + "missing (no GET of its own: grace period 0, rate limited, not waited for, or another review's GET "
            + "found none).",
    ]

    private func gauge(_ label: String, _ value: Int) {
        guard let metrics else { return }
        Gauge(label: label, factory: metrics).record(value)
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) {
        guard let metrics else { return }
        Counter(label: label, dimensions: dimensions, factory: metrics).increment()
    }

    private func lookup(_ result: String) {
        counter(Self.lookupsLabel, [("result", result)])
    }
}
