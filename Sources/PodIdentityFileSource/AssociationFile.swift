import Foundation
import PodIdentityCore
import Yams

/// Reads an associations file: YAML or JSON.
///
/// Accepted shapes:
/// - a list of `{namespace, serviceAccount}` objects (other keys, such as `roleArn`, are ignored);
/// - a list of `"namespace/serviceAccount"` strings;
/// - the reference webhook's container-credentials file, `{"identities": [...]}`, unchanged;
/// - an empty file, meaning no associations.
public enum AssociationFile {
    public static func parse(_ data: Data) throws(AssociationFileError) -> [ServiceAccountRef] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw AssociationFileError("the file is not UTF-8 text")
        }
        let document: Any?
        do {
            // Every scalar is a string (Yams' basic resolver): namespace and service-account
            // names such as `123`, `true`, `null` or `on` are names, not numbers or booleans.
            // It also keeps the regex-based resolver (ICU) off the start-up path.
            document = try Yams.load(yaml: text, .basic)
        } catch let error as YamlError {
            throw AssociationFileError("not valid YAML or JSON: \(error)")
        } catch {
            throw AssociationFileError("not valid YAML or JSON: \(error)")
        }
        guard let document else { return [] }
        let entries: [Any]
        if let list = document as? [Any] {
            entries = list
        } else if let object = document as? [String: Any], let identities = object["identities"] {
            guard let list = identities as? [Any] else {
                throw AssociationFileError("\"identities\" must be a list")
            }
            entries = list
        } else if let object = document as? [String: Any], object.isEmpty {
            entries = []
        } else {
            throw AssociationFileError(
                "expected a list of {namespace, serviceAccount} or an object with \"identities\"")
        }
        return try entries.enumerated().map { (index, entry) throws(AssociationFileError) in
            if let text = entry as? String {
                guard let ref = ServiceAccountRef(parsing: text) else {
                    throw AssociationFileError("entry \(index + 1): \"\(text)\" is not NAMESPACE/SERVICEACCOUNT")
                }
                return ref
            }
            guard let object = entry as? [String: Any] else {
                throw AssociationFileError(
                    "entry \(index + 1) is neither an object nor a NAMESPACE/SERVICEACCOUNT string")
            }
            guard let namespace = object["namespace"] as? String, !namespace.isEmpty else {
                throw AssociationFileError("entry \(index + 1) has no \"namespace\" string")
            }
            guard let name = object["serviceAccount"] as? String, !name.isEmpty else {
                throw AssociationFileError("entry \(index + 1) has no \"serviceAccount\" string")
            }
            return ServiceAccountRef(namespace: namespace, name: name)
        }
    }
}

public struct AssociationFileError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
