import Foundation

extension [String: String] {
    /// The variable's value without surrounding spaces and tabs, or nil when it is unset or
    /// blank: what the SDKs do for the variables of the credential chain (an empty
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI=` means "not configured", not "an empty URL").
    func nonBlankValue(_ name: String) -> String? {
        guard let value = self[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }
}
