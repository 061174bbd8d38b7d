#!/usr/bin/env python3
"""Validate Kubernetes objects (JSON files) against the newest schema kubernetes-validate ships, strictly.

Prints one JSON line per file: {"file", "version", "unknown": [dotted paths of fields the schema
does not know], "error": null or the first other validation error}. Used by the Swift tests, which
allow only the unknown fields a fixture declares on purpose.
"""
import copy
import json
import re
import sys

import kubernetes_validate


def check(document):
    version = kubernetes_validate.latest_version()
    unknown = []
    document = copy.deepcopy(document)
    for _ in range(1000):
        try:
            kubernetes_validate.validate(document, version, strict=True)
            return version, unknown, None
        except kubernetes_validate.ValidationError as error:
            if error.validator != "additionalProperties":
                return version, unknown, "%s: %s" % (".".join(map(str, error.path)), error.message)
            names = re.findall(r"'([^']+)'", error.message.split("(", 1)[-1])
            target = document
            for step in error.path:
                target = target[step]
            for name in names:
                unknown.append(".".join([*map(str, error.path), name]))
                target.pop(name, None)
    return version, unknown, "too many unknown fields"


for path in sys.argv[1:]:
    with open(path) as handle:
        document = json.load(handle)
    version, unknown, error = check(document)
    print(json.dumps({"file": path, "version": version, "unknown": unknown, "error": error}))
