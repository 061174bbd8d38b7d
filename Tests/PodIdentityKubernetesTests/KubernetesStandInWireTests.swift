import Foundation
import PodIdentityKubernetesTestSupport
import PodIdentityTestSupport
import Testing

/// What the client's tests lean on and kubectl never shows: replay from a resourceVersion,
/// 410 Expired for watches and continue tokens, snapshots across pages, bookmarks, dropped
/// watches, timeoutSeconds, 503 while down, token rotation, and a shutdown that does not wait
/// on open watches. Driven over plain HTTP with curl.
@Suite("The Kubernetes stand-in's list and watch semantics", .timeLimit(.minutes(2)))
struct KubernetesStandInWireTests {
    static let curl = ChildProcess.which("curl") ?? "/usr/bin/curl"

    /// `curl` on the stand-in with its token (or `token`); `-N` so a watch's lines arrive as sent.
    static func curl(
        _ path: String, port: Int, token: String? = nil, maxTime: Int = 10, standIn: KubernetesStandIn
    ) async throws -> ChildProcess.Output {
        try await ChildProcess.run(
            curl,
            [
                "-sS", "-N", "--max-time", String(maxTime), "-H", "Authorization: Bearer \(token ?? standIn.token)",
                "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)",
            ])
    }

    /// The body's JSON lines, and the status code curl appended last.
    static func parse(_ output: ChildProcess.Output) throws -> (code: Int, lines: [[String: Any]]) {
        var lines = output.standardOutput.split(separator: "\n").map(String.init)
        let code = Int(lines.popLast() ?? "") ?? 0
        let objects = try lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        return (code, objects)
    }

    static func metadata(_ object: Any?) -> [String: Any] {
        ((object as? [String: Any])?["metadata"] as? [String: Any]) ?? [:]
    }

