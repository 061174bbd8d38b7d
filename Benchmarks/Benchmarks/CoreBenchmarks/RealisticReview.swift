import PodIdentityCore

/// The benchmark's reviews: a Deployment-made pod like `scripts/bench/realistic-review.py`
/// writes (3 containers with probes, resources, 9 env vars each, the kube-api-access
/// projected volume, owner references; about 6 KB), and the same pod grown to about 1 MiB
/// by more env vars per container.
enum RealisticReview {
    static func body(serviceAccount: String, envPerContainer: Int = 8) -> [UInt8] {
        let review: JSONValue = .object([
            "apiVersion": .string("admission.k8s.io/v1"),
            "kind": .string("AdmissionReview"),
            "request": .object([
                "uid": .string("705ab4f5-6393-11e8-b7cc-42010a800002"),
                "kind": gvk("", "v1", kind: "Pod"),
                "requestKind": gvk("", "v1", kind: "Pod"),
                "resource": .object(["group": .string(""), "version": .string("v1"), "resource": .string("pods")]),
                "namespace": .string("shop"),
                "operation": .string("CREATE"),
                "userInfo": .object([
                    "username": .string("system:serviceaccount:kube-system:replicaset-controller"),
                    "groups": .array(["system:serviceaccounts", "system:authenticated"].map(JSONValue.string)),
                ]),
                "object": pod(serviceAccount: serviceAccount, envPerContainer: envPerContainer),
                "dryRun": .bool(false),
            ]),
        ])
        return Array(review.jsonString.utf8)
    }

    private static func gvk(_ group: String, _ version: String, kind: String) -> JSONValue {
        .object(["group": .string(group), "version": .string(version), "kind": .string(kind)])
    }

    private static func pod(serviceAccount: String, envPerContainer: Int) -> JSONValue {
        .object([
            "apiVersion": .string("v1"),
            "kind": .string("Pod"),
            "metadata": .object([
                "generateName": .string("checkout-7d9f8b6c5d-"),
                "namespace": .string("shop"),
                "labels": .object([
                    "app.kubernetes.io/name": .string("checkout"), "pod-template-hash": .string("7d9f8b6c5d"),
                ]),
                "annotations": .object(["kubectl.kubernetes.io/restartedAt": .string("2026-11-20T10:00:00Z")]),
                "ownerReferences": .array([
                    .object([
                        "apiVersion": .string("apps/v1"), "kind": .string("ReplicaSet"),
                        "name": .string("checkout-7d9f8b6c5d"), "uid": .string("5b0c1f7e-4a55-4c1e-9d59-2f4f0a7e0c11"),
                        "controller": .bool(true), "blockOwnerDeletion": .bool(true),
                    ])
                ]),
            ]),
            "spec": .object([
                "serviceAccountName": .string(serviceAccount),
                "containers": .array(
                    [("checkout", 8080), ("envoy", 9901), ("log-shipper", 2020)].map {
                        container($0.0, port: $0.1, envCount: envPerContainer)
                    }),
                "volumes": .array([
                    .object([
                        "name": .string("kube-api-access-x7k2p"),
                        "projected": .object([
                            "defaultMode": .integer(420),
                            "sources": .array([
                                .object([
                                    "serviceAccountToken": .object([
                                        "expirationSeconds": .integer(3607), "path": .string("token"),
                                    ])
                                ]),
                                .object([
                                    "downwardAPI": .object([
                                        "items": .array([
                                            .object([
                                                "path": .string("namespace"),
                                                "fieldRef": .object([
                                                    "apiVersion": .string("v1"),
                                                    "fieldPath": .string("metadata.namespace"),
                                                ]),
                                            ])
                                        ])
                                    ])
                                ]),
                                .object([
                                    "configMap": .object([
                                        "name": .string("kube-root-ca.crt"),
                                        "items": .array([
                                            .object(["key": .string("ca.crt"), "path": .string("ca.crt")])
                                        ]),
                                    ])
                                ]),
                            ]),
                        ]),
                    ])
                ]),
                "restartPolicy": .string("Always"),
                "terminationGracePeriodSeconds": .integer(30),
                "dnsPolicy": .string("ClusterFirst"),
                "schedulerName": .string("default-scheduler"),
                "enableServiceLinks": .bool(true),
                "preemptionPolicy": .string("PreemptLowerPriority"),
                "priority": .integer(0),
                "tolerations": .array(
                    ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"].map {
                        .object([
                            "key": .string($0), "operator": .string("Exists"), "effect": .string("NoExecute"),
                            "tolerationSeconds": .integer(300),
                        ])
                    }),
            ]),
        ])
    }

    private static func container(_ name: String, port: Int, envCount: Int) -> JSONValue {
        let probe: (String) -> JSONValue = { path in
            .object([
                "httpGet": .object(["path": .string(path), "port": .integer(Int64(port)), "scheme": .string("HTTP")]),
                "initialDelaySeconds": .integer(10), "periodSeconds": .integer(10), "timeoutSeconds": .integer(1),
                "successThreshold": .integer(1), "failureThreshold": .integer(3),
            ])
        }
        var env: [JSONValue] = (0..<envCount).map {
            .object(["name": .string("SETTING_\($0)"), "value": .string("value-\(name)-\($0)")])
        }
        env.append(
            .object([
                "name": .string("POD_NAME"),
                "valueFrom": .object([
                    "fieldRef": .object(["apiVersion": .string("v1"), "fieldPath": .string("metadata.name")])
                ]),
            ]))
        return .object([
            "name": .string(name),
            "image": .string("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/\(name):1.42.3"),
            "imagePullPolicy": .string("IfNotPresent"),
            "terminationMessagePath": .string("/dev/termination-log"),
            "terminationMessagePolicy": .string("File"),
            "securityContext": .object([
                "allowPrivilegeEscalation": .bool(false), "readOnlyRootFilesystem": .bool(true),
                "runAsNonRoot": .bool(true), "capabilities": .object(["drop": .array([.string("ALL")])]),
            ]),
            "ports": .array([.object(["name": .string("http"), "containerPort": .integer(Int64(port))])]),
            "env": .array(env),
            "resources": .object([
                "requests": .object(["cpu": .string("250m"), "memory": .string("256Mi")]),
                "limits": .object(["cpu": .string("1"), "memory": .string("512Mi")]),
            ]),
            "livenessProbe": probe("/healthz"),
            "readinessProbe": probe("/ready"),
            "volumeMounts": .array([
                .object([
                    "name": .string("kube-api-access-x7k2p"), "readOnly": .bool(true),
                    "mountPath": .string("/var/run/secrets/kubernetes.io/serviceaccount"),
                ])
            ]),
        ])
    }
}
