#!/usr/bin/env python3
"""Signs one request with botocore's SigV4Auth at a fixed time; used by BotocoreCrossCheckTests.

stdin:  {"method", "url", "headers": {name: value}, "body", "access_key", "secret_key",
         "token" (null for none), "region", "service", "timestamp": "20261123T120000Z"}
stdout: {"canonical_request", "string_to_sign", "authorization", "signed_headers", "headers"}

botocore 1.43's SigV4Auth.add_auth takes the time from botocore.auth.get_current_datetime()
and stores it in request.context['timestamp']. The script runs the same steps as add_auth
with that timestamp fixed (so canonical request and string to sign can be read out), then runs
add_auth itself with get_current_datetime patched to the same instant and checks that the
Authorization header it produces is identical. Exit status 3: botocore is not installed.
"""
import datetime
import json
import sys
from unittest import mock

try:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as error:  # pragma: no cover - reported to the Swift test
    print(f"botocore is not importable: {error}", file=sys.stderr)
    sys.exit(3)


def make_request(spec):
    body = spec.get("body") or ""
    return AWSRequest(
        method=spec["method"],
        url=spec["url"],
        headers=dict(spec.get("headers") or {}),
        data=body.encode("utf-8"),
    )


def main():
    spec = json.load(sys.stdin)
    credentials = Credentials(spec["access_key"], spec["secret_key"], spec.get("token") or None)
    timestamp = spec["timestamp"]
    frozen = datetime.datetime.strptime(timestamp, botocore.auth.SIGV4_TIMESTAMP)

    # The steps of SigV4Auth.add_auth, with the timestamp fixed.
    auth = botocore.auth.SigV4Auth(credentials, spec["service"], spec["region"])
    request = make_request(spec)
    request.context["timestamp"] = timestamp
    auth._modify_request_before_signing(request)
    canonical_request = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical_request)
    signed_headers = auth.signed_headers(auth.headers_to_sign(request))
    signature = auth.signature(string_to_sign, request)
    auth._inject_signature_to_request(request, signature)
    authorization = request.headers["Authorization"]

    # add_auth itself, with the clock frozen: must agree with the step-by-step result.
    check = make_request(spec)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=frozen):
        botocore.auth.SigV4Auth(credentials, spec["service"], spec["region"]).add_auth(check)
    if check.headers["Authorization"] != authorization:
        print("add_auth disagrees with the step-by-step signature:\n"
              f"  {check.headers['Authorization']}\n  {authorization}", file=sys.stderr)
        sys.exit(2)

    json.dump({
        "canonical_request": canonical_request,
        "string_to_sign": string_to_sign,
        "authorization": authorization,
        "signed_headers": signed_headers,
        "headers": {name: value for name, value in request.headers.items()},
    }, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
