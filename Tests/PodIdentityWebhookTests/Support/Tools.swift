import Foundation
import PodIdentityTestSupport

/// Runs the real tools the tests check against (`kubectl`, the schema validator).
enum Tools {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Python with kubernetes-validate: `$KUBERNETES_VALIDATE_PYTHON`, else the repository's `.venv`
    /// that `scripts/test.sh` creates.
    static var validatorPython: String {
        ProcessInfo.processInfo.environment["KUBERNETES_VALIDATE_PYTHON"]
            ?? repositoryRoot.appendingPathComponent(".venv/bin/python").path
    }

    static var kubectl: String { ProcessInfo.processInfo.environment["KUBECTL"] ?? "/usr/bin/kubectl" }

    struct Output {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    static func run(_ executable: String, _ arguments: [String]) async throws -> Output {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ToolError("\(executable) is not installed: run the tests through scripts/test.sh, which sets it up")
        }
        let output = try await ChildProcess.run(executable, arguments)
        return Output(status: output.status, stdout: output.stdout, stderr: output.standardError)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("piw-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct ToolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
