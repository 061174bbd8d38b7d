#!/usr/bin/env python3
"""A Kubernetes API stand-in for scripts/bench/service-accounts.sh (stdlib only): N ServiceAccounts,
served over plain HTTP on 127.0.0.1, enough of the API for the webhook's list/watch/get and for
`kubectl get sa -A`.

Usage: k8s-sa-server.py PORT COUNT [--port-file FILE] [--tls-cert PEM --tls-key PEM] [--quiet]
  PORT 0 picks a free port. When listening, prints "k8s-sa-server: listening on 127.0.0.1:PORT ..."
  on stdout and, with --port-file, writes PORT to FILE (atomically: wait for the file).
  With --tls-cert/--tls-key the same port also speaks HTTPS (told apart by the first byte of a
  connection): kubectl sends a kubeconfig's token only over TLS, the webhook may use plain HTTP
  to a loopback server.

The ServiceAccounts: sa-<i> in namespace ns-<i % 100>, i = 0 .. COUNT-1; one in every 100 (the i
whose i % 100 == (i // 100) % 100, so they spread over all namespaces) carries
eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/sa-<i>. Every object has a uid, a
resourceVersion, labels and a managedFields entry, as a Helm-made ServiceAccount has (about 550
bytes; no secrets, as since Kubernetes 1.24).

Every request needs `Authorization: Bearer bench-token` (else 401). Paths:
  GET /api/v1/serviceaccounts?limit=L&continue=C   a page, sorted by namespace/name (continue:
                                                   opaque base64, only when more); list RV 1000
  GET /api/v1/serviceaccounts?watch=1&...&timeoutSeconds=T
                                                   chunked; a BOOKMARK (RV 1000) every 10 s; ends
                                                   after T s or when the client goes away
  GET /api/v1/namespaces/NS/serviceaccounts/NAME   the object, or a 404 Status
  GET /api/v1/namespaces/NS                        the namespace (kubectl asks after a 404)
  GET /api, /apis, /api/v1, /version               discovery, for kubectl
  GET /bench/stats                                 JSON counters: {"webhook"|"other": {kind: n}},
                                                   "webhook" = User-Agent pod-identity-webhook/...
                                                   kinds: list (a first page), list-continue,
                                                   watch, get, discovery, namespace, other, ...;
                                                   list-ms: milliseconds spent in LIST requests
                                                   (building and sending the pages)
Every request is logged on stderr (unless --quiet): client, scheme, kind, status, milliseconds,
path.
"""
import argparse
import base64
import bisect
import json
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "bench-token"
LIST_RESOURCE_VERSION = "1000"
NAMESPACES = 100
BOOKMARK_EVERY = 10.0
CREATED = "2026-01-01T00:00:00Z"


def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


def annotated(i):
    return i % 100 == (i // 100) % 100


def service_account(i):
    namespace, name = f"ns-{i % NAMESPACES}", f"sa-{i}"
    metadata = {
        "name": name,
        "namespace": namespace,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{namespace}/{name}")),
        "resourceVersion": str(1 + i % 999),
        "creationTimestamp": CREATED,
        "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": name},
    }
    if annotated(i):
        metadata["annotations"] = {"eks.amazonaws.com/role-arn": f"arn:aws:iam::111122223333:role/{name}"}
    metadata["managedFields"] = [{
        "manager": "helm", "operation": "Update", "apiVersion": "v1", "time": CREATED, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {
            **({"f:annotations": {".": {}, "f:eks.amazonaws.com/role-arn": {}}} if annotated(i) else {}),
            "f:labels": {".": {}, "f:app.kubernetes.io/managed-by": {}, "f:app.kubernetes.io/name": {}}}},
    }]
    return f"{namespace}/{name}", compact({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata})


