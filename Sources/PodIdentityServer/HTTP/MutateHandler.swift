import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationEssentialsCompat
import PodIdentityCore
import PodIdentitySources

/// `POST /mutate`: one AdmissionReview in, one out.
///
/// Transport problems are HTTP errors with a message (the API server then applies the
/// configuration's `failurePolicy`); anything that decodes as a review gets `allowed: true`.
struct MutateHandler: Sendable {
    let reviewer: AdmissionReviewer
    let source: any AssociationSource
    let serviceAccounts: (any ServiceAccountLookup)?
    let metrics: WebhookMetrics
    let maxBodySize: Int
    let readTimeout: Duration

    func handle(_ request: Request, logger: Logger) async throws -> Response {
        let start = ContinuousClock.now
        do {
            try checkContentType(request)
            let body = try await readBody(request)
            let outcome: ReviewOutcome
            do {
                let serviceAccounts = self.serviceAccounts
                outcome = try await reviewer.review(
                    Data(buffer: body, byteTransferStrategy: .noCopy),
                    association: { await source.association(of: $0) },
                    serviceAccount: { ref, wait in await serviceAccounts?.serviceAccount(ref, waitIfMissing: wait) })
            } catch {
                throw HTTPError(.badRequest, message: "invalid AdmissionReview: \(error.description)")
            }
            let elapsed = ContinuousClock.now - start
            metrics.record(outcome.decision, method: outcome.method, duration: elapsed.nanosecondsClamped)
            log(outcome, elapsed: elapsed, logger: logger)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(
                status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: outcome.responseBody)))
        } catch let error as HTTPError {
            metrics.recordRejected(status: error.status.code)
            logger.warning(
                "review rejected",
                metadata: ["http.status": "\(error.status.code)", "error": "\(error.body ?? "")"])
            throw error
        }
    }

    private func checkContentType(_ request: Request) throws {
        let value = request.headers[.contentType] ?? ""
        let mediaType = value.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces.lowercased() }
        guard mediaType == "application/json" else {
            throw HTTPError(
                .unsupportedMediaType,
                message: "Content-Type must be application/json, got \(value.isEmpty ? "none" : "\"\(value)\"")")
        }
    }

    /// Collects the body, refusing it past `maxBodySize` or when it takes longer than `readTimeout`,
    /// so that a slow client costs only its own connection.
    private func readBody(_ request: Request) async throws -> ByteBuffer {
        let limit = maxBodySize, timeout = readTimeout
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            // Refused before a byte of it is read; the connection is then closed.
            throw HTTPError(.contentTooLarge, message: "request body is larger than \(limit) bytes")
        }
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do {
                    return try await request.body.collect(upTo: limit)
                } catch is NIOTooManyBytesError {
                    throw HTTPError(.contentTooLarge, message: "request body is larger than \(limit) bytes")
                }
            }
            group.addTask {
                // Not Task.sleep: see cancellableSleep for the memory a cancelled one keeps.
                try await cancellableSleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else {
                throw HTTPError(.requestTimeout, message: "request body not received within \(timeout)")
            }
            return body
        }
    }

    private func log(_ outcome: ReviewOutcome, elapsed: Duration, logger: Logger) {
        var metadata: Logger.Metadata = [
            "admission.uid": "\(outcome.uid)",
            "admission.decision": "\(outcome.decision.rawValue)",
            "duration_ms": "\(elapsed.millisecondsText)",
        ]
        if !outcome.namespace.isEmpty { metadata["k8s.namespace"] = "\(outcome.namespace)" }
        if !outcome.podName.isEmpty { metadata["k8s.pod"] = "\(outcome.podName)" }
        if !outcome.serviceAccount.isEmpty { metadata["k8s.service_account"] = "\(outcome.serviceAccount)" }
        if let method = outcome.method { metadata["admission.method"] = "\(method.auditName)" }
        if !outcome.source.isEmpty { metadata["admission.source"] = "\(outcome.source)" }
        if let problem = outcome.lookupProblem { metadata["admission.association_lookup"] = "\(problem.auditValue)" }
        if !outcome.reason.isEmpty { metadata["admission.reason"] = "\(outcome.reason)" }
        if let warning = outcome.warnings.first { metadata["warning"] = "\(warning)" }
        logger.info("review", metadata: metadata)
    }
}
