import ArgumentParser
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

    /// The flags of one subcommand, read from its ArgumentParser definition (the one place
    /// where flags are declared), so the environment mapping and `--flag=true|false` can never
    /// drift from what the command accepts.
    struct Flags: Equatable {
        /// Boolean flags with a `--no-` form (ArgumentParser's spelling of `--name=false`).
        var booleans: Set<String> = []
        /// Options taking a value.
        var options: Set<String> = []

        init(booleans: Set<String> = [], options: Set<String> = []) {
            self.booleans = booleans
            self.options = options
        }

        /// Reads `command._dumpHelp()`, ArgumentParser's machine-readable description.
        init(of command: any ParsableArguments.Type) {
            guard let data = command._dumpHelp().data(using: .utf8),
                let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let info = root["command"] as? [String: Any], let arguments = info["arguments"] as? [[String: Any]]
            else { return }
            var flags: Set<String> = []
            for argument in arguments {
                let names = (argument["names"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "long" }
                    .compactMap { $0["name"] as? String }
                switch argument["kind"] as? String {
                case "option": options.formUnion(names)
                case "flag": flags.formUnion(names)
                default: break
                }
            }
            booleans = Set(flags.filter { flags.contains("no-" + $0) })
        }
    }

    /// Each subcommand's flags.
    static let flags: [String: Flags] = [
        "serve": Flags(of: Serve.self), "mutate": Flags(of: Mutate.self), "version": Flags(of: Version.self),
    ]

    /// The reference's flags that have no effect here, and whether they take a value.
    static let ignoredReferenceFlags: [String: Bool] = [
        "kube-api": true, "in-cluster": false, "service-name": true, "namespace": true,
        "tls-secret": true,
        "watch-config-map": false, "compose-role-arn": false, "resync-period": true,
        "tls-cipher-suites": true,
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
        let flags = Self.flags[subcommand] ?? Flags()
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
            if flags.booleans.contains(name), let inlineValue {
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
            // Only the subcommand's own flags: `POD_IDENTITY_WEBHOOK_LOG_LEVEL` is for `serve`,
            // and must not break `version` or `mutate`, which have no --log-level.
            guard !seen.contains(name) else { continue }
            if flags.booleans.contains(name) {
                switch value.lowercased() {
                case "true", "1", "t", "yes": output.append("--\(name)")
                case "false", "0", "f", "no": output.append("--no-\(name)")
                default: warnings.append("\(key)=\(value) is not a boolean; ignored")
                }
            } else if name == "association" && flags.options.contains(name) {
                for pair in value.split(whereSeparator: { $0 == "," || $0 == " " }) {
                    output.append("--association=\(pair)")
                }
            } else if flags.options.contains(name) {
                output.append("--\(name)=\(value)")
            }
        }
        return Result(arguments: [subcommand] + output, warnings: warnings)
    }
}
