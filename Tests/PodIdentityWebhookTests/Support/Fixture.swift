import ArgumentParser
import Foundation
import PodIdentityCore
@testable import pod_identity_webhook
import Synchronization
import Testing

/// One self-describing mutation fixture (see Fixtures/README.md): input pod, settings,
/// associations, request shape, and the expected result.
struct Fixture: CustomTestStringConvertible, Sendable {
    let name: String
    /// Keys and numbers exactly as the file has them (see `LosslessJSON`).
    let document: LosslessJSON
    var loadError: String? = nil

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/mutation")

    static let all: [Fixture] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".json") }.sorted().map { file in
            do {
                let data = try Data(contentsOf: directory.appendingPathComponent(file))
                return Fixture(name: file, document: try Documents.parse(data))
            } catch {
                // A broken fixture fails its own test instead of the whole run.
                return Fixture(name: file, document: .null, loadError: "\(error)")
            }
        }
    }()

    var testDescription: String { name }
    var description: String { document["description"]?.stringValue ?? "" }
    var pod: LosslessJSON? { document["pod"] }
    var expectedPatched: Bool { document["expect"]?["patched"] == .bool(true) }
    var expectedPod: LosslessJSON? { document["expect"]?["pod"] }
    var expectedWarning: String? { document["expect"]?["warning"]?.stringValue }
    /// `not-associated`, `ignored`, `unchanged`… for a fixture without a patch.
    var expectedDecision: String? { document["expect"]?["decision"]?.stringValue }
    var unknownFields: Set<String> {
        guard case .array(let items)? = document["unknownFields"] else { return [] }
        return Set(items.compactMap(\.stringValue).map(Fixture.dotted))
    }

    /// `spec.containers[0].x` → `spec.containers.0.x`, the validator's spelling.
    static func dotted(_ path: String) -> String {
        path.replacingOccurrences(of: "[", with: ".").replacingOccurrences(of: "]", with: "")
    }

    var randomValue: Int64 {
        if case .number(let text)? = document["random"], let value = Int64(text) { return value }
        return MutationSettings.jitterFloor
    }

    /// The fixture's `settings`, read as `serve` reads its flags: each key is a flag name given to
    /// the real `MutationOptions`, so fixtures can only use flags that exist, with their meaning.
    func settings() throws -> MutationSettings {
        guard case .object(let members)? = document["settings"] else { return try MutationOptions.parse([]).settings() }
        let arguments = try LosslessJSON.sortedByKeyBytes(members).map { key, value in
            switch value {
            case .bool(let on): return on ? "--\(key)" : "--no-\(key)"
            case .string(let text): return "--\(key)=\(text)"
            case .number(let text) where Int64(text) != nil: return "--\(key)=\(text)"
            default: throw FixtureError("\(name): setting \(key) = \(value.jsonString) is not a flag value")
            }
        }
        return try MutationOptions.parse(arguments).settings()
    }

    /// The fixture's `serviceAccounts`: `{namespace, name, annotations}`, as a watch sees them.
    func serviceAccounts(prefix: String) -> [ServiceAccountInfo] {
        guard case .array(let items)? = document["serviceAccounts"] else { return [] }
        return items.compactMap { item in
            guard let namespace = item["namespace"]?.stringValue, let name = item["name"]?.stringValue else { return nil }
            var annotations: [(key: String, value: String)] = []
            if case .object(let members)? = item["annotations"] {
                for member in members {
                    if let text = member.value.stringValue { annotations.append((member.key, text)) }
                }
            }
            return ServiceAccountInfo(
                ref: ServiceAccountRef(namespace: namespace, name: name), annotations: annotations, prefix: prefix)
        }
    }

    var associations: AssociationSnapshot {
        guard case .array(let items)? = document["associations"] else { return .empty }
        return AssociationSnapshot(
            items.compactMap { $0.stringValue.flatMap(ServiceAccountRef.init(parsing:)) }, source: name)
    }

    /// The AdmissionReview body the API server would send for this fixture: the pod's keys and
    /// numbers exactly as the fixture has them.
    func reviewBody() throws -> Data {
        let request = document["request"]
        var members: [LosslessJSON.Member] = [
            (key: "uid", value: .string("uid-\(name)")),
            (key: "kind", value: ["group": "", "version": "v1", "kind": request?["kind"] ?? "Pod"]),
            (key: "resource", value: ["group": "", "version": "v1", "resource": "pods"]),
            (key: "operation", value: request?["operation"] ?? "CREATE"),
        ]
        if let namespace = request?["namespace"] { members.append((key: "namespace", value: namespace)) }
        if case .string(let subResource)? = request?["subResource"], !subResource.isEmpty {
            members.append((key: "subResource", value: .string(subResource)))
        }
        var body = LosslessJSON.object([
            (key: "apiVersion", value: "admission.k8s.io/v1"), (key: "kind", value: "AdmissionReview"),
            (key: "request", value: .object(members)),
        ]).jsonString
        if let raw = request?["objectRaw"]?.stringValue {
            // Splice the raw (possibly malformed-as-a-Pod) object text in as-is.
            body.removeLast(2)
            body += ",\"object\":\(raw)}}"
        } else if let pod {
            body.removeLast(2)
            body += ",\"object\":\(pod.jsonString)}}"
        }
        return Data(body.utf8)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A random source that returns one fixed value and remembers the ranges it was asked for.
final class FixedRandomSource: RandomSource {
    let value: Int64
    private let ranges = Mutex<[ClosedRange<Int64>]>([])

    init(_ value: Int64) { self.value = value }

    func int64(in range: ClosedRange<Int64>) -> Int64 {
        ranges.withLock { $0.append(range) }
        return value
    }

    var requestedRanges: [ClosedRange<Int64>] { ranges.withLock { $0 } }
}
