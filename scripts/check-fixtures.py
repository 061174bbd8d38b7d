#!/usr/bin/env python3
"""Sanity checks for Tests/PodIdentityWebhookTests/Fixtures/mutation/*.yaml.

This script does NOT implement the mutation rules and never computes an
expected pod. It only:

  1. checks each fixture's shape (required keys, patched/pod/warning coherence);
  2. validates every `pod` and `expect.pod` against the official Kubernetes
     v1 Pod schema with `kubernetes-validate --strict` (newest bundled version):
       - the object with the fields listed in `unknownFields` removed must pass;
       - with only one listed field left in, the object must fail (proving
         each listed field really is unknown to the schema);
  3. prints a structural diff between `pod` and `expect.pod` (list entries are
     matched by `name` when every entry has one) so a human can read that the
     expected pod differs from the input only by the additions the rules
     require. Any removed key or reordered named entry is flagged as an error, and
     so is a changed value other than the pod-identity label and a NO_PROXY or
     no_proxy env value that keeps its old text as a prefix (--proxy-bypass).

Requirements: python3 with PyYAML, and the kubernetes-validate CLI, e.g.
    python3 -m venv /tmp/kv && /tmp/kv/bin/pip install kubernetes-validate pyyaml
    /tmp/kv/bin/python scripts/check-fixtures.py [--validator /tmp/kv/bin/kubernetes-validate]
"""

import argparse
import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "PodIdentityWebhookTests", "Fixtures", "mutation")
K8S_VERSION = "1.37.0"
TOP_KEYS = {
    "description", "settings", "random", "associations", "serviceAccounts", "request", "unknownFields",
    "pod", "expect",
}
SETTING_KEYS = {
    "aws-default-region", "sts-regional-endpoint", "token-expiration", "token-expiration-jitter",
    "container-credentials-audience", "container-credentials-token-mount-path",
    "container-credentials-token-volume-name", "container-credentials-token-path",
    "container-credentials-full-uri", "token-audience", "token-mount-path", "annotation-prefix",
    "proxy-bypass",
}
REQUEST_KEYS = {"namespace", "operation", "kind", "subResource", "objectRaw"}


def parse_path(dotted):
    """'spec.containers[0].futureField' -> ['spec', 'containers', 0, 'futureField']"""
    out = []
    for part in dotted.split("."):
        m = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", part)
        if not m:
            raise ValueError(f"bad unknownFields entry {dotted!r}")
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def strip_fields(obj, paths):
    obj = copy.deepcopy(obj)
    for p in paths:
        node = obj
        for step in p[:-1]:
            node = node[step]
        if p[-1] not in node:
            raise KeyError(f"unknownFields entry {p} not present")
        del node[p[-1]]
    return obj


def k8s_validate(validator, obj):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(obj, f)
        name = f.name
    try:
        r = subprocess.run([validator, "-k", K8S_VERSION, "--strict", "--quiet", name],
                           capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()
    finally:
        os.unlink(name)


def all_named(lst):
    return all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in lst)


NO_PROXY_VALUE = re.compile(r"\.spec\.(initContainers|containers)\[[^\]]*\]\.env\[(NO_PROXY|no_proxy)\]\.value")


def changeable(path, old, new):
    """The only values a patch may change: the pod-identity label, which the webhook owns, and
    a NO_PROXY/no_proxy env value that --proxy-bypass appends to (the old text stays its prefix)."""
    if path == ".metadata.labels.eks.amazonaws.com/pod-identity":
        return True
    return (NO_PROXY_VALUE.fullmatch(path) is not None and isinstance(old, str) and isinstance(new, str)
            and new.startswith(old))


