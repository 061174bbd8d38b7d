import Foundation
import Logging
import NIOCore
import NIOSSL
import PodIdentitySources
import ServiceLifecycle
import SwiftASN1
import Synchronization
import X509

/// The serving certificate and key, swapped atomically when the files on disk change.
///
/// NIOSSL asks `sslContextCallback` once per handshake; answering it from here means new
/// connections get the new pair while the listener and open connections stay untouched.
/// A new pair is installed only after both files parse and the key matches the
/// certificate, so a half-written Secret update never breaks serving.
public final class CertificateStore: Service {
    public struct Pair: Sendable {
        public var chain: [NIOSSLCertificate]
        public var key: NIOSSLPrivateKey
        /// The leaf's expiry, for logs and metrics.
        public var notAfter: Date
    }

    private let paths: (certificate: String, key: String)?
    private let watcher: FileWatcher?
    private let logger: Logger
    private let state: Mutex<Pair>

    /// Loads `--tls-cert` and `--tls-key`; fails with a clear message when they are unusable.
    public init(certificatePath: String, keyPath: String, pollInterval: Duration = .seconds(5), logger: Logger) throws {
        paths = (certificatePath, keyPath)
        self.logger = logger
        let (pair, content) = try Self.load(certificatePath: certificatePath, keyPath: keyPath)
        state = Mutex(pair)
        let watcher = FileWatcher(
            paths: [certificatePath, keyPath], interval: pollInterval, logger: logger,
            problemMessage: "serving certificate on disk is unusable, keeping the current one",
            metadata: ["tls.cert": "\(certificatePath)"])
        watcher.loaded(content)
        self.watcher = watcher
    }

    /// A fixed pair held in memory (`serve --dev`).
    public init(certificatePEM: String, keyPEM: String, logger: Logger) throws {
        paths = nil
        watcher = nil
        self.logger = logger
        state = Mutex(try Self.parse(certificatePEM: certificatePEM, keyPEM: keyPEM))
    }

    public var current: Pair { state.withLock { $0 } }

    /// The server TLS configuration: TLS 1.2 or newer, the current pair on every handshake.
    public func tlsConfiguration(minimumVersion: TLSVersion = .tlsv12) -> TLSConfiguration {
        let pair = current
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.minimumTLSVersion = minimumVersion
        configuration.sslContextCallback = { [weak self] _, promise in
            guard let self else { return promise.succeed(.noChanges) }
            let pair = self.current
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    public func run() async throws {
        guard let watcher else {
            try? await gracefulShutdown()
            return
        }
        await watcher.run { [self] in try self.install($0) }
    }

    /// Re-reads the files and installs the pair if it changed and is valid.
    /// Returns true when a new pair was installed.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        watcher?.check { try install($0) } ?? false
    }

    private func install(_ content: [Data]) throws {
        let pair = try Self.parse(
            certificatePEM: String(decoding: content[0], as: UTF8.self), keyPEM: String(decoding: content[1], as: UTF8.self))
        state.withLock { $0 = pair }
        logger.info(
            "loaded new serving certificate",
            metadata: ["tls.cert": "\(paths?.certificate ?? "")", "tls.not_after": "\(pair.notAfter)"])
    }

    private static func load(certificatePath: String, keyPath: String) throws -> (Pair, [Data]) {
        let certificate: Data, key: Data
        do {
            certificate = try Data(contentsOf: URL(fileURLWithPath: certificatePath))
        } catch {
            throw CertificateError("cannot read --tls-cert \(certificatePath): \(error.localizedDescription)")
        }
        do {
            key = try Data(contentsOf: URL(fileURLWithPath: keyPath))
        } catch {
            throw CertificateError("cannot read --tls-key \(keyPath): \(error.localizedDescription)")
        }
        let pair = try parse(
            certificatePEM: String(decoding: certificate, as: UTF8.self), keyPEM: String(decoding: key, as: UTF8.self))
        return (pair, [certificate, key])
    }

    /// Parses a PEM chain and key, and checks that the key belongs to the leaf.
    static func parse(certificatePEM: String, keyPEM: String) throws -> Pair {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: certificatePEM)
        } catch {
            throw CertificateError("certificate file is not PEM: \(error)")
        }
        let certificates = try documents.filter { $0.discriminator == "CERTIFICATE" }.map {
            do { return try Certificate(pemDocument: $0) } catch {
                throw CertificateError("certificate does not parse: \(error)")
            }
        }
        guard let leaf = certificates.first else {
            throw CertificateError("certificate file holds no CERTIFICATE block")
        }
        let privateKey: Certificate.PrivateKey
        do {
            privateKey = try Certificate.PrivateKey(pemEncoded: keyPEM)
        } catch {
            throw CertificateError("key file does not hold a usable private key: \(error)")
        }
        guard privateKey.publicKey == leaf.publicKey else {
            throw CertificateError("the private key does not match the certificate")
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
            let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            return Pair(chain: chain, key: key, notAfter: leaf.notValidAfter)
        } catch {
            throw CertificateError("TLS library refused the pair: \(error)")
        }
    }
}

public struct CertificateError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