def status(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return compact(body)


def encode_continue(key):
    # As the API server does: base64 of {"v", "rv", "start"}, start being the next key + "\0".
    token = {"v": "meta.k8s.io/v1", "rv": int(LIST_RESOURCE_VERSION), "start": key + "\x00"}
    return base64.b64encode(compact(token)).decode()


def decode_continue(text):
    try:
        token = json.loads(base64.b64decode(text, validate=True))
        start = token["start"]
        if token.get("v") != "meta.k8s.io/v1" or not start.endswith("\x00"):
            return None
        return start[:-1]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


API_VERSIONS = compact({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
API_GROUPS = compact({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
API_V1 = compact({"kind": "APIResourceList", "groupVersion": "v1", "resources": [{
    "name": "serviceaccounts", "singularName": "serviceaccount", "namespaced": True, "kind": "ServiceAccount",
    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    "shortNames": ["sa"], "storageVersionHash": "pbx9ZvyFpBE="}, {
    "name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
    "verbs": ["get"], "shortNames": ["ns"], "storageVersionHash": "Q3oi5N2YM8M="}]})
VERSION = compact({"major": "1", "minor": "32", "gitVersion": "v1.32.0-bench", "gitCommit": "bench",
                   "gitTreeState": "clean", "buildDate": CREATED, "goVersion": "go1.23.0", "compiler": "gc",
                   "platform": "linux/amd64"})
DISCOVERY = {"/api": API_VERSIONS, "/apis": API_GROUPS, "/api/v1": API_V1, "/version": VERSION}


class Store:
    def __init__(self, count):
        pairs = sorted(service_account(i) for i in range(count))
        self.keys = [key for key, _ in pairs]
        self.bodies = [body for _, body in pairs]
        self.index = {key: n for n, key in enumerate(self.keys)}
        self.annotated = sum(1 for i in range(count) if annotated(i))
        self.namespaces = {f"ns-{k}" for k in range(min(count, NAMESPACES))}
        self.lock = threading.Lock()
        self.stats = {"webhook": {}, "other": {}}

    def count(self, client, kind, amount=1):
        with self.lock:
            self.stats[client][kind] = self.stats[client].get(kind, 0) + amount

    def page(self, limit, start):
        end = len(self.bodies) if limit <= 0 else min(len(self.bodies), start + limit)
        metadata = b'"resourceVersion":"' + LIST_RESOURCE_VERSION.encode() + b'"'
        if end < len(self.bodies):
            metadata += b',"continue":"' + encode_continue(self.keys[end]).encode() + b'"'
            metadata += b',"remainingItemCount":' + str(len(self.bodies) - end).encode()
        return (b'{"kind":"ServiceAccountList","apiVersion":"v1","metadata":{' + metadata + b'},"items":['
                + b",".join(self.bodies[start:end]) + b"]}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall
    server_version = "k8s-sa-server"
    store: Store
    quiet = False
    client = "other"

    def log_message(self, *args):
        pass

    def version_string(self):
        return self.server_version

    def do_GET(self):
        started = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        agent = self.headers.get("User-Agent", "")
        self.client = "webhook" if agent.startswith("pod-identity-webhook") else "other"
        kind, code = self.route(url.path, query)
        elapsed = (time.monotonic() - started) * 1000
        if kind != "watch":  # a watch counts when it starts
            self.store.count(self.client, kind)
        if kind.startswith("list"):
            self.store.count(self.client, "list-ms", round(elapsed, 1))
        if not self.quiet:
            scheme = "https" if self.tls else "http"
            print(f"k8s-sa-server: {self.client} {scheme} {kind} {code} {elapsed:.1f}ms {self.path}",
                  file=sys.stderr, flush=True)

    @property
    def tls(self):
        return isinstance(self.connection, ssl.SSLSocket)

    def route(self, path, query):
        """Answers; returns (kind, status) for the log and the counters."""
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return "unauthorized", self.send(401, status(401, "Unauthorized", "Unauthorized"))
        if path in DISCOVERY:
            return "discovery", self.send(200, DISCOVERY[path])
        if path == "/bench/stats":
            with self.store.lock:
                return "stats", self.send(200, compact(self.store.stats))
        if path == "/api/v1/serviceaccounts":
            if query.get("watch") in ("1", "true"):
                self.store.count(self.client, "watch")
                return "watch", self.watch(query)
            return self.list(query)
        parts = path.split("/")
        if len(parts) == 5 and parts[:4] == ["", "api", "v1", "namespaces"]:
            name = urllib.parse.unquote(parts[4])
            if name not in self.store.namespaces:
                body = status(404, "NotFound", f'namespaces "{name}" not found', {"name": name, "kind": "namespaces"})
                return "namespace", self.send(404, body)
            return "namespace", self.send(200, compact({
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "creationTimestamp": CREATED},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}))
        if len(parts) == 7 and parts[:4] == ["", "api", "v1", "namespaces"] and parts[5] == "serviceaccounts":
            namespace, name = urllib.parse.unquote(parts[4]), urllib.parse.unquote(parts[6])
            n = self.store.index.get(f"{namespace}/{name}")
            if n is None:
                body = status(404, "NotFound", f'serviceaccounts "{name}" not found',
                              {"name": name, "kind": "serviceaccounts"})
                return "get", self.send(404, body)
            return "get", self.send(200, self.store.bodies[n])
        return "other", self.send(404, status(404, "NotFound", "the server could not find the requested resource"))

    def list(self, query):
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return "list", self.send(400, status(400, "BadRequest", f"invalid limit {query.get('limit')!r}"))
        start = 0
        if query.get("continue"):
            key = decode_continue(query["continue"])
            if key is None:
                return "list", self.send(400, status(400, "BadRequest", "continue key is not valid"))
            start = bisect.bisect_left(self.store.keys, key)
        return ("list" if start == 0 else "list-continue"), self.send(200, self.store.page(limit, start))

    def watch(self, query):
        try:
            timeout = float(query.get("timeoutSeconds") or 300)
        except ValueError:
            return self.send(400, status(400, "BadRequest", "invalid timeoutSeconds"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        bookmark = compact({"type": "BOOKMARK", "object": {"kind": "ServiceAccount", "apiVersion": "v1",
                                                           "metadata": {"resourceVersion": LIST_RESOURCE_VERSION}}})
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + BOOKMARK_EVERY
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                if now >= next_bookmark:
                    self.chunk(bookmark + b"\n")
                    next_bookmark += BOOKMARK_EVERY
                    continue
                wait = min(deadline, next_bookmark) - now
                readable, _, _ = select.select([self.connection], [], [], wait)
                if readable:
                    # (TLS sockets take no flags; a client sends nothing while its watch runs.)
                    if not (self.connection.recv(1) if self.tls else self.connection.recv(1, socket.MSG_PEEK)):
                        self.close_connection = True  # the client went away
                        return 200
                    time.sleep(wait)  # bytes from the client mid-watch: ignore them until the next event
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, ssl.SSLError):
            self.close_connection = True
        return 200

    def chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return code


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    tls_context = None

    def finish_request(self, request, client_address):
        """Plain HTTP, or TLS when the connection starts with a handshake record (0x16)."""
        if self.tls_context is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(10)
            if request.recv(1, socket.MSG_PEEK) != b"\x16":
                request.settimeout(None)
                return super().finish_request(request, client_address)
            connection = self.tls_context.wrap_socket(request, server_side=True)
            connection.settimeout(None)
        except (OSError, ssl.SSLError):
            return None
        try:
            return super().finish_request(connection, client_address)
        finally:
            connection.close()


def main():
    parser = argparse.ArgumentParser(description="Kubernetes API stand-in: N ServiceAccounts over plain HTTP.")
    parser.add_argument("port", type=int, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("count", type=int, help="number of ServiceAccounts")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--tls-cert", help="PEM certificate: also serve HTTPS on the same port")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--quiet", action="store_true", help="no per-request log on stderr")
    args = parser.parse_args()
    if args.count < 0:
        parser.error("count must not be negative")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    built = time.monotonic()
    Handler.store = Store(args.count)
    Handler.quiet = args.quiet
    built = time.monotonic() - built
    server = Server(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        server.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls_context.load_cert_chain(args.tls_cert, args.tls_key)
        server.tls_context.set_alpn_protocols(["http/1.1"])
    port = server.server_address[1]
    average = sum(map(len, Handler.store.bodies)) / max(1, args.count)
    print(f"k8s-sa-server: listening on 127.0.0.1:{port}; {args.count} ServiceAccounts "
          f"({Handler.store.annotated} annotated) in {min(args.count, NAMESPACES)} namespaces, "
          f"{average:.0f} bytes each on average (built in {built:.2f} s); "
          f"{'HTTP and HTTPS' if args.tls_cert else 'HTTP'}", flush=True)
    if args.port_file:
        partial = f"{args.port_file}.partial"
        with open(partial, "w") as f:
            f.write(f"{port}\n")
        os.replace(partial, args.port_file)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
