import ArgumentParser
import Foundation
import PodIdentityCore

@main
struct PodIdentityWebhook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod-identity-webhook",
        abstract: "A Kubernetes mutating webhook that gives pods AWS credentials the way EKS Pod Identity does.",
        version: PodIdentityVersion.current,
        subcommands: [Serve.self, Mutate.self, Version.self],
        defaultSubcommand: Serve.self
    )

    static func main() async {
        let rewritten = CommandLineCompatibility.rewrite(
            Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        for warning in rewritten.warnings {
            FileHandle.standardError.write(Data("pod-identity-webhook: warning: \(warning)\n".utf8))
        }
        await main(rewritten.arguments)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() {
        print("pod-identity-webhook \(PodIdentityVersion.current)")
    }
}
