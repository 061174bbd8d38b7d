#!/usr/bin/env python3
"""Generates the two large mutation fixtures that are impractical to write by hand:

  Tests/PodIdentityWebhookTests/Fixtures/mutation/45-thirty-containers.yaml
  Tests/PodIdentityWebhookTests/Fixtures/mutation/46-one-mib-pod.yaml

Both use plain containers that have no env and no volumeMounts, in a pod with no
volumes, no labels and no annotations, so the expected pod is just the input pod
with the well-known additions appended by hand-written constants below:
  - each container gets the fixed env entries (appended after its own env) and the token mount;
  - spec.volumes is created holding the token volume (expirationSeconds 79200:
    default settings, jitter on, no `random` in the fixture);
  - metadata.labels is created holding eks.amazonaws.com/pod-identity: enabled.
This is not an implementation of the mutation rules; it only appends constants.

The files are written as JSON, which is valid YAML. Stdlib only.
Usage: python3 scripts/generate-large-fixtures.py
"""

import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                   "Tests", "PodIdentityWebhookTests", "Fixtures", "mutation")

REQUEST = {"namespace": "default", "operation": "CREATE", "kind": "Pod", "subResource": ""}

TOKEN_MOUNT = {
    "name": "eks-pod-identity-token",
    "mountPath": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount",
    "readOnly": True,
}
TOKEN_VOLUME = {
    "name": "eks-pod-identity-token",
    "projected": {"sources": [{"serviceAccountToken": {
        "audience": "pods.eks.amazonaws.com",
        "expirationSeconds": 79200,
        "path": "eks-pod-identity-token",
    }}]},
}
CREDENTIAL_ENV = [
    {"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"},
    {"name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
     "value": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"},
]
REGION_ENV_US_EAST_2 = [
    {"name": "AWS_DEFAULT_REGION", "value": "us-east-2"},
    {"name": "AWS_REGION", "value": "us-east-2"},
]


def expected_from(pod, added_env):
    """Input pod + the fixed additions (every container is plain: no credential/region vars, no token mount)."""
    out = copy.deepcopy(pod)
    out["metadata"]["labels"] = {"eks.amazonaws.com/pod-identity": "enabled"}
    for c in out["spec"]["containers"]:
        c["env"] = c.get("env", []) + copy.deepcopy(added_env)
        c["volumeMounts"] = [copy.deepcopy(TOKEN_MOUNT)]
    out["spec"]["volumes"] = [copy.deepcopy(TOKEN_VOLUME)]
    return out


def write(name, fixture):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def thirty_containers():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "thirty-containers", "namespace": "default"},
        "spec": {
            "serviceAccountName": "app",
            "containers": [
                {"name": f"c{i:02d}", "image": "busybox:1.36", "command": ["sleep", str(1000 + i)]}
                for i in range(1, 31)
            ],
        },
    }
    write("45-thirty-containers.yaml", {
        "description": "With a region configured, each of 30 plain containers gets the region vars, "
                       "the credential vars and the mount, in container order; one volume and one label are added.",
        "settings": {"aws-default-region": "us-east-2"},
        "associations": ["default/app"],
        "request": REQUEST,
        "pod": pod,
        "expect": {"patched": True, "pod": expected_from(pod, REGION_ENV_US_EAST_2 + CREDENTIAL_ENV)},
    })


def one_mib_pod():
    # 4 containers x 50 env vars x 5,250-character values = just over 1 MiB of env values.
    def big_value(c, i):
        return (f"c{c}-v{i:02d}-" + "abcdefghijklmnopqrstuvwxyz0123456789" * 146)[:5250]

    containers = []
    for c in range(1, 5):
        containers.append({
            "name": f"big-{c}",
            "image": "busybox:1.36",
            "env": [{"name": f"BIG_{c}_{i:02d}", "value": big_value(c, i)} for i in range(50)],
        })
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "one-mib", "namespace": "default"},
        "spec": {"serviceAccountName": "app", "containers": containers},
    }
    size = len(json.dumps(pod))
    write("46-one-mib-pod.yaml", {
        "description": f"A pod of about 1 MiB ({size} bytes of JSON: 4 containers with 50 env values "
                       "of 5250 characters each) is mutated like a small one: new env entries go after "
                       "the existing 50, plus the mount, volume and label.",
        "associations": ["default/app"],
        "request": REQUEST,
        "pod": pod,
        "expect": {"patched": True, "pod": expected_from(pod, CREDENTIAL_ENV)},
    })


if __name__ == "__main__":
    thirty_containers()
    one_mib_pod()
