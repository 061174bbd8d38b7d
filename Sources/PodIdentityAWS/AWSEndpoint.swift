import Foundation

/// AWS's public endpoints, one rule for every service the webhook calls.
enum AWSEndpoint {
    /// `https://SERVICE.REGION.amazonaws.com` (`.amazonaws.com.cn` in China regions), or nil
    /// when `region` is not a region name (letters, digits and `-` only: anything else could
    /// steer the host elsewhere).
    static func regional(service: String, region: String) -> URL? {
        guard !region.isEmpty, region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            return nil
        }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return URL(string: "https://\(service).\(region).\(suffix)")
    }
}
