#!/usr/bin/env python3
"""Hostile-client probes against the webhook's release binary, on loopback only.

Usage (scripts/bench/hostile.sh prepares the binary and the h2 package, then calls this):
  hostile.py --binary PATH [--probe NAME ...] [--results FILE] [--base-port P]
  hostile.py --list

For each probe: a fresh `BINARY serve --dev --host 127.0.0.1 --port P --metrics-port P+1
--idle-timeout 5s --log-level warning` (P = base port + 2 × the probe's index); a canary
process checks the server every 100 ms while a load process plays the hostile clients. The
load ends when the clients stop sending (they keep their sockets open); 5 s later the RSS is
read again, and after the idle timeout plus the server's read/handshake/stream timeouts plus
2 s the server's TCP sockets to its two ports are counted (from /proc/PID/fd and
/proc/PID/net/tcp*). The canary connects from 127.0.0.2, so its own sockets are told apart by
their address. One Markdown row per probe is printed and appended to the results file.

Internal modes (started by the orchestrator, one process each so that the canary's latency is
not the load's Python time): `hostile.py _canary PORT METRICS_PORT` and
`hostile.py _load PROBE PORT METRICS_PORT`. They talk JSON lines over stdin/stdout.

Stdlib plus h2 (and its hpack and hyperframe).
"""
import argparse
import base64
import collections
import ctypes
import errno
import http.client
import json
import os
import queue
import re
import resource
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

HOST = "127.0.0.1"  # the server listens here; the probes connect from here
CANARY_SOURCE = "127.0.0.2"  # the canary connects from here (also loopback)
IDLE_TIMEOUT_S = 5
CANARY_PERIOD_S = 0.1
CANARY_TIMEOUT_S = 3.0  # a canary request is abandoned after this
CANARY_SLOW_S = 2.0  # and counts as failed above this
RSS_AFTER_S = 5
MAX_BODY = 4 * 1024 * 1024
NOFILE = 65536
KINDS = ("new", "keep", "h2", "healthz")


# --- Shared helpers ---------------------------------------------------------------------------

def emit(event, **fields):
    """One JSON line on stdout: how the internal modes talk to the orchestrator."""
    print(json.dumps({"event": event, **fields}), flush=True)


LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: preexec_fn only calls into it


