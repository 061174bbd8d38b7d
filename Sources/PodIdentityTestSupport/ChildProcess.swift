import Foundation

/// Runs a child process for the tests without blocking Swift concurrency's few threads.
///
/// Waiting for a process (or reading its pipes) blocks the calling thread. The test processes
/// also host servers (the webhook, the EKS stand-in) whose handlers need those same threads,
/// so the waiting happens on a thread of its own and the test only suspends.
public enum ChildProcess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data

        public var standardOutput: String { String(decoding: stdout, as: UTF8.self) }
        public var standardError: String { String(decoding: stderr, as: UTF8.self) }
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `executable` to completion. `environment` nil inherits the test's environment.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: Data? = nil
    ) async throws -> Output {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw LaunchError(description: "\(executable) is not installed or not executable")
        }
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(
                        returning: try runBlocking(executable, arguments, environment: environment, stdin: stdin))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    private static func runBlocking(
        _ executable: String, _ arguments: [String], environment: [String: String]?, stdin: Data?
    ) throws -> Output {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("piw-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Files rather than pipes: neither stream can fill up and stall the child.
        let outFile = directory.appendingPathComponent("stdout"), errFile = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        if let stdin {
            let inFile = directory.appendingPathComponent("stdin")
            try stdin.write(to: inFile)
            process.standardInput = try FileHandle(forReadingFrom: inFile)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: try Data(contentsOf: outFile),
            stderr: try Data(contentsOf: errFile))
    }

    /// The absolute path of `name` on `PATH`, or nil.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }
}