def diff(a, b, path, out, errors):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k not in b:
                errors.append(f"removed key {path}.{k}")
        for k in b:
            if k not in a:
                out.append(f"+ {path}.{k} = {json.dumps(b[k], sort_keys=True)}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out, errors)
    elif isinstance(a, list) and isinstance(b, list):
        if all_named(a) and all_named(b):
            bnames = [e["name"] for e in b]
            anames = [e["name"] for e in a]
            if len(set(bnames)) != len(bnames):
                errors.append(f"duplicate names in {path}: {bnames}")
            kept = [n for n in bnames if n in anames]
            if kept != anames:
                errors.append(f"entries of {path} removed or reordered: {anames} -> {bnames}")
            for i, e in enumerate(b):
                if e["name"] in anames:
                    diff(a[anames.index(e['name'])], e, f"{path}[{e['name']}]", out, errors)
                else:
                    out.append(f"+ {path}[{i}] = {json.dumps(e, sort_keys=True)}")
        else:
            if len(b) < len(a):
                errors.append(f"list {path} shrank")
            for i in range(len(b)):
                if i < len(a):
                    diff(a[i], b[i], f"{path}[{i}]", out, errors)
                else:
                    out.append(f"+ {path}[{i}] = {json.dumps(b[i], sort_keys=True)}")
    elif a != b or type(a) is not type(b):
        out.append(f"~ {path}: {json.dumps(a)} -> {json.dumps(b)}")
        if not changeable(path, a, b):
            errors.append(f"changed value {path}: only the pod-identity label and an appended NO_PROXY may change")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--validator", default="/tmp/kv/bin/kubernetes-validate")
    ap.add_argument("--no-schema", action="store_true")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(FIXTURES, "*.yaml")))
    failures = 0
    for path in files:
        name = os.path.basename(path)
        errors = []
        with open(path) as f:
            fx = yaml.safe_load(f)
        if not re.fullmatch(r"\d{2,3}-[a-z0-9]+(-[a-z0-9]+)*\.yaml", name):
            errors.append("bad file name")
        extra = set(fx) - TOP_KEYS
        if extra:
            errors.append(f"unknown top-level keys {extra}")
        if not isinstance(fx.get("description"), str):
            errors.append("missing description")
        if set(fx.get("settings") or {}) - SETTING_KEYS:
            errors.append(f"unknown settings {set(fx['settings']) - SETTING_KEYS}")
        sas = fx.get("serviceAccounts", [])
        if not isinstance(sas, list):
            errors.append("serviceAccounts must be a list")
            sas = []
        for sa in sas:
            ok = (isinstance(sa, dict) and not set(sa) - {"namespace", "name", "annotations"}
                  and isinstance(sa.get("namespace"), str) and isinstance(sa.get("name"), str))
            if not ok:
                errors.append(f"serviceAccounts entry {sa!r}: needs namespace and name, optional annotations")
                continue
            notes = sa.get("annotations") or {}
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in notes.items()):
                errors.append(f"serviceAccounts {sa['namespace']}/{sa['name']}: annotations must be strings")
        req = fx.get("request") or {}
        if set(req) - REQUEST_KEYS:
            errors.append(f"unknown request keys {set(req) - REQUEST_KEYS}")
        if not isinstance(fx.get("associations"), list):
            errors.append("associations must be a list")
        exp = fx.get("expect") or {}
        if "patched" not in exp:
            errors.append("expect.patched missing")
        has_pod = "pod" in fx
        if has_pod == ("objectRaw" in req):
            errors.append("exactly one of pod / request.objectRaw required")
        if exp.get("patched") and "pod" not in exp:
            errors.append("patched: true needs expect.pod")
        if not exp.get("patched") and "pod" in exp:
            errors.append("patched: false must not carry expect.pod")
        if "objectRaw" in req and exp != {"patched": False, "warning": "decode"}:
            errors.append("objectRaw fixtures expect {patched: false, warning: decode}")
        unknown = [parse_path(p) for p in fx.get("unknownFields") or []]

        objs = []
        if has_pod:
            objs.append(("pod", fx["pod"]))
        if "pod" in exp:
            objs.append(("expect.pod", exp["pod"]))
        if not args.no_schema:
            for label, obj in objs:
                try:
                    stripped = strip_fields(obj, unknown)
                except (KeyError, IndexError, TypeError) as e:
                    errors.append(f"{label}: {e}")
                    continue
                ok, msg = k8s_validate(args.validator, stripped)
                if not ok:
                    errors.append(f"{label} (unknown fields stripped) invalid: {msg}")
                # each listed field on its own must be rejected by the schema
                for i, field in enumerate(unknown):
                    others = unknown[:i] + unknown[i + 1:]
                    ok, msg = k8s_validate(args.validator, strip_fields(obj, others))
                    if ok:
                        errors.append(f"{label}: unknownFields entry {field} is accepted by the schema")

        lines = []
        if has_pod and "pod" in exp:
            diff(fx["pod"], exp["pod"], "", lines, errors)
        print(f"== {name}  patched={exp.get('patched')}  size={os.path.getsize(path)}")
        for line in lines:
            print("   " + (line if len(line) < 400 else line[:400] + " ..."))
        for e in errors:
            print("   ERROR " + e)
        failures += bool(errors)
    print(f"{len(files)} fixtures, {failures} with errors")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