def die_with_parent():
    """Have the kernel kill this process if the orchestrator dies (PR_SET_PDEATHSIG)."""
    try:
        LIBC.prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def raise_nofile(limit=NOFILE):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (limit, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
            return
        except (ValueError, OSError):
            continue


def error_kind(error):
    """A short, countable name for an exception."""
    if isinstance(error, ssl.SSLError):
        return f"SSLError({error.reason or error.strerror or error})"
    if isinstance(error, OSError) and error.errno in errno.errorcode:
        return f"{type(error).__name__}({errno.errorcode[error.errno]})"
    text = str(error)
    return f"{type(error).__name__}: {text[:80]}" if text else type(error).__name__


def review(pad_bytes=0, uid="hostile-canary"):
    """A small valid AdmissionReview for default/demo (the --dev association), so the answer
    carries a patch. PAD_BYTES of annotation make it larger."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "canary", "namespace": "default"},
        "spec": {"serviceAccountName": "demo",
                 "containers": [{"name": "app", "image": "public.ecr.aws/amazonlinux/amazonlinux:2023"}]},
    }
    if pad_bytes:
        pod["metadata"]["annotations"] = {"example.com/padding": "x" * pad_bytes}
    document = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "object": pod,
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


def review_of_size(size):
    """A valid review of exactly SIZE bytes (the padding annotation takes up the rest)."""
    base = len(review(pad_bytes=1))
    body = review(pad_bytes=1 + size - base)
    assert len(body) == size, (len(body), size)
    return body


def answer_problem(status, body):
    """None when this is the answer the canary expects: 200, an AdmissionReview, allowed, with
    a JSONPatch; otherwise what is wrong."""
    if status != 200:
        return f"status {status}"
    try:
        document = json.loads(body)
        response = document["response"]
    except (ValueError, KeyError, TypeError):
        return "not an AdmissionReview answer"
    if document.get("kind") != "AdmissionReview" or response.get("allowed") is not True:
        return "not kind AdmissionReview with allowed: true"
    if response.get("patchType") != "JSONPatch" or not response.get("patch"):
        return "no JSONPatch"
    try:
        if not json.loads(base64.b64decode(response["patch"])):
            return "empty patch"
    except ValueError:
        return "the patch is not base64 JSON"
    return None


def tls_context(alpn):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # --dev: a self-signed certificate made at start
    context.set_alpn_protocols([alpn])
    return context


TLS_H1 = None
TLS_H2 = None


def tls_connect(port, timeout, alpn="http/1.1", source=None):
    global TLS_H1, TLS_H2
    if TLS_H1 is None:
        TLS_H1, TLS_H2 = tls_context("http/1.1"), tls_context("h2")
    raw = socket.create_connection((HOST, port), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle wait behind the server's delayed ACKs
    try:
        return (TLS_H2 if alpn == "h2" else TLS_H1).wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def tcp_connect(port, timeout):
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def client_hello():
    """The bytes of a real TLS ClientHello, as Python's ssl would send it to localhost."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = tls_context("http/1.1").wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        connection.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    if len(hello) < 100 or hello[0] != 0x16:
        raise RuntimeError(f"no ClientHello captured ({len(hello)} bytes)")
    return hello


class H2:
    """One HTTP/2 connection over TLS (ALPN h2), driven by the h2 library on a blocking socket."""

    def __init__(self, port, timeout=CANARY_TIMEOUT_S, source=None, initial_window=None):
        self.timeout = timeout  # for connecting and for every write
        self.sock = tls_connect(port, timeout, alpn="h2", source=source)
        if self.sock.selected_alpn_protocol() != "h2":
            self.sock.close()
            raise ConnectionError("the server did not choose h2")
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        if initial_window is not None:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window,
            })
        self.conn.initiate_connection()
        self.flush()
        self.server_settings = None  # {setting code: value} of the server's first SETTINGS

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)

    def read(self, timeout):
        """Reads what arrives within TIMEOUT; returns h2's events ([] if nothing came)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return []
        if not data:
            raise ConnectionError("closed by the server")
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.RemoteSettingsChanged) and self.server_settings is None:
                self.server_settings = {int(code): change.new_value
                                        for code, change in event.changed_settings.items()}
        self.flush()  # SETTINGS and PING acknowledgements
        return events

    def wait_for_settings(self, timeout):
        deadline = time.monotonic() + timeout
        while self.server_settings is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no SETTINGS from the server")
            self.read(left)

    def send_body(self, stream_id, body, deadline):
        """Sends BODY on the stream within the flow-control windows, then ends the stream."""
        view = memoryview(body)
        while True:
            window = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            chunk = view[:window]
            view = view[len(chunk):]
            self.conn.send_data(stream_id, chunk.tobytes(), end_stream=not view)
            self.flush()
            if not view:
                return
            while self.conn.local_flow_control_window(stream_id) == 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no flow-control window")
                self.read(left)

    def request(self, method, path, body=None, timeout=CANARY_TIMEOUT_S):
        """One request on a new stream; returns (status, body)."""
        deadline = time.monotonic() + timeout
        stream_id = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "https"), (":authority", "localhost"), (":path", path)]
        if body is not None:
            headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        self.conn.send_headers(stream_id, headers, end_stream=body is None)
        self.flush()
        if body is not None:
            self.send_body(stream_id, body, deadline)
        status, chunks = None, []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete answer")
            for event in self.read(left):
                if getattr(event, "stream_id", None) != stream_id:
                    if isinstance(event, h2.events.ConnectionTerminated):
                        raise ConnectionError(f"GOAWAY {code_name(event.error_code)}")
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    chunks.append(event.data)
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    self.flush()
                elif isinstance(event, h2.events.StreamReset):
                    raise ConnectionError(f"RST_STREAM {code_name(event.error_code)}")
                elif isinstance(event, h2.events.StreamEnded):
                    return status, b"".join(chunks)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- The canary -------------------------------------------------------------------------------

def canary_main(port, metrics_port):
    """Every 100 ms, in one thread per kind: (new) a review on a new TLS connection, (keep) on
    one kept-alive HTTP/1.1 connection, (h2) on one HTTP/2 connection, (healthz) GET /healthz on
    the metrics port. Reads 'mark' (the load ended) and 'stop' on stdin; prints its figures."""
    die_with_parent()
    body = review()
    stop = threading.Event()
    after_load = threading.Event()
    lock = threading.Lock()
    stats = {kind: {"attempts": 0, "failures": 0, "failures_after_load": 0, "worst_ms": 0.0,
                    "reconnects": 0, "errors": collections.Counter()} for kind in KINDS}

    def post_h1(connection):
        connection.request("POST", "/mutate", body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer_problem(answer.status, answer.read())

    def new_connection():
        connection = http.client.HTTPSConnection(HOST, port, timeout=CANARY_TIMEOUT_S, context=context,
                                                 source_address=(CANARY_SOURCE, 0))
        try:
            return post_h1(connection)
        finally:
            connection.close()

    kept = {"h1": None, "h2": None}
    context = tls_context("http/1.1")

    def keep_alive():
        def fresh():
            return http.client.HTTPSConnection(HOST, port, timeout=CANARY_TIMEOUT_S, context=context,
                                               source_address=(CANARY_SOURCE, 0))
        if kept["h1"] is None:
            kept["h1"] = fresh()
        try:
            return post_h1(kept["h1"])
        except (OSError, http.client.HTTPException):
            # Closed under us: a reconnect whose request succeeds is not a failure.
            kept["h1"].close()
            kept["h1"] = fresh()
            with lock:
                stats["keep"]["reconnects"] += 1
            return post_h1(kept["h1"])

    def over_h2():
        def attempt():
            if kept["h2"] is None:
                kept["h2"] = H2(port, source=CANARY_SOURCE)
            status, answer = kept["h2"].request("POST", "/mutate", body)
            return answer_problem(status, answer)
        try:
            return attempt()
        except (OSError, h2.exceptions.ProtocolError, TimeoutError, ConnectionError):
            if kept["h2"] is not None:
                kept["h2"].close()
            kept["h2"] = None
            with lock:
                stats["h2"]["reconnects"] += 1
            return attempt()

    def healthz():
        connection = http.client.HTTPConnection(HOST, metrics_port, timeout=CANARY_TIMEOUT_S,
                                                source_address=(CANARY_SOURCE, 0))
        try:
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            answer.read()
            return None if answer.status == 200 else f"status {answer.status}"
        finally:
            connection.close()

    def loop(kind, attempt):
        due = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            try:
                problem = attempt()
            except Exception as error:  # any error is a failure, counted by kind
                problem = error_kind(error)
            elapsed_ms = (time.monotonic() - started) * 1000
            if problem is None and elapsed_ms > CANARY_SLOW_S * 1000:
                problem = f"slower than {CANARY_SLOW_S:g} s"
            with lock:
                figures = stats[kind]
                figures["attempts"] += 1
                figures["worst_ms"] = max(figures["worst_ms"], elapsed_ms)
                if problem is not None:
                    figures["failures"] += 1
                    figures["errors"][problem] += 1
                    if after_load.is_set():
                        figures["failures_after_load"] += 1
            due += CANARY_PERIOD_S
            now = time.monotonic()
            if due < now:
                due = now
            stop.wait(due - now)

    attempts = {"new": new_connection, "keep": keep_alive, "h2": over_h2, "healthz": healthz}
    threads = [threading.Thread(target=loop, args=(kind, attempts[kind]), daemon=True) for kind in KINDS]
    for thread in threads:
        thread.start()
    for line in sys.stdin:
        if line.strip() == "mark":
            after_load.set()
        elif line.strip() == "stop":
            break
    stop.set()
    for thread in threads:
        thread.join(2 * CANARY_TIMEOUT_S + 1)
    with lock:
        for figures in stats.values():
            figures["errors"] = dict(figures["errors"].most_common(4))
        emit("canary", stats=stats)
    os._exit(0)


# --- The probes (run in the load process) -----------------------------------------------------

HELD = []  # every hostile socket; never closed until the load process exits
HELD_LOCK = threading.Lock()


def hold(sock):
    with HELD_LOCK:
        HELD.append(sock)


def holding(what):
    """Tells the orchestrator that the clients are in place (the server's CPU from here on is
    'CPU during the hold')."""
    emit("holding", what=what)


def open_many(count, opener, workers, seconds):
    """Opens up to COUNT connections with OPENER on WORKERS threads within SECONDS; every socket
    goes to HELD. Returns (opened, Counter of errors)."""
    deadline = time.monotonic() + seconds
    errors = collections.Counter()
    lock = threading.Lock()
    state = {"next": 0, "opened": 0}

    def worker():
        while True:
            with lock:
                if state["next"] >= count or time.monotonic() > deadline:
                    return
                state["next"] += 1
            try:
                sock = opener()
            except Exception as error:
                with lock:
                    errors[error_kind(error)] += 1
                continue
            hold(sock)
            with lock:
                state["opened"] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(workers, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic() + 12))
    with lock:
        return state["opened"], errors


def trickle(socks, data, seconds):
    """Sends DATA one byte per second on every socket for SECONDS; returns a phrase saying how
    many sockets failed (the server closed them) meanwhile, and when."""
    alive = list(socks)
    failed_at = []
    start = time.monotonic()
    for i in range(min(seconds, len(data))):
        for sock in list(alive):
            try:
                sock.send(data[i:i + 1])
            except OSError:
                alive.remove(sock)
                failed_at.append(time.monotonic() - start)
        time.sleep(max(0.0, start + i + 1 - time.monotonic()))
    if not failed_at:
        return "none closed by the server while sending"
    return (f"{len(failed_at)} closed by the server while sending "
            f"(seen {min(failed_at):.0f}–{max(failed_at):.0f} s after the first byte)")


def code_name(code):
    return getattr(code, "name", str(code))


def describe_errors(errors):
    return ", ".join(f"{kind} ×{n}" for kind, n in errors.most_common(3))


def probe_h1_stall(port, metrics_port):
    """200 HTTP/1.1 TLS connections, each sends Content-Length: 4000000 and 3,999,000 bytes of
    body, then stalls 15 s."""
    connections, declared, sent_bytes, stall_s = 200, 4_000_000, 3_999_000, 15
    head = (b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % declared)
    prefix = review(uid="h1-stall")[:-3]  # a review cut before its end: never completed
    body = (prefix + b"x" * sent_bytes)[:sent_bytes]
    deadline = time.monotonic() + 30
    lock = threading.Lock()
    figures = {"complete": 0, "bytes": 0, "errors": collections.Counter()}

    def client():
        sock = tls_connect(port, 10)
        sock.settimeout(5)  # a server that stops reading ends the sending, not the connection
        view, done = memoryview(body), 0
        try:
            sock.sendall(head)
            while done < len(body) and time.monotonic() < deadline:
                done += sock.send(view[done:done + 65536])
        except OSError as error:
            with lock:
                figures["errors"][f"while sending: {error_kind(error)}"] += 1
        with lock:
            figures["bytes"] += done
            figures["complete"] += done == len(body)
        return sock

    opened, errors = open_many(connections, client, connections, 30)
    figures["errors"].update(errors)
    holding(f"{opened} connections")
    time.sleep(stall_s)
    note = (f"{figures['complete']}/{connections} sent 3,999,000 of 4,000,000 B "
            f"({figures['bytes'] / 1e6:.0f} MB in all)")
    if figures["errors"]:
        note += f"; errors: {describe_errors(figures['errors'])}"
    return {"note": note, "opened": opened, "complete": figures["complete"], "bytes": figures["bytes"]}


def probe_h2_streams(port, metrics_port):
    """2 HTTP/2 connections, as many streams each as the server allows (up to 100), each stream
    POSTs content-length 4 MiB and sends all but 1,000 bytes (within flow control), then all
    stall 15 s."""
    connections, wanted, stall_s = 2, 100, 15
    per_stream = MAX_BODY - 1000
    chunk = b"x" * 16384
    deadline = time.monotonic() + 30
    results = [None] * connections

    def client(index):
        result = {"advertised_max_streams": None, "initial_window": None, "opened": 0, "complete": 0,
                  "reset": 0, "reset_codes": collections.Counter(), "bytes": 0, "error": None}
        results[index] = result
        try:
            connection = H2(port, timeout=10)
            hold(connection.sock)
            connection.wait_for_settings(5)
            settings = connection.server_settings
            result["advertised_max_streams"] = settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
            result["initial_window"] = settings.get(h2.settings.SettingCodes.INITIAL_WINDOW_SIZE)
            remaining = {}
            headers = [(":method", "POST"), (":scheme", "https"), (":authority", "localhost"),
                       (":path", "/mutate"), ("content-type", "application/json"),
                       ("content-length", str(MAX_BODY))]
            for _ in range(wanted):
                try:
                    stream_id = connection.conn.get_next_available_stream_id()
                    connection.conn.send_headers(stream_id, headers)
                except h2.exceptions.TooManyStreamsError:
                    break
                remaining[stream_id] = per_stream
            connection.flush()
            result["opened"] = len(remaining)
            while remaining and time.monotonic() < deadline:
                progressed = False
                for stream_id in list(remaining):
                    if connection.conn.outbound_flow_control_window <= 0:
                        break  # the connection's window is spent: wait for the server
                    try:
                        while remaining[stream_id] > 0:
                            size = min(connection.conn.local_flow_control_window(stream_id), remaining[stream_id],
                                       connection.conn.max_outbound_frame_size)
                            if size <= 0:
                                break
                            connection.conn.send_data(stream_id, chunk[:size])
                            remaining[stream_id] -= size
                            result["bytes"] += size
                            progressed = True
                    except h2.exceptions.StreamClosedError:
                        del remaining[stream_id]  # reset by the server; counted when its RST_STREAM is read
                        continue
                    if remaining[stream_id] == 0:
                        del remaining[stream_id]
                        result["complete"] += 1
                connection.flush()
                # Wait for WINDOW_UPDATEs only when no window is left.
                for event in connection.read(0 if progressed else 1.0):
                    if isinstance(event, h2.events.StreamReset):
                        remaining.pop(event.stream_id, None)
                        result["reset"] += 1
                        result["reset_codes"][code_name(event.error_code)] += 1
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        raise ConnectionError(f"GOAWAY {code_name(event.error_code)}")
        except Exception as error:
            result["error"] = error_kind(error)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic() + 15))
    holding(f"{connections} connections")
    time.sleep(stall_s)
    done = [r for r in results if r]
    advertised = {r["advertised_max_streams"] for r in done}
    note = (f"server's MAX_CONCURRENT_STREAMS: {', '.join(str(a) for a in advertised) or '?'}"
            f" (None: not sent); streams open per connection: {'/'.join(str(r['opened']) for r in done)}, "
            f"sent all but 1,000 B: {'/'.join(str(r['complete']) for r in done)}, "
            f"reset by the server while sending: {'/'.join(str(r['reset']) for r in done)}")
    codes = sum((r["reset_codes"] for r in done), collections.Counter())
    if codes:
        note += f" ({', '.join(f'{code} ×{n}' for code, n in codes.most_common())})"
    note += f"; {sum(r['bytes'] for r in done) / 1e6:.0f} MB sent"
    errors = [r["error"] for r in done if r["error"]]
    if errors:
        note += f"; errors: {', '.join(errors)}"
    return {"note": note, "connections": results}


def probe_honest_large(port, metrics_port):
    """64 keep-alive HTTP/1.1 TLS clients send complete valid 3.9 MiB reviews in a loop for
    30 s, honouring Retry-After."""
    clients, seconds = 64, 30
    body = review_of_size(int(3.9 * 1024 * 1024))
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    counts = collections.Counter()
    errors = collections.Counter()
    worst = [0.0]

    def client():
        connection = http.client.HTTPSConnection(HOST, port, timeout=20, context=tls_context("http/1.1"))
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                connection.request("POST", "/mutate", body=body, headers={"Content-Type": "application/json"})
                answer = connection.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors[error_kind(error)] += 1
                connection.close()
                time.sleep(0.1)
                continue
            elapsed = time.monotonic() - started
            retry_after = answer.getheader("Retry-After")
            with lock:
                worst[0] = max(worst[0], elapsed)
                if answer.status == 200:
                    counts["200"] += 1
                    if answer_problem(answer.status, data):
                        counts["200 but wrong"] += 1
                elif answer.status == 503:
                    counts["503"] += 1
                else:
                    counts[f"other ({answer.status})"] += 1
            if retry_after:
                try:
                    pause = float(retry_after)
                except ValueError:
                    pause = 1.0
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        if connection.sock is not None:
            hold(connection.sock)  # left open, idle: the server's idle timeout has to close it

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    holding(f"{clients} clients")
    for thread in threads:
        thread.join(seconds + 25)
    ok = counts["200"] - counts["200 but wrong"]
    note = (f"{ok} reviews answered 200 ({ok * len(body) / seconds / 1e6:.0f} MB/s in), "
            f"503: {counts['503']}, other: {sum(n for k, n in counts.items() if k.startswith('other'))}, "
            f"client errors: {sum(errors.values())}; slowest answer {worst[0]:.1f} s")
    if counts["200 but wrong"]:
        note += f"; {counts['200 but wrong']} 200s without the expected patch"
    if errors:
        note += f" ({describe_errors(errors)})"
    return {"note": note, "counts": dict(counts), "errors": dict(errors), "review_bytes": len(body)}


def probe_idle_tls(port, metrics_port):
    """5,000 TLS connections that complete the handshake and then send nothing."""
    count, hold_s = 5000, 10
    started = time.monotonic()
    opened, errors = open_many(count, lambda: tls_connect(port, 5), 16, 40)
    took = time.monotonic() - started
    holding(f"{opened} connections")
    time.sleep(hold_s)
    note = f"{opened}/{count} handshakes done in {took:.1f} s"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


def probe_raw_tcp(port, metrics_port):
    """10,000 raw TCP connections that send nothing."""
    count, hold_s = 10000, 10
    started = time.monotonic()
    opened, errors = open_many(count, lambda: tcp_connect(port, 5), 32, 30)
    took = time.monotonic() - started
    holding(f"{opened} connections")
    time.sleep(hold_s)
    note = f"{opened}/{count} connected in {took:.1f} s"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


def probe_half_hello(port, metrics_port):
    """500 connections that send the first half of a real TLS ClientHello, then stall."""
    count, hold_s = 500, 15
    hello = client_hello()
    half = hello[:len(hello) // 2]

    def opener():
        sock = tcp_connect(port, 5)
        sock.sendall(half)
        return sock

    opened, errors = open_many(count, opener, 16, 20)
    holding(f"{opened} connections")
    time.sleep(hold_s)
    note = f"{opened}/{count} sent {len(half)} of the {len(hello)} B ClientHello"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


def probe_slow_hello(port, metrics_port):
    """50 connections sending a ClientHello 1 byte per second (for 25 s)."""
    count, seconds = 50, 25
    hello = client_hello()
    opened, errors = open_many(count, lambda: tcp_connect(port, 5), 16, 10)
    with HELD_LOCK:
        socks = list(HELD)
    holding(f"{opened} connections")
    closes = trickle(socks, hello, seconds)
    note = f"{opened}/{count} sent {seconds} of {len(hello)} B at 1 B/s; {closes}"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


def probe_metrics_idle(port, metrics_port):
    """500 connections to the metrics port: half idle, half sending request headers 1 B/s."""
    count, seconds = 500, 20
    opened, errors = open_many(count, lambda: tcp_connect(metrics_port, 5), 16, 15)
    with HELD_LOCK:
        socks = list(HELD)
    slow = socks[: len(socks) // 2]
    headers = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hostile-slowloris\r\nAccept: */*\r\n"
    holding(f"{opened} connections")
    closes = trickle(slow, headers, seconds)
    note = (f"{opened}/{count} connected: {len(socks) - len(slow)} idle, {len(slow)} sending headers at 1 B/s for "
            f"{seconds} s ({closes})")
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


def probe_slowloris_headers(port, metrics_port):
    """500 webhook-port TLS connections sending request headers 1 byte per second."""
    count, seconds = 500, 20
    opened, errors = open_many(count, lambda: tls_connect(port, 5), 16, 20)
    with HELD_LOCK:
        socks = list(HELD)
    headers = (b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"User-Agent: hostile-slowloris\r\n")
    holding(f"{opened} connections")
    closes = trickle(socks, headers, seconds)
    note = f"{opened}/{count} sent headers at 1 B/s for {seconds} s; {closes}"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


def probe_goaway_no_ping(port, metrics_port):
    """20 HTTP/2 connections: the preface and SETTINGS (half also one GET /healthz), then never
    read anything: no SETTINGS ACK, no PING ACK."""
    count, hold_s = 20, 15

    def opener(with_request):
        sock = tls_connect(port, 5, alpn="h2")
        if sock.selected_alpn_protocol() != "h2":
            sock.close()
            raise ConnectionError("the server did not choose h2")
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        if with_request:
            connection.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                                        (":path", "/healthz")], end_stream=True)
        sock.sendall(connection.data_to_send())
        return sock

    flags = iter([i % 2 == 0 for i in range(count)])
    lock = threading.Lock()

    def next_opener():
        with lock:
            with_request = next(flags)
        return opener(with_request)

    opened, errors = open_many(count, next_opener, 4, 15)
    holding(f"{opened} connections")
    time.sleep(hold_s)
    note = f"{opened}/{count} sent preface + SETTINGS ({count // 2} also a GET), then never read"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


def probe_zero_window(port, metrics_port):
    """20 HTTP/2 connections with SETTINGS_INITIAL_WINDOW_SIZE=0 each send one complete small
    review, then never send WINDOW_UPDATE (they keep reading for 15 s)."""
    count, watch_s = 20, 15
    body = review(uid="zero-window")
    clients, errors = [], collections.Counter()
    for _ in range(count):
        try:
            client = H2(port, timeout=5, initial_window=0)
            hold(client.sock)
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(stream_id, [(":method", "POST"), (":scheme", "https"),
                                                 (":authority", "localhost"), (":path", "/mutate"),
                                                 ("content-type", "application/json"),
                                                 ("content-length", str(len(body)))])
            client.send_body(stream_id, body, time.monotonic() + 5)
            clients.append(client)
        except Exception as error:
            errors[error_kind(error)] += 1
    holding(f"{len(clients)} connections")
    started = time.monotonic()
    seen = collections.defaultdict(list)  # what the clients saw: the times, from the hold's start
    live = {client.sock.fileno(): client for client in clients}
    after_goaway = set()  # past the GOAWAY, h2 refuses frames: only watch for the close
    deadline = started + watch_s
    while live and time.monotonic() < deadline:
        ready, _, _ = select.select(list(live), [], [], max(0.0, min(1.0, deadline - time.monotonic())))
        for fd in ready:
            client = live[fd]
            at = time.monotonic() - started
            try:
                if fd in after_goaway:
                    client.sock.settimeout(0.1)
                    if not client.sock.recv(65536):
                        raise ConnectionError("closed")
                    continue
                events = client.read(0.1)
            except (OSError, ConnectionError, h2.exceptions.ProtocolError) as error:
                seen["connection closed" if isinstance(error, ConnectionError) else error_kind(error)].append(at)
                del live[fd]
                continue
            for event in events:
                if isinstance(event, h2.events.ResponseReceived):
                    seen[f"answer headers {dict(event.headers).get(':status')}"].append(at)
                elif isinstance(event, h2.events.DataReceived):
                    seen["DATA despite the zero window"].append(at)
                elif isinstance(event, h2.events.StreamReset):
                    seen[f"RST_STREAM {code_name(event.error_code)}"].append(at)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    seen[f"GOAWAY {code_name(event.error_code)}"].append(at)
                    after_goaway.add(fd)
    summary = ", ".join(f"{what} ×{len(times)} (at {min(times):.1f}–{max(times):.1f} s)"
                        for what, times in sorted(seen.items(), key=lambda item: min(item[1])))
    note = f"{len(clients)}/{count} sent a review; seen in {watch_s} s: {summary or 'nothing'}"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "seen": {what: len(times) for what, times in seen.items()}}


def probe_fd_limit(port, metrics_port):
    """The server runs with nofile 1,024:1,024; 1,100 raw TCP connections to the webhook port are
    held for 20 s."""
    count, hold_s = 1100, 20
    started = time.monotonic()
    opened, errors = open_many(count, lambda: tcp_connect(port, 3), 32, 20)
    took = time.monotonic() - started
    holding(f"{opened} connections")
    time.sleep(hold_s)
    note = f"{opened}/{count} connected in {took:.1f} s (server nofile 1024)"
    if errors:
        note += f"; errors: {describe_errors(errors)}"
    return {"note": note, "opened": opened}


# name: (function, server nofile, longest the load may take before it reports its end, seconds)
PROBES = {
    "h1-stall": (probe_h1_stall, NOFILE, 60),
    "h2-streams": (probe_h2_streams, NOFILE, 60),
    "honest-large": (probe_honest_large, NOFILE, 60),
    "idle-tls": (probe_idle_tls, NOFILE, 70),
    "raw-tcp": (probe_raw_tcp, NOFILE, 60),
    "half-hello": (probe_half_hello, NOFILE, 45),
    "slow-hello": (probe_slow_hello, NOFILE, 45),
    "metrics-idle": (probe_metrics_idle, NOFILE, 50),
    "goaway-no-ping": (probe_goaway_no_ping, NOFILE, 40),
    "zero-window": (probe_zero_window, NOFILE, 40),
    "fd-limit": (probe_fd_limit, 1024, 60),
    "slowloris-headers": (probe_slowloris_headers, NOFILE, 50),
}


def load_main(name, port, metrics_port):
    """Runs one probe; reports 'holding' and 'load-ended'; then keeps every socket open until
    told 'exit' on stdin ('count' asks what the clients see of their sockets)."""
    die_with_parent()
    raise_nofile()
    try:
        report = PROBES[name][0](port, metrics_port)
        emit("load-ended", **report)
    except Exception as error:
        emit("load-ended", note=f"the probe failed: {error_kind(error)}", failed=True)
    for line in sys.stdin:
        if line.strip() == "count":
            emit("client-view", **client_view())
        elif line.strip() == "exit":
            break
    os._exit(0)


def client_view():
    """How many of the held sockets the server has closed (or reset), as the clients see it."""
    with HELD_LOCK:
        socks = list(HELD)
    poller = select.poll()
    registered = 0
    for sock in socks:
        try:
            fd = sock.fileno()
        except OSError:
            continue
        if fd >= 0:
            poller.register(fd, select.POLLIN | select.POLLRDHUP)
            registered += 1
    closed = data = 0
    for _, revents in poller.poll(0):
        if revents & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
            closed += 1
        elif revents & select.POLLIN:
            data += 1
    return {"held": registered, "closed_by_server": closed, "unread_data": data}


# --- The orchestrator -------------------------------------------------------------------------

def parse_duration(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not match:
        return None
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def server_options(binary):
    """The `serve` options this binary lists, with their defaults: {name: default text or None}."""
    text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    blocks, current = {}, None
    for line in text.splitlines():
        match = re.match(r"  (--[a-z0-9-]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("   "):
            blocks[current] += " " + line.strip()  # the description, wrapped
        else:
            current = None
    defaults = {}
    for name, block in blocks.items():
        match = re.search(r"\(default:\s*([^)]*)\)", block)
        defaults[name] = match.group(1).strip() if match else None
    return defaults


def close_wait_seconds(options):
    """Idle timeout + the read, handshake and stream timeouts the binary has + 2 s (at most 45)."""
    total, parts = IDLE_TIMEOUT_S, [f"idle {IDLE_TIMEOUT_S}s"]
    for name, default in sorted(options.items()):
        if not name.endswith("-timeout") or name == "--idle-timeout":
            continue
        if not re.search(r"read|handshake|stream|header|request|body|write", name) or "lookup" in name:
            continue
        seconds = parse_duration(default) if default else None
        if seconds:
            total += seconds
            parts.append(f"{name[2:]} {default}")
    return min(total + 2, 45), " + ".join(parts) + " + 2 s"


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError):
        return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def server_sockets(pid, ports):
    """The server's TCP sockets on PORTS in ESTABLISHED or CLOSE_WAIT, by who is on the other end
    (the canary connects from 127.0.0.2) and state."""
    inodes = set()
    fds = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            fds += 1
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return None
    counts = collections.Counter()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                    if state not in ("01", "08") or inode not in inodes:
                        continue
                    if int(local.rsplit(":", 1)[1], 16) not in ports:
                        continue
                    who = "canary" if remote.rsplit(":", 1)[0][-8:] == "0200007F" else "probe"
                    counts[(who, "ESTABLISHED" if state == "01" else "CLOSE_WAIT")] += 1
        except OSError:
            continue
    return {"fds": fds, "counts": counts}


def port_free(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) != 0


class Sampler(threading.Thread):
    """VmRSS of the server every 100 ms: the peak, and the value at any moment asked for."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.last_kb = pid, 0, None
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            rss = proc_status(self.pid, "VmRSS")
            if rss is not None:
                self.last_kb = rss
                self.peak_kb = max(self.peak_kb, rss)
            self.stopped.wait(0.1)


