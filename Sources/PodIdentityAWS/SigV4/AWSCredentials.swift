import Foundation

/// An AWS access key pair, plus the session token and expiry that temporary credentials carry.
///
/// The webhook signs AWS API calls (EKS, STS) with these. The secret access key and the session
/// token are bearer secrets, so every textual form of this value (`description`,
/// `debugDescription`, and the mirror that `dump` and debuggers walk) redacts them; only the
/// access key ID, which AWS itself treats as an identifier and writes to CloudTrail, is shown.
public struct AWSCredentials: Sendable, Equatable {
    /// The access key ID, e.g. `AKIAIOSFODNN7EXAMPLE`; goes in the clear into the `Credential=` scope.
    public var accessKeyID: String
    /// The secret access key; only ever used as HMAC key material, never printed.
    public var secretAccessKey: String
    /// The session token of temporary credentials, sent as `X-Amz-Security-Token`; `nil` for long-term keys.
    public var sessionToken: String?
    /// When temporary credentials stop working; `nil` when unknown or for long-term keys.
    public var expiration: Date?

    /// Creates credentials from their parts.
    ///
    /// An empty `sessionToken` is kept as given; the signer treats it like `nil`, as botocore does.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }
}

extension AWSCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// A log-safe summary: the access key ID, with secret and session token redacted.
    ///
    /// Credentials end up in log lines and test failure messages through string interpolation;
    /// this is what appears there, so it must never contain a secret.
    public var description: String {
        var text = "AWSCredentials(accessKeyID: \(accessKeyID), secret: <redacted>, sessionToken: \(redactedToken)"
        if let expiration {
            text += ", expiration: \(expiration)"
        }
        return text + ")"
    }

    /// The same log-safe summary as `description`.
    ///
    /// `String(reflecting:)`, `debugPrint` and the debugger use this one, so it redacts too.
    public var debugDescription: String { description }

    /// A mirror whose children are redacted like `description`.
    ///
    /// Without it, `dump(credentials)` would print the stored properties, secret included.
    public var customMirror: Mirror {
        let expirationText: String = expiration.map { "\($0)" } ?? "none"
        return Mirror(
            self,
            children: [
                "accessKeyID": accessKeyID,
                "secretAccessKey": "<redacted>",
                "sessionToken": redactedToken,
                "expiration": expirationText,
            ],
            displayStyle: .struct
        )
    }

    private var redactedToken: String { sessionToken == nil ? "none" : "<redacted>" }
}
