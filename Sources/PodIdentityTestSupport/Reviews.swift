import Foundation
import PodIdentityCore

/// Review bodies for the tests.
public enum Reviews {
    public static func pod(
        name: String = "web-1", serviceAccount: String = "app", secret: String = "s3cr3t-value", containers: Int = 1
    ) -> JSONValue {
        .object([
            "apiVersion": "v1", "kind": "Pod",
            "metadata": .object(["name": .string(name), "namespace": "default"]),
            "spec": .object([
                "serviceAccountName": .string(serviceAccount),
                "containers": .array(
                    (0..<containers).map { index in
                        .object([
                            "name": .string("c\(index)"), "image": "nginx",
                            "env": .array([.object(["name": "DB_PASSWORD", "value": .string(secret)])]),
                        ])
                    }),
            ]),
        ])
    }

    public static func body(
        apiVersion: String = "admission.k8s.io/v1", uid: String = "uid-1", kind: String = "Pod",
        operation: String = "CREATE", object: JSONValue = pod()
    ) -> Data {
        JSONValue.object([
            "apiVersion": .string(apiVersion), "kind": "AdmissionReview",
            "request": .object([
                "uid": .string(uid), "kind": .object(["group": "", "version": "v1", "kind": .string(kind)]),
                "resource": .object(["group": "", "version": "v1", "resource": "pods"]),
                "namespace": "default", "operation": .string(operation), "object": object,
            ]),
        ]).jsonData
    }
}
