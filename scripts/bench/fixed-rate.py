#!/usr/bin/env python3
"""Open-loop, constant-rate HTTPS load (HTTP/1.1 keep-alive), stdlib only.

Request i is due at t0 + i / RATE, whatever happened to the requests before it. K keep-alive
TLS connections, one thread each, take the next due request when they are free, wait for its
time and send it. Latency is measured from the time the request was DUE, not from when it was
sent, so a slow answer that holds back the requests behind it is charged to them too (no
coordinated omission). The "send lag" (sent - due) is the client's own delay plus any wait
for a free connection (all K busy with slow answers); against a fast server (nginx) it is the
client alone: if its p99 is large there, the figures measure this client, not the server.

Usage: fixed-rate.py URL --body FILE [--rate 1000] [--duration 10] [--connections 8]
Prints a human summary and one parseable line starting with "fixed-rate:".
"""
import argparse
import math
import socket
import ssl
import sys
import threading
import time
import urllib.parse


class Connection:
    def __init__(self, host, port, context, timeout):
        self.host, self.port, self.context, self.timeout = host, port, context, timeout
        self.sock = None
        self.buffer = bytearray()
        self.connects = 0

    def connect(self):
        self.close()
        raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.context.wrap_socket(raw, server_hostname=self.host)
        self.buffer = bytearray()
        self.connects += 1

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buffer += chunk

    def exchange(self, request):
        """Send one request, read one response; return (status, keep_alive)."""
        if self.sock is None:
            self.connect()
        self.sock.sendall(request)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        status = int(head[0].split(" ", 2)[1])
        length, keep_alive = 0, True
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                keep_alive = False
            elif name == "transfer-encoding":
                raise ConnectionError("chunked responses are not supported by this client")
        while len(self.buffer) < length:
            self._fill()
        del self.buffer[:length]
        return status, keep_alive


def percentile(ordered, p):
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--body", required=True, help="file with the request body (the review)")
    parser.add_argument("--rate", type=float, default=1000, help="requests per second (default 1000)")
    parser.add_argument("--duration", type=float, default=10, help="seconds (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first (default 200)")
    parser.add_argument("--timeout", type=float, default=5, help="socket timeout, seconds (default 5)")
    parser.add_argument("--label", default="", help="name printed in the summary")
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "https":
        parser.error("only https:// URLs")
    host, port = url.hostname, url.port or 443
    with open(args.body, "rb") as f:
        body = f.read()
    request = (f"POST {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])

    connections = [Connection(host, port, context, args.timeout) for _ in range(args.connections)]
    for connection in connections:  # handshakes and warm-up happen before the clock starts
        connection.connect()
    for i in range(args.warmup):
        connections[i % len(connections)].exchange(request)

    total = int(args.rate * args.duration)
    interval = 1 / args.rate
    lock = threading.Lock()
    next_index = [0]
    results = [[] for _ in connections]  # per connection: (due, sent, done, status) or errors
    errors = [0] * len(connections)
    t0 = time.perf_counter() + 0.05

    def worker(slot):
        connection, mine = connections[slot], results[slot]
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= total:
                return
            due = t0 + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            try:
                status, keep_alive = connection.exchange(request)
                mine.append((due, sent, time.perf_counter(), status))
                if not keep_alive:
                    connection.close()
            except (OSError, ValueError, IndexError) as error:
                errors[slot] += 1
                mine.append((due, sent, time.perf_counter(), 0))
                if errors[slot] <= 3:
                    print(f"fixed-rate: connection {slot}: {error}", file=sys.stderr)
                connection.close()

    threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(len(connections))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for connection in connections:
        connection.close()

    records = [record for mine in results for record in mine]
    finished = max(record[2] for record in records)
    ok = [record for record in records if 200 <= record[3] < 300]
    non2xx = sum(1 for record in records if record[3] != 0 and not 200 <= record[3] < 300)
    socket_errors = sum(errors)
    latency = sorted((done - due) * 1000 for due, _, done, status in ok) or [float("nan")]
    service = sorted((done - sent) * 1000 for _, sent, done, status in ok) or [float("nan")]
    lag = sorted((sent - due) * 1000 for due, sent, _, _ in records)
    reconnects = sum(connection.connects for connection in connections) - len(connections)
    figures = {
        "target_rps": f"{args.rate:.0f}",
        "achieved_rps": f"{len(ok) / (finished - t0):.1f}",
        "requests": len(records),
        "ok": len(ok),
        "errors": socket_errors + non2xx,
        "p50_ms": f"{percentile(latency, 50):.3f}",
        "p90_ms": f"{percentile(latency, 90):.3f}",
        "p99_ms": f"{percentile(latency, 99):.3f}",
        "p999_ms": f"{percentile(latency, 99.9):.3f}",
        "max_ms": f"{latency[-1]:.3f}",
        "service_p99_ms": f"{percentile(service, 99):.3f}",
        "send_lag_p99_ms": f"{percentile(lag, 99):.3f}",
        "send_lag_max_ms": f"{lag[-1]:.3f}",
        "connections": len(connections),
        "reconnects": reconnects,
        "seconds": f"{finished - t0:.2f}",
    }
    label = f" {args.label}" if args.label else ""
    print(f"fixed rate{label}: {figures['requests']} requests due at {args.rate:.0f}/s over "
          f"{figures['seconds']} s on {len(connections)} connections; achieved {figures['achieved_rps']}/s; "
          f"latency from due time p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
          f"p99.9 {figures['p999_ms']} ms, max {figures['max_ms']} ms; errors {figures['errors']}; "
          f"client send lag p99 {figures['send_lag_p99_ms']} ms")
    print("fixed-rate: " + " ".join(f"{key}={value}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
