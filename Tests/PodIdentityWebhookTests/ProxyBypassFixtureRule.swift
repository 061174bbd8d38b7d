import Foundation
import PodIdentityCore
import Testing

extension MutationFixtureTests {
    /// The one exception to the surgical rule, for `--proxy-bypass`: a `test` immediately
    /// followed by a `replace` of the same `value` of an env entry named `NO_PROXY` or
    /// `no_proxy` (byte for byte) of a container or init container, the test holding exactly the
    /// input's current string and the replacement keeping it as its prefix. `index` is the
    /// position of either operation of the pair in `operations`.
    static func isGuardedNoProxyEdit(_ operations: [PatchOperation], at index: Int, on pod: LosslessJSON) throws -> Bool
    {
        let operation = operations[index]
        let pairStart: Int
        switch operation.op {
        case .test: pairStart = index
        case .replace: pairStart = index - 1
        default: return false
        }
        guard pairStart >= 0, pairStart + 1 < operations.count else { return false }
        let test = operations[pairStart], replace = operations[pairStart + 1]
        guard test.op == .test, replace.op == .replace, test.path == replace.path, test.from == nil, replace.from == nil
        else { return false }
        let tokens = try JSONPointer.tokens(of: test.path)
        guard tokens.count == 6, tokens[0] == "spec", tokens[1] == "containers" || tokens[1] == "initContainers",
            Int(tokens[2]) != nil, tokens[3] == "env", let entry = Int(tokens[4]), tokens[5] == "value",
            case .array(let containers)? = pod["spec"]?[tokens[1]], let container = Int(tokens[2]),
            containers.indices.contains(container), case .array(let env)? = containers[container]["env"],
            env.indices.contains(entry), let name = env[entry]["name"]?.stringValue,
            StringMap.sameBytes(name, "NO_PROXY") || StringMap.sameBytes(name, "no_proxy"),
            let current = env[entry]["value"]?.stringValue,
            let tested = test.value?.stringValue, let replacement = replace.value?.stringValue
        else { return false }
        return StringMap.sameBytes(tested, current) && replacement.utf8.starts(with: current.utf8)
            && replacement.utf8.count > current.utf8.count
    }
}

extension MutationFixtureTests {
    @Test("the NO_PROXY exception to the surgical rule admits a test+replace pair on a NO_PROXY value, nothing wider")
    func guardedNoProxyEditIsNarrow() throws {
        let pod = try LosslessJSON.parse(
            Data(
                #"{"spec":{"containers":[{"name":"a","env":[{"name":"NO_PROXY","value":"x"},{"name":"HTTP_PROXY","value":"p"}]}],"initContainers":[{"name":"i","env":[{"name":"no_proxy","value":""}]}]}}"#
                    .utf8))
        func pair(_ path: String, _ tested: String, _ replacement: String) -> [PatchOperation] {
            [
                PatchOperation(op: .test, path: path, value: .string(tested)),
                PatchOperation(op: .replace, path: path, value: .string(replacement)),
            ]
        }
        func admitted(_ operations: [PatchOperation]) throws -> Bool {
            try operations.indices.allSatisfy { try Self.isGuardedNoProxyEdit(operations, at: $0, on: pod) }
        }
        #expect(try admitted(pair("/spec/containers/0/env/0/value", "x", "x,169.254.170.23")))
        #expect(try admitted(pair("/spec/initContainers/0/env/0/value", "", "169.254.170.23")))
        // Not a NO_PROXY entry, a value that does not match, a replacement that drops the old text
        // or adds nothing, a lone replace or test, the pair reversed, another member of the entry.
        #expect(try !admitted(pair("/spec/containers/0/env/1/value", "p", "p,x")))
        #expect(try !admitted(pair("/spec/containers/0/env/0/value", "y", "y,169.254.170.23")))
        #expect(try !admitted(pair("/spec/containers/0/env/0/value", "x", "169.254.170.23")))
        #expect(try !admitted(pair("/spec/containers/0/env/0/value", "x", "x")))
        #expect(try !admitted(Array(pair("/spec/containers/0/env/0/value", "x", "x,y").suffix(1))))
        #expect(try !admitted(Array(pair("/spec/containers/0/env/0/value", "x", "x,y").prefix(1))))
        #expect(try !admitted(pair("/spec/containers/0/env/0/value", "x", "x,y").reversed()))
        #expect(try !admitted(pair("/spec/containers/0/env/0/name", "NO_PROXY", "NO_PROXY,y")))
        // And the surgical rule itself still refuses a replace, or an add onto the existing value.
        #expect(
            try !Self.isSurgical(
                PatchOperation(op: .replace, path: "/spec/containers/0/env/0/value", value: "y"), on: pod))
        #expect(try !Self.isSurgical(PatchOperation(path: "/spec/containers/0/env/0/value", value: "x,y"), on: pod))
    }
}
