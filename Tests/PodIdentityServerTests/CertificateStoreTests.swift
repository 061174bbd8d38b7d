import Foundation
import NIOSSL
import PodIdentityServer
import PodIdentitySources
import PodIdentityTestSupport
import Testing

@Suite("CertificateStore", .timeLimit(.minutes(5)))
struct CertificateStoreTests {
    @Test("a Secret mount updated the kubelet's way (a ..data symlink swap) is loaded without a restart")
    func secretMount() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("piw-secret-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try DevCertificate.make(), second = try DevCertificate.make()
        try KubeletVolume.update(
            directory, generation: 1, files: ["tls.crt": first.certificatePEM, "tls.key": first.keyPEM])
        let store = try CertificateStore(
            certificatePath: directory.appendingPathComponent("tls.crt").path,
            keyPath: directory.appendingPathComponent("tls.key").path, logger: LogCapture().logger)
        let before = store.current.chain
        #expect(!store.reloadIfChanged())

        try KubeletVolume.update(
            directory, generation: 2, files: ["tls.crt": second.certificatePEM, "tls.key": second.keyPEM])
        #expect(store.reloadIfChanged())
        #expect(store.current.chain != before)
        #expect(store.current.chain == (try NIOSSLCertificate.fromPEMBytes(Array(second.certificatePEM.utf8))))
    }
}
