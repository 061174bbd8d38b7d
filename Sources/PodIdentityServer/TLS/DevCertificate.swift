import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway self-signed certificate for `serve --dev` and tests, made in memory.
public enum DevCertificate {
    /// A P-256 certificate valid for `localhost`, `127.0.0.1` and `::1` (plus `dnsNames`) for `days` days.
    public static func make(dnsNames: [String] = [], days: Int = 30) throws -> (certificatePEM: String, keyPEM: String)
    {
        let key = P256.Signing.PrivateKey()
        let certificateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            CommonName("pod-identity-webhook dev")
        }
        let now = Date()
        var names: [GeneralName] = (["localhost"] + dnsNames).map { .dnsName($0) }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: certificateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(TimeInterval(days) * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                // No KeyUsage: with one, verifiers require keyCertSign before they accept the
                // self-signature of a certificate that is its own trust anchor.
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: certificateKey
        )
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }
}
