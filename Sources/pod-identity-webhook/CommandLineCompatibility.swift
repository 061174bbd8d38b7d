import Foundation

/// Rewrites the command line so that existing manifests keep working, then lets
/// ArgumentParser parse it:
/// - boolean flags accept `--name`, `--name=true` and `--name=false` (as Go's pflag does);
/// - every flag may come from an environment variable, `POD_IDENTITY_WEBHOOK_` + the flag
///   name in upper snake case (`--token-expiration` ← `POD_IDENTITY_WEBHOOK_TOKEN_EXPIRATION`);
///   the command line wins;
/// - the reference webhook's flags that configure what this webhook does not do are
///   accepted and dropped, each with a one-line warning;
/// - no subcommand (the reference's invocation) means `serve`.
enum CommandLineCompatibility {
    static let environmentPrefix = "POD_IDENTITY_WEBHOOK_"

    /// Boolean flags of `serve`/`mutate` (ArgumentParser spells the false form `--no-NAME`).
    static let booleanFlags: Set<String> = [
        "sts-regional-endpoint", "token-expiration-jitter", "enable-debugging-handlers", "dev", "version",
    ]

    /// Options taking a value, which may come from the environment.
    static let valueOptions: Set<String> = [
        "port", "host", "metrics-port", "tls-cert", "tls-key", "tls-min-version", "tls-reload-interval",
        "associations-file", "associations-reload-interval", "read-timeout", "idle-timeout",
        "container-credentials-audience", "container-credentials-token-mount-path",
        "container-credentials-token-volume-name", "container-credentials-token-path",
        "container-credentials-full-uri", "token-expiration", "aws-default-region", "log-format", "log-level",
        "cluster-name", "region", "eks-endpoint", "sync-interval", "miss-lookup-timeout", "miss-lookup-negative-ttl",
        "miss-lookup-rate",
    ]

    /// The reference's flags that have no effect here, and whether they take a value.
    static let ignoredReferenceFlags: [String: Bool] = [
        "kubeconfig": true, "kube-api": true, "in-cluster": false, "service-name": true, "namespace": true,
        "tls-secret": true, "annotation-prefix": true, "token-audience": true, "token-mount-path": true,
        "watch-config-map": false, "compose-role-arn": false, "resync-period": true,
        "service-account-lookup-grace-period": true, "tls-cipher-suites": true,
        // klog's flags, which the reference also accepts
        "v": true, "logtostderr": false, "alsologtostderr": false, "stderrthreshold": true, "log-dir": true,
        "log-file": true, "vmodule": true, "skip-headers": false, "one-output": false,
    ]

    static let subcommands: Set<String> = ["serve", "mutate", "version", "help", "-h", "--help"]

    struct Result {
        var arguments: [String]
        var warnings: [String]
    }

    static func rewrite(_ arguments: [String], environment: [String: String]) -> Result {
        var warnings: [String] = []
        var input = arguments
        let subcommand: String
        if let first = input.first, subcommands.contains(first) {
            subcommand = first
            input.removeFirst()
        } else {
            subcommand = "serve"
        }
        var output: [String] = []
        var seen: Set<String> = []
        var index = 0
        while index < input.count {
            let argument = input[index]
            index += 1
            guard argument.hasPrefix("-"), argument != "-", argument != "--" else {
                output.append(argument)
                if argument == "--" {
                    output.append(contentsOf: input[index...])
                    break
                }
                continue
            }
            let body = argument.drop(while: { $0 == "-" })
            let name = String(body.split(separator: "=", maxSplits: 1).first ?? "")
            let inlineValue = body.contains("=") ? String(body.split(separator: "=", maxSplits: 1).last ?? "") : nil
            seen.insert(name.hasPrefix("no-") ? String(name.dropFirst(3)) : name)
            if subcommand == "serve", let takesValue = ignoredReferenceFlags[name] {
                if takesValue && inlineValue == nil && index < input.count { index += 1 }
                warnings.append("flag --\(name) of the reference webhook has no effect here and is ignored")
                continue
            }
            if booleanFlags.contains(name), let inlineValue {
                switch inlineValue.lowercased() {
                case "true", "1", "t", "yes": output.append("--\(name)")
                case "false", "0", "f", "no": output.append("--no-\(name)")
                default: output.append(argument)  // ArgumentParser reports the bad value
                }
                continue
            }
            output.append(argument)
        }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) where key.hasPrefix(environmentPrefix) {
            let name = key.dropFirst(environmentPrefix.count).lowercased().replacingOccurrences(of: "_", with: "-")
            guard !seen.contains(name) else { continue }
            if booleanFlags.contains(name) {
                switch value.lowercased() {
                case "true", "1", "t", "yes": output.append("--\(name)")
                case "false", "0", "f", "no": output.append("--no-\(name)")
                default: warnings.append("\(key)=\(value) is not a boolean; ignored")
                }
            } else if valueOptions.contains(name) {
                output.append("--\(name)=\(value)")
            } else if name == "association" {
                for pair in value.split(whereSeparator: { $0 == "," || $0 == " " }) {
                    output.append("--association=\(pair)")
                }
            }
        }
        return Result(arguments: [subcommand] + output, warnings: warnings)
    }
}
