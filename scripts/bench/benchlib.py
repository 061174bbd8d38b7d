#!/usr/bin/env python3
"""Small helpers for scripts/bench/run.sh (stdlib only). Each subcommand prints one line or
fails with a message on stderr and a non-zero exit.

  associations COUNT OUT           YAML list of COUNT {namespace, serviceAccount}: shop/app is one
                                   of them, shop/other is not
  check-review FILE NS SA          the review's namespace and service account are NS and SA
  check-response FILE patch|nopatch [UID]
                                   an AdmissionReview answer, allowed, with (or without) a
                                   non-empty JSONPatch; prints the patch's operation count
  poll-ready URL ARMED OUT [SECS]  touch ARMED, then GET URL every 5 ms until it answers 200;
                                   write the wall-clock time of that answer (µs since epoch) to OUT
  h2log FILE                       percentiles of an h2load --log-file (column 3, µs), in ms
  median V...                      the median of the values
"""
import base64
import http.client
import json
import math
import os
import statistics
import sys
import time


def fail(message):
    print(f"benchlib: {message}", file=sys.stderr)
    sys.exit(1)


def associations(count, out):
    count = int(count)
    if count < 1:
        fail("count must be at least 1")
    pairs = [("shop", "app")]
    i = 0
    while len(pairs) < count:
        pairs.append((f"team-{i % 100:03d}", f"workload-{i:05d}"))
        i += 1
    if ("shop", "other") in pairs:
        fail("shop/other must stay unassociated")
    with open(out, "w") as f:
        f.write(f"# {count} associations for scripts/bench/run.sh\n")
        for ns, sa in pairs:
            f.write(f"- namespace: {ns}\n  serviceAccount: {sa}\n")
    print(f"{count} associations (shop/app included, shop/other not)")


def check_review(path, namespace, service_account):
    with open(path) as f:
        review = json.load(f)
    request = review["request"]
    pod = request["object"]
    got_ns = request.get("namespace") or pod["metadata"].get("namespace")
    got_sa = pod["spec"].get("serviceAccountName")
    if got_ns != namespace or got_sa != service_account:
        fail(f"{path}: review is {got_ns}/{got_sa}, expected {namespace}/{service_account}")
    print(f"{os.path.getsize(path)} bytes, {got_ns}/{got_sa}, "
          f"{len(pod['spec']['containers'])} containers")


def check_response(path, expect, uid=None):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        answer = json.loads(raw)
        response = answer["response"]
    except (ValueError, KeyError, TypeError) as error:
        fail(f"{path}: not an AdmissionReview answer ({error}): {raw[:200]!r}")
    if answer.get("kind") != "AdmissionReview" or response.get("allowed") is not True:
        fail(f"{path}: expected kind AdmissionReview and allowed: true: {raw[:300]!r}")
    if uid is not None and response.get("uid") != uid:
        fail(f"{path}: uid {response.get('uid')!r} is not the review's {uid!r}")
    patch = response.get("patch")
    if expect == "patch":
        if not patch or response.get("patchType") != "JSONPatch":
            fail(f"{path}: expected a JSONPatch, got none: {raw[:300]!r}")
        operations = json.loads(base64.b64decode(patch))
        if not isinstance(operations, list) or not operations:
            fail(f"{path}: the patch is not a non-empty list of operations")
        print(f"{len(raw)} bytes, patch with {len(operations)} operations")
    elif expect == "nopatch":
        if patch is not None or "patchType" in response:
            fail(f"{path}: expected no patch for an unassociated service account")
        print(f"{len(raw)} bytes, no patch")
    else:
        fail(f"unknown expectation {expect}")


def poll_ready(url, armed, out, seconds="30"):
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    path = "/" + path
    deadline = time.monotonic() + float(seconds)
    open(armed, "w").close()
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=1)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                ready = time.time_ns() // 1000
                with open(out, "w") as f:
                    f.write(f"{ready}\n")
                return
        except OSError:
            pass
        time.sleep(0.005)
    fail(f"{url} did not answer 200 within {seconds} s")


def percentile(ordered, p):
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def h2log(path):
    values = []
    non2xx = 0
    with open(path) as f:
        for line in f:
            columns = line.split("\t")
            if len(columns) < 3:
                continue
            if not columns[1].startswith("2"):
                non2xx += 1
            values.append(int(columns[2]) / 1000)
    if not values:
        fail(f"{path}: no requests logged")
    values.sort()
    print(f"logged={len(values)} p50_ms={percentile(values, 50):.3f} p99_ms={percentile(values, 99):.3f} "
          f"p999_ms={percentile(values, 99.9):.3f} max_ms={values[-1]:.3f} "
          f"mean_ms={statistics.fmean(values):.3f} log_non2xx={non2xx}")


def median(*values):
    if not values:
        fail("median of nothing")
    print(f"{statistics.median(float(v) for v in values):.3f}")


COMMANDS = {
    "associations": associations,
    "check-review": check_review,
    "check-response": check_response,
    "poll-ready": poll_ready,
    "h2log": h2log,
    "median": median,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(f"usage: benchlib.py {'|'.join(COMMANDS)} ...")
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except TypeError as error:
        fail(f"{sys.argv[1]}: {error}")
