import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PodIdentityCore
import PodIdentitySources
import ServiceLifecycle
import UnixSignals

/// The production server: the HTTPS webhook, the plain-HTTP metrics listener, and the
/// background services (association source, certificate reloader) as one ServiceGroup.
///
/// Tests build exactly this with port 0 and read the bound ports from `onListening`.
public struct WebhookServer: Sendable {
    public let configuration: WebhookConfiguration
    public let source: any AssociationSource
    /// The followed ServiceAccounts (`--watch-service-accounts`), or nil.
    public let serviceAccounts: (any ServiceAccountLookup & Service)?
    public let certificates: CertificateStore
    public let metrics: WebhookMetrics
    let transport: TransportMetrics
    public let logger: Logger
    private let random: any RandomSource

    public init(
        configuration: WebhookConfiguration,
        source: any AssociationSource,
        serviceAccounts: (any ServiceAccountLookup & Service)? = nil,
        certificates: CertificateStore,
        metrics: WebhookMetrics = WebhookMetrics(),
        random: any RandomSource = SystemRandomSource(),
        logger: Logger
    ) {
        self.configuration = configuration
        self.source = source
        self.serviceAccounts = serviceAccounts
        self.certificates = certificates
        self.metrics = metrics
        self.transport = TransportMetrics(registry: metrics.registry)
        self.random = random
        self.logger = logger
    }

    /// Which listener came up on which port.
    public enum Listener: Sendable { case webhook, metrics }

    /// Builds the service group. `onListening` is told each bound port.
    public func makeServiceGroup(
        gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
        onListening: @escaping @Sendable (Listener, Int) async -> Void = { _, _ in }
    ) throws -> ServiceGroup {
        let webhook = try makeWebhookApplication { await onListening(.webhook, $0) }
        let metricsApp = makeMetricsApplication { await onListening(.metrics, $0) }
        // Dependency order: sources and certificates first, listeners last, so shutdown
        // stops accepting reviews before anything they need goes away.
        return ServiceGroup(
            configuration: .init(
                services: [.init(service: source)] + (serviceAccounts.map { [.init(service: $0)] } ?? []) + [
                    .init(service: certificates), .init(service: metricsApp), .init(service: webhook),
                ],
                gracefulShutdownSignals: gracefulShutdownSignals,
                cancellationSignals: [],
                logger: logger
            ))
    }

