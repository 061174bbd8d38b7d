import Foundation

/// Static keys from the shared credentials and config files (`~/.aws/credentials`,
/// `~/.aws/config`, or `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`), for the profile
/// `AWS_PROFILE` (default `default`). The credentials file wins over the config file, as in
/// the SDKs.
public struct SharedFilesCredentialProvider: CredentialProvider {
    public let name = "shared-files"
    private let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func credentials() async throws -> AWSCredentials {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let credentialsPath = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        let configPath = environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config"
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        // The config file names profiles "profile NAME", except "default".
        let candidates: [(path: String, section: String)] = [
            (credentialsPath, profile),
            (configPath, profile == "default" ? "default" : "profile \(profile)"),
        ]
        var sawFile = false
        for (path, section) in candidates {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            sawFile = true
            let values = Self.parse(text)[section] ?? [:]
            let keyID = values["aws_access_key_id"] ?? "", secret = values["aws_secret_access_key"] ?? ""
            if keyID.isEmpty && secret.isEmpty { continue }
            guard !keyID.isEmpty, !secret.isEmpty else {
                throw CredentialProviderError.failed(
                    "profile \(profile) in \(path) has only one of aws_access_key_id and aws_secret_access_key")
            }
            let token = values["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: nil)
        }
        throw CredentialProviderError.notConfigured(
            sawFile
                ? "no static keys for profile \(profile) in the shared files" : "no shared credentials or config file")
    }

    /// Parses an INI file into `[section: [key: value]]`; keys lowercased, `#` and `;` comments.
    static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                continue
            }
            guard let section = current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[section, default: [:]][key] = value
        }
        return sections
    }
}
