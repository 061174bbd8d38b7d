#!/usr/bin/env bash
# A quick local throughput figure: the release binary over TLS on loopback, driven by wrk
# with a realistic ~6 KB review (3 containers) for an associated service account.
# Usage: scripts/bench/quick-wrk.sh [CONNECTIONS] [SECONDS]
# The full benchmark suite (nginx ceiling, h2load, RSS) is separate; this is a smoke figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
connections=${1:-16}
seconds=${2:-10}
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "==> release build"
swift build -c release --product pod-identity-webhook >/dev/null
binary=$(swift build -c release --show-bin-path)/pod-identity-webhook

echo "==> certificate (openssl, P-256, localhost)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

python3 scripts/bench/realistic-review.py app >"$work/review.json"
echo "==> review: $(wc -c <"$work/review.json") bytes"

"$binary" serve --host 127.0.0.1 --port 18443 --metrics-port 19999 --tls-cert "$work/tls.crt" \
  --tls-key "$work/tls.key" --association shop/app 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:19999/readyz >/dev/null && break
  sleep 0.1
done

echo "==> wrk -t2 -c$connections -d${seconds}s (HTTP/1.1 keep-alive over TLS)"
REVIEW_FILE="$work/review.json" wrk -t2 -c"$connections" -d"${seconds}s" --latency \
  -s scripts/bench/post.lua https://127.0.0.1:18443/mutate
echo "==> server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
