import InMemoryLogging
import Logging

/// Collects every log line a component writes, for assertions: swift-log's
/// `InMemoryLogHandler` at trace level, with the metadata flattened to strings.
public struct LogCapture: Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
        /// Everything in the entry, for "never logged" checks.
        public var text: String { "\(message) \(metadata)" }
    }

    private let handler: InMemoryLogHandler

    public init() {
        var handler = InMemoryLogHandler()
        handler.logLevel = .trace
        self.handler = handler
    }

    public var logger: Logger {
        let handler = self.handler
        return Logger(label: "test") { _ in handler }
    }

    public var all: [Entry] {
        handler.entries.map {
            Entry(level: $0.level, message: $0.message.description, metadata: $0.metadata.mapValues { "\($0)" })
        }
    }
}
