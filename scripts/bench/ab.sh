#!/usr/bin/env bash
# Two webhook binaries side by side under the same load, pair by pair (A B, B A, A B …), so
# that drift on the machine cancels in each ratio: review throughput (wrk, HTTP/1.1 keep-alive,
# 16 connections, the associated review of run.sh) and p99 at a fixed 1,000 reviews/s
# (fixed-rate.py, open loop). For "did this change cost speed?"; run.sh measures one binary
# in depth. Loopback only, not part of scripts/test.sh.
#
# Usage: scripts/bench/ab.sh --a BINARY --b BINARY [--pairs N] [--duration SECONDS] [--port P]
#   --pairs N        load pairs of each kind (default 3)
#   --duration S     seconds per load run (default 10)
#   --port P         A uses P and P+1, B uses P+2 and P+3 (default 19443)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
bench=scripts/bench

a="" b="" pairs=3 duration=10 port=19443
die() { printf 'ab.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
while (($#)); do
  case $1 in
    --a) a=${2:-}; shift 2 ;;
    --b) b=${2:-}; shift 2 ;;
    --pairs) pairs=${2:-}; shift 2 ;;
    --duration) duration=${2:-}; shift 2 ;;
    --port) port=${2:-}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown option: $1" ;;
  esac
done
[[ -x $a && -x $b ]] || die "--a and --b must be executables"
[[ $pairs =~ ^[0-9]+$ && $pairs -ge 1 && $duration =~ ^[0-9]+$ && $duration -ge 1 ]] || die "--pairs, --duration: whole numbers"
command -v wrk >/dev/null 2>&1 || die "wrk is needed (apt-get install wrk)"

work=$(mktemp -d "${TMPDIR:-/tmp}/piw-ab.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
python3 "$bench/benchlib.py" associations 5000 "$work/associations.yaml" >/dev/null
python3 "$bench/realistic-review.py" app >"$work/review.json"

start() { # NAME BINARY PORT
  "$2" serve --host 127.0.0.1 --port "$3" --metrics-port "$(($3 + 1))" --tls-cert "$work/tls.crt" \
    --tls-key "$work/tls.key" --associations-file "$work/associations.yaml" --log-level warning \
    >"$work/$1.log" 2>&1 &
  pids+=("$!")
  local i
  for ((i = 0; i < 200; i++)); do
    curl -sf "http://127.0.0.1:$(($3 + 1))/readyz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  cat "$work/$1.log" >&2
  die "$1 did not become ready"
}
start A "$a" "$port"
start B "$b" "$((port + 2))"
for side in A:$port B:$((port + 2)); do
  python3 "$bench/benchlib.py" check-response <(curl -sk -H 'Content-Type: application/json' \
    --data-binary "@$work/review.json" "https://127.0.0.1:${side#*:}/mutate") patch >/dev/null ||
    die "${side%%:*} does not answer the review with a patch"
done

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.3f", y / x }'; }
median() { python3 "$bench/benchlib.py" median "$@"; }

rps_ratios=() p99_ratios=()
echo
echo "| pair | A reviews/s | B reviews/s | B/A | A p99 ms at 1,000/s | B p99 ms | B/A |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for ((i = 1; i <= pairs; i++)); do
  declare -A rps=() p99=()
  # Odd pairs run A first, even pairs B first, so that going first or second cancels too.
  sides=("A:$port" "B:$((port + 2))")
  if ((i % 2 == 0)); then sides=("B:$((port + 2))" "A:$port"); fi
  for side in "${sides[@]}"; do
    name=${side%%:*} url="https://127.0.0.1:${side#*:}/mutate"
    line=$(REVIEW_FILE=$work/review.json wrk -t2 -c16 -d"${duration}s" --latency -s "$bench/post.lua" "$url" | grep '^bench:')
    [[ $(field "$line" errors) == 0 ]] || die "$name: wrk saw errors: $line"
    rps[$name]=$(field "$line" rps)
    line=$(python3 "$bench/fixed-rate.py" "$url" --body "$work/review.json" --rate 1000 --duration "$duration" \
      --connections 8 | grep '^fixed-rate:')
    p99[$name]=$(field "$line" p99_ms)
  done
  rps_ratios+=("$(ratio "${rps[A]}" "${rps[B]}")")
  p99_ratios+=("$(ratio "${p99[A]}" "${p99[B]}")")
  echo "| $i | ${rps[A]} | ${rps[B]} | ${rps_ratios[-1]} | ${p99[A]} | ${p99[B]} | ${p99_ratios[-1]} |"
done
echo
echo "median B/A: throughput $(median "${rps_ratios[@]}"), p99 $(median "${p99_ratios[@]}")"