def lines_of(stream):
    """A queue that receives the JSON lines of STREAM (a reader thread)."""
    lines = queue.Queue()

    def reader():
        for raw in stream:
            try:
                lines.put(json.loads(raw))
            except ValueError:
                print(f"    {raw.rstrip()}", flush=True)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    return lines


def next_event(lines, wanted, deadline):
    """The next event named WANTED before DEADLINE (others are returned as they come, too)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            item = lines.get(timeout=left)
        except queue.Empty:
            return None
        if item is None:
            return None
        if item.get("event") in wanted:
            return item


def stop_process(process, grace):
    """SIGTERM, GRACE seconds, then SIGKILL; returns how it ended."""
    if process.poll() is not None:
        return f"had exited ({process.returncode})"
    started = time.monotonic()
    process.terminate()
    try:
        process.wait(grace)
        return f"stopped by SIGTERM in {time.monotonic() - started:.1f} s"
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"still running {grace:g} s after SIGTERM: SIGKILL"


def run_probe(name, index, args, wait_s):
    function, nofile, load_max_s = PROBES[name]
    port = args.base_port + 2 * index
    metrics_port = port + 1
    row = {"probe": name, "port": port}
    for p in (port, metrics_port):
        if not port_free(p):
            row["error"] = f"port {p} in use"
            return row
    # As generous as this process may give (without CAP_SYS_RESOURCE: its own hard limit).
    nofile = min(nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    command = ["prlimit", f"--nofile={nofile}:{nofile}", "--", args.binary, "serve", "--dev",
               "--host", HOST, "--port", str(port), "--metrics-port", str(metrics_port),
               "--idle-timeout", f"{IDLE_TIMEOUT_S}s", "--log-level", "warning"]
    server_log = os.path.join(args.work, f"{name}.log")
    me = [sys.executable, os.path.abspath(__file__)]
    server = canary = load = sampler = None
    try:
        with open(server_log, "wb") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      preexec_fn=die_with_parent)
        pid = server.pid
        ready_by = time.monotonic() + 15
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited ({server.returncode}) before it was ready")
            connection = http.client.HTTPConnection(HOST, metrics_port, timeout=1)
            try:
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                connection.close()  # not to be counted among the probe's connections
            if time.monotonic() > ready_by:
                raise RuntimeError("the server was not ready within 15 s")
            time.sleep(0.05)
        row["nofile"] = proc_limit(pid)
        sampler = Sampler(pid)
        sampler.start()
        cpu_start = cpu_seconds(pid)
        canary = subprocess.Popen(me + ["_canary", str(port), str(metrics_port)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(1)  # the canary's first answers come before the load
        load = subprocess.Popen(me + ["_load", name, str(port), str(metrics_port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        events = lines_of(load.stdout)
        load_deadline = time.monotonic() + load_max_s
        held = next_event(events, {"holding", "load-ended"}, load_deadline)
        hold_start = (time.monotonic(), cpu_seconds(pid))
        ended = held if held and held["event"] == "load-ended" else next_event(events, {"load-ended"}, load_deadline)
        load_end = time.monotonic()
        cpu_load_end = cpu_seconds(pid)
        if ended is None:
            ended = {"note": f"the load did not end within {load_max_s} s", "failed": True}
            stop_process(load, 2)
        row["load"] = ended
        if cpu_load_end is not None and hold_start[1] is not None and load_end > hold_start[0] + 0.5:
            row["hold_cpu_pct"] = 100 * (cpu_load_end - hold_start[1]) / (load_end - hold_start[0])
        row["rss_load_end_kb"] = sampler.last_kb
        canary.stdin.write("mark\n")
        canary.stdin.flush()
        time.sleep(max(0.0, load_end + RSS_AFTER_S - time.monotonic()))
        row["rss_after_kb"] = proc_status(pid, "VmRSS")
        time.sleep(max(0.0, load_end + wait_s - time.monotonic()))
        row["sockets"] = server_sockets(pid, {port, metrics_port})
        if load.poll() is None:
            load.stdin.write("count\n")
            load.stdin.flush()
            row["client_view"] = next_event(events, {"client-view"}, time.monotonic() + 10)
        row["alive"] = alive(pid)
        row["exit"] = server.returncode if server.poll() is not None else None
        row["cpu_s"] = (cpu_seconds(pid) - cpu_start) if row["alive"] and cpu_start is not None else None
        row["hwm_kb"] = proc_status(pid, "VmHWM")
        sampler.stopped.set()
        row["peak_kb"] = sampler.peak_kb
        output, _ = canary.communicate("stop\n", timeout=20)
        result = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        row["canary"] = result[-1]["stats"] if result else None
    except Exception as error:
        row["error"] = error_kind(error)
    finally:
        if sampler is not None:
            sampler.stopped.set()
            row.setdefault("peak_kb", sampler.peak_kb)
        for child in (load, canary):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
        if server is not None:
            row["shutdown"] = stop_process(server, 5)
        row["log_lines"], row["log_sample"] = log_summary(server_log)
    return row


def proc_limit(pid):
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def log_summary(path):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0, ""
    # --dev prints a banner with the example curl first; count what comes after it.
    interesting = [line for line in lines if line.strip() and not line.startswith(("pod-identity-webhook is running",
                   "Post an example", "curl ", "Decode the patch"))]
    return len(interesting), (interesting[0][:200] if interesting else "")


def mib(kb):
    return f"{kb / 1024:.1f}" if kb is not None else "?"


def table_row(row):
    name = row["probe"]
    if "canary" not in row or row.get("canary") is None:
        error = row.get("error", "no canary figures")
        if row.get("log_sample"):
            error += f" ({row['log_sample']})"
        return f"| {name} | {mib(row.get('peak_kb'))} | {mib(row.get('rss_after_kb'))} | | | | | failed: {error} |"
    stats = row["canary"]
    failures = (f"{'/'.join(str(stats[kind]['failures']) for kind in KINDS)} "
                f"(of {'/'.join(str(stats[kind]['attempts']) for kind in KINDS)})")
    worst_kind = max(KINDS, key=lambda kind: stats[kind]["worst_ms"])
    worst = f"{stats[worst_kind]['worst_ms']:.0f} ({worst_kind})"
    sockets = row.get("sockets")
    if sockets is None:
        closed = "? (server gone)"
    else:
        left = sum(n for (who, _), n in sockets["counts"].items() if who == "probe")
        closed = "yes" if left == 0 else f"**no ({left:,} left)**"
    notes = [row["load"].get("note", "")]
    if "hold_cpu_pct" in row:
        notes.append(f"server CPU while held {row['hold_cpu_pct']:.0f}% of a core")
    if not row.get("alive"):
        notes.append(f"**server died** (exit {row.get('exit')})")
    if row.get("log_lines"):
        notes.append(f"{row['log_lines']:,} log lines")
    if row.get("error"):
        notes.append(f"error: {row['error']}")
    peak = f"{mib(row.get('peak_kb'))} ({mib(row.get('hwm_kb'))})"
    cpu = f"{row['cpu_s']:.1f}" if row.get("cpu_s") is not None else "?"
    return (f"| {name} | {peak} | {mib(row.get('rss_after_kb'))} | {cpu} | {failures} | {worst} | {closed} | "
            f"{'; '.join(n for n in notes if n)} |")


def details(row):
    parts = [f"- **{row['probe']}** (port {row['port']}"]
    if row.get("nofile"):
        parts[0] += f", server nofile {row['nofile']}"
    parts[0] += ")"
    stats = row.get("canary")
    if stats:
        for kind in KINDS:
            figures = stats[kind]
            line = (f"  canary {kind}: {figures['failures']}/{figures['attempts']} failed "
                    f"({figures['failures_after_load']} after the load ended), worst {figures['worst_ms']:.0f} ms")
            if figures["reconnects"]:
                line += f", {figures['reconnects']} reconnects"
            if figures["errors"]:
                line += "; " + ", ".join(f"{what} ×{n}" for what, n in figures["errors"].items())
            parts.append(line)
    sockets = row.get("sockets")
    if sockets:
        by = ", ".join(f"{who} {state} {n}" for (who, state), n in sorted(sockets["counts"].items())) or "none"
        parts.append(f"  server sockets on its ports at the count: {by}; server fds {sockets['fds']}")
    if row.get("client_view"):
        view = row["client_view"]
        parts.append(f"  clients' view at the count: {view['closed_by_server']} of {view['held']} held sockets "
                     f"closed by the server, {view['unread_data']} with unread data")
    parts.append(f"  RSS at the load's end {mib(row.get('rss_load_end_kb'))} MiB; "
                 f"server {row.get('shutdown', '?')}; the probe took {row.get('seconds', 0):.0f} s")
    if row.get("log_sample"):
        parts.append(f"  first log line: `{row['log_sample']}`")
    return "\n".join(parts)


def orchestrate(args):
    raise_nofile()
    args.binary = os.path.realpath(args.binary)
    options = server_options(args.binary)
    for needed in ("--dev", "--host", "--port", "--metrics-port", "--idle-timeout", "--log-level"):
        if needed not in options:
            sys.exit(f"hostile.py: {args.binary} serve --help does not list {needed}")
    wait_s, wait_why = close_wait_seconds(options)
    names = args.probe or list(PROBES)
    version = subprocess.run([args.binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    started = time.monotonic()
    print(f"==> binary {args.binary} ({version}); connections counted {wait_s:g} s after each load ends "
          f"({wait_why})", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="piw-hostile.") as work:
        args.work = work
        for position, name in enumerate(names):
            index = list(PROBES).index(name)
            print(f"==> [{position + 1}/{len(names)}] {name}: {PROBES[name][0].__doc__.split(chr(10))[0]}",
                  flush=True)
            probe_started = time.monotonic()
            row = run_probe(name, index, args, wait_s)
            row["seconds"] = time.monotonic() - probe_started
            rows.append(row)
            print(table_row(row), flush=True)
    total = time.monotonic() - started
    header = ("| probe | peak RSS MiB (VmHWM) | RSS 5 s after MiB | server CPU s | canary failures (new/keep/h2/healthz) "
              "| worst canary latency ms | every connection closed | notes |\n|---|---:|---:|---:|---:|---:|---|---|")
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    report = "\n".join([
        f"# Hostile-client probes, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Binary `{args.binary}` ({version}, {os.path.getsize(args.binary) / 1048576:.1f} MiB); "
        f"`serve --dev --host {HOST} --idle-timeout {IDLE_TIMEOUT_S}s --log-level warning`, one fresh server per probe. "
        f"Connections counted {wait_s:g} s after each load ended ({wait_why}). "
        f"{os.cpu_count()} cores ({cpu_model}), Linux {os.uname().release}; whole run {total:.0f} s.",
        "",
        header,
        *(table_row(row) for row in rows),
        "",
        "Canary: every 100 ms a review on a new TLS connection (new), on one kept-alive HTTP/1.1 connection (keep), "
        "on one HTTP/2 connection (h2), and GET /healthz on the metrics port (healthz); a failure is any error, "
        f"a wrong answer or more than {CANARY_SLOW_S:g} s. \"Every connection closed\": none of the probe's "
        "connections is ESTABLISHED or CLOSE_WAIT in the server process at the count.",
        "",
        "### Details",
        "",
        *(details(row) for row in rows),
        "",
    ])
    print()
    print(report)
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "a") as f:
        f.write(report + "\n")
    print(f"==> appended to {args.results}; {total:.0f} s in all", flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_canary":
        canary_main(int(sys.argv[2]), int(sys.argv[3]))
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        load_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    parser = argparse.ArgumentParser(description="Hostile-client probes against the webhook (loopback only).")
    parser.add_argument("--binary", help="the webhook binary")
    parser.add_argument("--probe", nargs="+", action="extend", choices=list(PROBES), metavar="NAME",
                        help=f"probes to run (default: all): {', '.join(PROBES)}")
    parser.add_argument("--results", default=None, help="Markdown file the table is appended to")
    parser.add_argument("--base-port", type=int, default=28443,
                        help="probe i uses port BASE+2i and BASE+2i+1 (default 28443)")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    args = parser.parse_args()
    if args.list:
        for name, (function, _, _) in PROBES.items():
            print(f"{name:18} {' '.join(function.__doc__.split())}")
        return
    if not args.binary:
        parser.error("--binary is required")
    if not 1024 <= args.base_port <= 65535 - 2 * len(PROBES):
        parser.error("--base-port out of range")
    args.results = args.results or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                 f"hostile-{time.strftime('%Y%m%d-%H%M%S')}.md")

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)
    orchestrate(args)


if __name__ == "__main__":
    main()
