import Foundation
import PodIdentityCore
import Testing

/// `--proxy-bypass` through the real binary: the flag, its environment variable, and the
/// warnings `mutate` prints.
@Suite("Proxy bypass on the command line", .serialized, .timeLimit(.minutes(2)))
struct ProxyBypassCommandLineTests {
    static let pod = """
        apiVersion: v1
        kind: Pod
        metadata: {name: web, namespace: shop}
        spec:
          serviceAccountName: checkout
          containers:
          - name: a
            image: nginx
            env:
            - name: HTTPS_PROXY
              valueFrom: {secretKeyRef: {name: proxy, key: url}}
          - name: b
            image: nginx
            env:
            - name: HTTPS_PROXY
              value: http://user:hunter2@proxy.example:3128
            - name: NO_PROXY
              value: .svc
        """

    @Test("the flag and POD_IDENTITY_WEBHOOK_PROXY_BYPASS give the same patch and warning; off, neither")
    func flagAndEnvironment() async throws {
        let input = Data(Self.pod.utf8)
        let flag = try await CommandLineTests.run(
            ["mutate", "-o", "patch", "--no-token-expiration-jitter", "--proxy-bypass", "-"], stdin: input)
        #expect(flag.status == 0, "\(flag.stderr)")
        let operations = try JSONPatch(parsing: Data(flag.stdout.utf8)).operations
        #expect(
            operations.suffix(2) == [
                PatchOperation(op: .test, path: "/spec/containers/1/env/1/value", value: ".svc"),
                PatchOperation(
                    op: .replace, path: "/spec/containers/1/env/1/value", value: ".svc,169.254.170.23,fd00:ec2::23"),
            ])
        #expect(
            flag.stderr.contains(
                #"warning: pod-identity-webhook: container "a": HTTPS_PROXY is set through valueFrom, so NO_PROXY was not changed"#
            ))
        #expect(!flag.stderr.contains("hunter2"))

        let environment = try await CommandLineTests.run(
            ["mutate", "-o", "patch", "--no-token-expiration-jitter", "-"], stdin: input,
            environment: ["POD_IDENTITY_WEBHOOK_PROXY_BYPASS": "true"])
        #expect(environment.stdout == flag.stdout)
        #expect(environment.stderr == flag.stderr)

        let off = try await CommandLineTests.run(
            ["mutate", "-o", "patch", "--no-token-expiration-jitter", "-"], stdin: input)
        #expect(off.status == 0)
        let offOperations = try JSONPatch(parsing: Data(off.stdout.utf8)).operations
        #expect(offOperations == Array(operations.dropLast(2)))
        #expect(!off.stderr.contains("warning"))
        let explicitOff = try await CommandLineTests.run(
            ["mutate", "-o", "patch", "--no-token-expiration-jitter", "--no-proxy-bypass", "-"], stdin: input,
            environment: ["POD_IDENTITY_WEBHOOK_PROXY_BYPASS": "true"])
        #expect(explicitOff.stdout == off.stdout)
    }
}