    static func waitForWatches(_ standIn: KubernetesStandIn, count: Int = 1) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while standIn.openWatchCount < count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(standIn.openWatchCount == count)
    }

    @Test(
        "a watch replays the log after its resourceVersion and ends at timeoutSeconds; after expire() it gets one 410 ERROR"
    )
    func replayAndExpiry() async throws {
        let standIn = KubernetesStandIn()
        let first = standIn.apply(namespace: "shop", name: "cart")
        standIn.apply(namespace: "shop", name: "checkout", annotations: ["a": "1"])
        standIn.apply(namespace: "other", name: "default")
        standIn.apply(namespace: "shop", name: "cart", annotations: ["a": "2"])
        try await standIn.serve { port in
            let started = ContinuousClock.now
            let replay = try Self.parse(
                try await Self.curl(
                    "/api/v1/namespaces/shop/serviceaccounts?watch=1&resourceVersion=\(first)&timeoutSeconds=1",
                    port: port, maxTime: 40, standIn: standIn))
            // Ended by timeoutSeconds=1, not by curl's own limit; room for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(replay.code == 200)
            #expect(replay.lines.map { $0["type"] as? String } == ["ADDED", "MODIFIED"])
            #expect(replay.lines.map { Self.metadata($0["object"])["name"] as? String } == ["checkout", "cart"])
            #expect(replay.lines.map { Self.metadata($0["object"])["resourceVersion"] as? String } == ["3", "5"])
            #expect(standIn.openWatchCount == 0)

            standIn.expire()
            let expired = try Self.parse(
                try await Self.curl(
                    "/api/v1/serviceaccounts?watch=true&resourceVersion=5", port: port, standIn: standIn))
            #expect(expired.code == 200)
            #expect(expired.lines.count == 1)
            #expect(expired.lines.first?["type"] as? String == "ERROR")
            let status = try #require(expired.lines.first?["object"] as? [String: Any])
            #expect(status["kind"] as? String == "Status")
            #expect(status["code"] as? Int == 410)
            #expect(status["reason"] as? String == "Expired")

            // A fresh list, and a watch from its resourceVersion, work again.
            let list = try Self.parse(try await Self.curl("/api/v1/serviceaccounts", port: port, standIn: standIn))
            let resourceVersion = try #require(Self.metadata(list.lines.first)["resourceVersion"] as? String)
            #expect(resourceVersion == "6")
            let resumed = try Self.parse(
                try await Self.curl(
                    "/api/v1/serviceaccounts?watch=1&resourceVersion=\(resourceVersion)&timeoutSeconds=1", port: port,
                    standIn: standIn))
            #expect(resumed.code == 200)
            #expect(resumed.lines.isEmpty)
        }
    }

    @Test("live events and bookmarks reach a watch; dropWatches() cuts it off mid-stream")
    func liveBookmarkAndDrop() async throws {
        let standIn = KubernetesStandIn()
        standIn.apply(namespace: "shop", name: "cart")
        try await standIn.serve { port in
            async let watching = Self.curl(
                "/api/v1/serviceaccounts?watch=1&allowWatchBookmarks=true", port: port, standIn: standIn)
            async let plain = Self.curl("/api/v1/serviceaccounts?watch=1", port: port, standIn: standIn)
            try await Self.waitForWatches(standIn, count: 2)
            standIn.apply(namespace: "shop", name: "checkout")
            standIn.bookmark()
            standIn.delete(namespace: "shop", name: "cart")
            try await Task.sleep(for: .milliseconds(300))
            standIn.dropWatches()
            let output = try await watching, other = try await plain
            #expect(standIn.openWatchCount == 0)
            // The body never ended: curl reports the transfer cut short (18) and the code it had.
            #expect(output.status == 18, "\(output.standardError)")
            let parsed = try Self.parse(output)
            #expect(parsed.code == 200)
            // Without a resourceVersion the watch starts with the current objects, as ADDED.
            #expect(parsed.lines.map { $0["type"] as? String } == ["ADDED", "ADDED", "BOOKMARK", "DELETED"])
            #expect(
                parsed.lines.map { Self.metadata($0["object"])["resourceVersion"] as? String } == ["2", "3", "3", "4"])
            #expect(Self.metadata(parsed.lines[3]["object"])["name"] as? String == "cart")
            #expect(try Self.parse(other).lines.map { $0["type"] as? String } == ["ADDED", "ADDED", "DELETED"])
        }
    }

    @Test("a paginated list is one snapshot; its continue token expires with expire()")
    func pagination() async throws {
        let standIn = KubernetesStandIn()
        for name in ["a", "b", "c"] { standIn.apply(namespace: "shop", name: name) }
        try await standIn.serve { port in
            let first = try Self.parse(
                try await Self.curl("/api/v1/namespaces/shop/serviceaccounts?limit=2", port: port, standIn: standIn))
            let token = try #require(Self.metadata(first.lines.first)["continue"] as? String)
            #expect(Self.metadata(first.lines.first)["resourceVersion"] as? String == "4")
            standIn.apply(namespace: "shop", name: "d")
            let encoded = try #require(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            let second = try Self.parse(
                try await Self.curl(
                    "/api/v1/namespaces/shop/serviceaccounts?limit=2&continue=\(encoded)", port: port, standIn: standIn)
            )
            let list = try #require(second.lines.first)
            #expect(Self.metadata(list)["resourceVersion"] as? String == "4")
            #expect(Self.metadata(list)["continue"] == nil)
            #expect((list["items"] as? [Any])?.map { Self.metadata($0)["name"] as? String } == ["c"])

            standIn.expire()
            let expired = try Self.parse(
                try await Self.curl(
                    "/api/v1/namespaces/shop/serviceaccounts?limit=2&continue=\(encoded)", port: port, standIn: standIn)
            )
            #expect(expired.code == 410)
            #expect(expired.lines.first?["reason"] as? String == "Expired")
        }
    }

    @Test("wrong tokens get 401, a rotated token takes over, down answers 503, unknown paths 404")
    func refusals() async throws {
        let standIn = KubernetesStandIn()
        standIn.apply(namespace: "shop", name: "cart")
        try await standIn.serve { port in
            let wrong = try await Self.curl("/api/v1/serviceaccounts", port: port, token: "nope", standIn: standIn)
            #expect(
                wrong.standardOutput
                    == #"{"apiVersion":"v1","code":401,"kind":"Status","message":"Unauthorized","metadata":{},"reason":"Unauthorized","status":"Failure"}"#
                    + "\n401")
            let old = standIn.token
            standIn.rotateToken("rotated")
            #expect(try Self.parse(try await Self.curl("/api", port: port, token: old, standIn: standIn)).code == 401)
            #expect(try Self.parse(try await Self.curl("/api", port: port, standIn: standIn)).code == 200)
            #expect(try Self.parse(try await Self.curl("/openapi/v2", port: port, standIn: standIn)).code == 404)
            let missing = try Self.parse(
                try await Self.curl("/api/v1/namespaces/shop/serviceaccounts/ghost", port: port, standIn: standIn))
            #expect(missing.code == 404)
            #expect(missing.lines.first?["reason"] as? String == "NotFound")

            standIn.setDown(true)
            let down = try Self.parse(
                try await Self.curl("/api/v1/serviceaccounts?watch=1", port: port, standIn: standIn))
            #expect(down.code == 503)
            standIn.setDown(false)

            standIn.setDelay(.milliseconds(600))
            let started = ContinuousClock.now
            #expect(
                try Self.parse(try await Self.curl("/api/v1/serviceaccounts", port: port, standIn: standIn)).code == 200
            )
            #expect(ContinuousClock.now - started >= .milliseconds(600))
            #expect(standIn.requests.filter { !$0.authorized }.count == 3)
        }
    }

    @Test("shutting the server down ends an open watch instead of waiting for it")
    func shutdownEndsWatches() async throws {
        let standIn = KubernetesStandIn()
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        async let watching: ChildProcess.Output = {
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw ServerDidNotStart() }
            return try await Self.curl("/api/v1/serviceaccounts?watch=1", port: port, maxTime: 60, standIn: standIn)
        }()
        let started = ContinuousClock.now
        try await standIn.serve { port in
            announce.yield(port)
            try await Self.waitForWatches(standIn)
        }
        // Without ending it, shutdown would wait for curl's 60 s --max-time; the bound leaves
        // room for a fully loaded 2-core machine (15 s seen) and still tells the two apart.
        #expect(ContinuousClock.now - started < .seconds(45))
        let output = try await watching
        #expect(output.status == 0, "\(output.standardError)")
        #expect(try Self.parse(output).code == 200)
    }
}