    func makeWebhookApplication(onListening: @escaping @Sendable (Int) async -> Void) throws -> some ApplicationProtocol
    {
        let router = Router()
        let handler = MutateHandler(
            reviewer: AdmissionReviewer(mutator: PodMutator(settings: configuration.mutation, random: random)),
            source: source, serviceAccounts: serviceAccounts, metrics: metrics, maxBodySize: configuration.maxBodySize,
            readTimeout: configuration.readTimeout)
        router.post("/mutate") { request, context in
            try await handler.handle(request, logger: context.logger)
        }
        addHealthRoutes(to: router)
        let configuration = self.configuration, transport = self.transport
        let tlsConfiguration = certificates.tlsConfiguration(minimumVersion: configuration.tlsMinimumVersion)
        let registry = ConnectionRegistry(
            listener: "webhook", limit: configuration.maxConnections, metrics: transport)
        let budget = BodyBudget(capacity: configuration.bodyBytesInFlight), metrics = self.metrics
        let server = HTTPServerBuilder { responder in
            try WebhookChannel(
                tlsConfiguration: tlsConfiguration,
                configuration: .init(
                    handshakeTimeout: configuration.tlsHandshakeTimeout, idleTimeout: configuration.idleTimeout,
                    gracefulCloseTimeout: configuration.gracefulCloseTimeout,
                    streamLifetime: configuration.readTimeout + configuration.gracefulCloseTimeout,
                    maxConcurrentStreams: configuration.http2MaxConcurrentStreams,
                    maxBodySize: configuration.maxBodySize),
                registry: registry, budget: budget, metrics: transport,
                refused: {
                    metrics.recordRejected(status: 503)
                    transport.recordBodyRefused()
                }, responder: responder)
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: nil,
                // A flood of connections queues in the kernel rather than dropping the SYNs of
                // the API server's next one (a dropped SYN is retried after 1 s, then 3 s).
                backlog: 1024,
                availableConnectionsDelegate: .maximum(
                    Self.acceptLimit(configuration.maxConnections), logger: logger)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    func makeMetricsApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router()
        let metrics = self.metrics, source = self.source, serviceAccounts = self.serviceAccounts
        router.get("/metrics") { _, _ in
            metrics.setAssociations(source.snapshot.count)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        addHealthRoutes(to: router)
        if configuration.debuggingHandlers {
            router.get("/debug/associations") { _, _ in
                let snapshot = source.snapshot
                var members: [String: JSONValue] = [:]
                if let serviceAccounts {
                    members["serviceAccounts"] = .object([
                        "ready": .bool(serviceAccounts.isReady),
                        "watch": .object(serviceAccounts.debugStatus.mapValues(JSONValue.string)),
                        "annotated": .array(
                            serviceAccounts.annotatedServiceAccounts.map { account in
                                var item: [String: JSONValue] = [
                                    "namespace": .string(account.ref.namespace),
                                    "serviceAccount": .string(account.ref.name),
                                ]
                                if let role = account.roleARN { item["roleArn"] = .string(role) }
                                if let audience = account.audience { item["audience"] = .string(audience) }
                                if let sts = account.regionalSTS { item["stsRegionalEndpoints"] = .bool(sts) }
                                if let seconds = account.tokenExpiration { item["tokenExpiration"] = .integer(seconds) }
                                return .object(item)
                            }),
                    ])
                }
                let body = JSONValue.object(members.merging([
                    "source": .string(snapshot.source),
                    "ready": .bool(source.isReady),
                    "count": .integer(Int64(snapshot.count)),
                    "lastSync": .object(source.debugStatus.mapValues(JSONValue.string)),
                    "snapshotAgeSeconds": .number(
                        (Date().timeIntervalSince(snapshot.createdAt) * 1000).rounded() / 1000),
                    "associations": .array(
                        snapshot.serviceAccounts.sorted().map {
                            .object(["namespace": .string($0.namespace), "serviceAccount": .string($0.name)])
                        }),
                ]) { $1 })
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                return Response(
                    status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body.jsonString)))
            }
        }
        if configuration.debuggingHandlers {
            router.get("/debug/explain") { request, _ -> Response in
                let query = request.uri.queryParameters
                guard let namespace = query["namespace"].map(String.init), !namespace.isEmpty,
                    let name = query["serviceAccount"].map(String.init), !name.isEmpty
                else {
                    throw HTTPError(.badRequest, message: "give ?namespace=NS&serviceAccount=SA")
                }
                let body = await Self.explain(
                    ServiceAccountRef(namespace: namespace, name: name), source: source,
                    serviceAccounts: serviceAccounts)
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                return Response(
                    status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body.jsonString)))
            }
        }
        let registry = ConnectionRegistry(
            listener: "metrics", limit: configuration.metricsMaxConnections, metrics: transport)
        return Application(
            router: router,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [
                        ConnectionTrackingHandler(registry: registry), HTTP1ActivityHandler(registry: registry),
                    ],
                    idleTimeout: .init(configuration.idleTimeout))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.metricsPort), serverName: nil,
                availableConnectionsDelegate: .maximum(
                    Self.acceptLimit(configuration.metricsMaxConnections), logger: logger)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// Where a listener stops accepting altogether: a little above its cap, reached only when
    /// every connection is busy (otherwise the cap closes one for each new one), so that file
    /// descriptors stay bounded.
    public static func acceptLimit(_ cap: Int) -> Int { cap + max(16, cap / 8) }

    /// What the webhook would do for `ref` now, and why, from what it holds (no lookup is
    /// started): `/debug/explain`.
    static func explain(
        _ ref: ServiceAccountRef, source: any AssociationSource, serviceAccounts: (any ServiceAccountLookup)?
    ) async -> JSONValue {
        let snapshot = source.snapshot
        var members: [String: JSONValue] = [
            "namespace": .string(ref.namespace), "serviceAccount": .string(ref.name),
            "source": .string(snapshot.source), "ready": .bool(source.isReady),
            "snapshotAgeSeconds": .number((Date().timeIntervalSince(snapshot.createdAt) * 1000).rounded() / 1000),
            "lastSync": .object(source.debugStatus.mapValues(JSONValue.string)),
            "associated": .bool(snapshot.contains(ref)),
        ]
        let extra = source.explain(ref)
        if !extra.isEmpty { members["lookup"] = .object(extra.mapValues(JSONValue.string)) }
        var account: ServiceAccountInfo?
        if let serviceAccounts {
            account = await serviceAccounts.serviceAccount(ref, waitIfMissing: false)
            var followed: [String: JSONValue] = ["known": .bool(account != nil)]
            if let role = account?.roleARN { followed["roleArn"] = .string(role) }
            if let audience = account?.audience { followed["audience"] = .string(audience) }
            if let sts = account?.regionalSTS { followed["stsRegionalEndpoints"] = .bool(sts) }
            if let seconds = account?.tokenExpiration { followed["tokenExpiration"] = .integer(seconds) }
            members["serviceAccountAnnotations"] = .object(followed)
        }
        let (decision, reason): (String, String)
        if snapshot.contains(ref) {
            (decision, reason) = ("pod-identity", "\(ref) is in the association snapshot")
        } else if let role = account?.roleARN {
            (decision, reason) = ("irsa", "\(ref) has no association; its ServiceAccount's role-arn is \(role)")
        } else if !extra.isEmpty {
            (decision, reason) = ("not-associated", "\(ref) is not in the snapshot; \(source.snapshot.source) recently answered that it has no association")
        } else {
            (decision, reason) = (
                "not-associated",
                "\(ref) is not in the snapshot"
                    + (serviceAccounts == nil ? "" : " and its ServiceAccount has no role-arn")
                    + "; a review may still ask upstream once (EKS miss lookup, ServiceAccount GET)"
            )
        }
        members["wouldDo"] = .string(decision)
        members["reason"] = .string(reason)
        return .object(members)
    }

    private func addHealthRoutes(to router: Router<BasicRequestContext>) {
        let source = self.source, serviceAccounts = self.serviceAccounts
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            guard source.isReady else {
                return Response(
                    status: .serviceUnavailable,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "associations not loaded yet\n")))
            }
            if let serviceAccounts, !serviceAccounts.isReady {
                return Response(
                    status: .serviceUnavailable,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "ServiceAccounts not listed yet\n")))
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
    }
}
