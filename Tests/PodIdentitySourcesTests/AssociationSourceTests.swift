import Foundation
import Logging
import PodIdentityCore
import PodIdentityFileSource
import PodIdentitySources
import PodIdentityTestSupport
import Testing

@Suite("Association sources", .timeLimit(.minutes(5)))
struct AssociationSourceTests {
    @Test(
        "the file reads as YAML or JSON, as objects, NS/SA strings, or the reference's identities file",
        arguments: [
            "- namespace: a\n  serviceAccount: x\n- namespace: b\n  serviceAccount: y\n  roleArn: arn:aws:iam::1:role/r\n",
            #"[{"namespace":"a","serviceAccount":"x"},{"namespace":"b","serviceAccount":"y"}]"#,
            "- a/x\n- b/y\n",
            #"{"identities":[{"namespace":"a","serviceAccount":"x"},{"namespace":"b","serviceAccount":"y"}]}"#,
        ])
    func formats(_ text: String) throws {
        let refs = try AssociationFile.parse(Data(text.utf8))
        #expect(refs == [ServiceAccountRef(namespace: "a", name: "x"), ServiceAccountRef(namespace: "b", name: "y")])
    }

    @Test("names that YAML would read as numbers, booleans or null stay names")
    func namesThatLookLikeOtherTypes() throws {
        let text = """
            - {namespace: 123, serviceAccount: "true"}
            - {namespace: "null", serviceAccount: on}
            - namespace: yes
              serviceAccount: 0x1F
            - 007/null
            """
        #expect(
            try AssociationFile.parse(Data(text.utf8)) == [
                ServiceAccountRef(namespace: "123", name: "true"), ServiceAccountRef(namespace: "null", name: "on"),
                ServiceAccountRef(namespace: "yes", name: "0x1F"), ServiceAccountRef(namespace: "007", name: "null"),
            ])
    }

    @Test("an empty file means no associations")
    func empty() throws {
        #expect(try AssociationFile.parse(Data()).isEmpty)
        #expect(try AssociationFile.parse(Data("{}".utf8)).isEmpty)
    }

    @Test(
        "a broken file is refused with a message that locates the problem",
        arguments: [
            ("- namespace: a\n", "entry 1 has no \"serviceAccount\""),
            ("- serviceAccount: x\n", "entry 1 has no \"namespace\""),
            ("- nope\n", "not NAMESPACE/SERVICEACCOUNT"),
            ("[1]", "entry 1: \"1\" is not NAMESPACE/SERVICEACCOUNT"),
            ("[[1]]", "entry 1 is neither"),
            ("- namespace:\n  serviceAccount: x\n", "entry 1 has no \"namespace\""),
            ("key: value\n", "expected a list"),
            ("{\"identities\": 3}", "must be a list"),
            ("- [unclosed\n", "not valid YAML"),
        ])
    func broken(_ text: String, _ message: String) {
        #expect {
            _ = try AssociationFile.parse(Data(text.utf8))
        } throws: { error in
            (error as? AssociationFileError)?.description.contains(message) == true
        }
    }

    @Test("the file source reloads on change, and a broken file keeps the previous snapshot and logs why once")
    func reload() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("piw-assoc-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("- default/app\n".utf8).write(to: file)
        let logs = LogCapture()
        let extra = ServiceAccountRef(namespace: "flags", name: "sa")
        let source = try FileAssociationSource(path: file.path, extra: [extra], logger: logs.logger)
        #expect(source.isReady)
        #expect(source.snapshot.serviceAccounts == [ServiceAccountRef(namespace: "default", name: "app"), extra])
        #expect(!source.reloadIfChanged(), "unchanged content is not reloaded")

        try Data("- default/app\n- other/worker\n".utf8).write(to: file)
        #expect(source.reloadIfChanged())
        #expect(source.snapshot.contains(ServiceAccountRef(namespace: "other", name: "worker")))
        #expect(source.snapshot.contains(extra))

        try Data("- namespace: [broken\n".utf8).write(to: file)
        #expect(!source.reloadIfChanged())
        #expect(!source.reloadIfChanged())
        #expect(source.snapshot.count == 3, "the last good snapshot stays")
        let errors = logs.all.filter { $0.level == .error }
        #expect(errors.count == 1, "one log line per distinct problem")
        #expect(errors.first?.text.contains(file.path) == true)

        try FileManager.default.removeItem(at: file)
        #expect(!source.reloadIfChanged())
        #expect(source.snapshot.count == 3)
        #expect(logs.all.filter { $0.level == .error }.last?.text.contains("cannot read") == true)

        try Data("- default/app\n".utf8).write(to: file)
        #expect(source.reloadIfChanged())
        #expect(source.snapshot.count == 2)
    }

    @Test("a file that is unusable at start is a clear startup error")
    func unusableAtStart() {
        #expect {
            _ = try FileAssociationSource(path: "/nonexistent/associations.yaml", logger: LogCapture().logger)
        } throws: { error in
            (error as? AssociationFileError)?.description.contains("cannot read") == true
        }
    }

    @Test("the file source's run loop picks up an edit on its own")
    func runLoop() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("piw-assoc-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("[]".utf8).write(to: file)
        let source = try FileAssociationSource(
            path: file.path, pollInterval: .milliseconds(50), logger: LogCapture().logger)
        let task = Task { try await source.run() }
        defer { task.cancel() }
        try Data(#"[{"namespace":"ns","serviceAccount":"sa"}]"#.utf8).write(to: file)
        let ref = ServiceAccountRef(namespace: "ns", name: "sa")
        for _ in 0..<100 where !(await source.association(of: ref).found) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(await source.association(of: ref).found)
    }

    @Test("a ConfigMap mount updated the kubelet's way (a ..data symlink swap) is picked up without a restart")
    func configMapMount() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("piw-cm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try KubeletVolume.update(
            directory, generation: 1, files: ["associations.yaml": "- {namespace: ns, serviceAccount: first}\n"])
        let source = try FileAssociationSource(
            path: directory.appendingPathComponent("associations.yaml").path, pollInterval: .milliseconds(50),
            logger: LogCapture().logger)
        let first = ServiceAccountRef(namespace: "ns", name: "first"),
            second = ServiceAccountRef(namespace: "ns", name: "second")
        #expect(await source.association(of: first).found)
        let task = Task { try await source.run() }
        defer { task.cancel() }
        try KubeletVolume.update(
            directory, generation: 2, files: ["associations.yaml": "- {namespace: ns, serviceAccount: second}\n"])
        for _ in 0..<100 where !(await source.association(of: second).found) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(await source.association(of: second).found)
        #expect(!(await source.association(of: first).found))
    }
}
