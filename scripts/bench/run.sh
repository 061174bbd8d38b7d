#!/usr/bin/env bash
# The benchmark, in one command: figures for the webhook on this machine and the same machine's
# ceiling (nginx serving a fixed answer of the same size), as a Markdown table.
#
# Usage: scripts/bench/run.sh [options]
#   --binary PATH        use this webhook binary (skips the release build)
#   --duration SECONDS   length of every load run (default 10)
#   --pairs N            ours/nginx pairs for the ceiling ratio (default 3)
#   --quick              2 s runs, 1 pair, 1 start (a smoke run; figures are rough)
#   --rate R             fixed-rate target, reviews/s (default 1000)
#   --results FILE       where the table goes (default scripts/bench/results/DATE.md)
#   --port P             webhook port; P+1 metrics, P+2 nginx (default 18443)
#   --keep               keep the work directory (raw wrk/h2load outputs, logs, configs)
#   --no-micro           skip the core micro-benchmarks (Benchmarks/, package-benchmark)
#
# Steps (each is printed as it starts):
#  1. apt-get installs wrk, h2load (nghttp2-client) and nginx if missing; `swift build -c release
#     --static-swift-stdlib` unless --binary is given.
#  2. A P-256 certificate for localhost/127.0.0.1, 5,000 associations (shop/app among them,
#     shop/other not), two ~6 KB reviews (realistic-review.py: SA app and SA other).
#  3. Start to ready: exec of `serve --associations-file` to the first 200 on /readyz (polled
#     every 5 ms); median of 3 starts; RSS right after ready.
#  4. The associated review must get a patch, the unassociated one none (HTTP/1.1 and HTTP/2).
#  5. wrk over TLS, HTTP/1.1 keep-alive, both reviews, 1, 16 and 64 connections (threads =
#     min(2, connections)); p99.9 comes from post.lua's done() hook.
#  6. h2load over TLS, HTTP/2 (ALPN h2), -c16 -m10, both reviews; the same against nginx.
#  7. The ceiling: nginx, worker_processes auto (= this machine's cores: our server uses them
#     all too), TLS 1.2/1.3 with the same certificate, keep-alive, HTTP/2, answering
#     POST /mutate with our real associated answer, byte for byte. The same wrk command,
#     -c16, associated review, pair by pair (ours, nginx, ours, nginx, ...) so drift cancels;
#     ratio per pair and the median.
#  8. Fixed rate: fixed-rate.py (open loop, latency from the due time) at 1,000 reviews/s,
#     against ours and against nginx (nginx's p99 is the floor this client can measure).
#  9. The webhook's peak RSS (VmHWM) after all of it.
# 10. EKS: a full sync of 5,000 associations from a loopback stand-in (eks-sync.sh): time,
#     process CPU, peak RSS; and the added latency of a miss lookup.
# 11. The core micro-benchmarks (Benchmarks/, ordo-one package-benchmark): decode, mutate and
#     encode a 6 KB and a 1 MiB review; snapshot lookups in 5,000 and 100,000 associations.
# 12. The table, with machine info.
# Load generators and servers share this machine's cores; the table says how many.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
bench=scripts/bench

binary="" duration="" pairs="" quick=0 rate=1000 results="" port=18443 keep=0 micro=1
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
while (($#)); do
  case $1 in
    --binary) need_value "$@"; binary=$2; shift 2 ;;
    --duration) need_value "$@"; duration=$2; shift 2 ;;
    --pairs) need_value "$@"; pairs=$2; shift 2 ;;
    --rate) need_value "$@"; rate=$2; shift 2 ;;
    --results) need_value "$@"; results=$2; shift 2 ;;
    --port) need_value "$@"; port=$2; shift 2 ;;
    --binary=* | --duration=* | --pairs=* | --rate=* | --results=* | --port=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    --quick) quick=1; shift ;;
    --keep) keep=1; shift ;;
    --no-micro) micro=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
starts=3
if ((quick)); then
  duration=${duration:-2} pairs=${pairs:-1} starts=1
fi
duration=${duration:-10} pairs=${pairs:-3}
[[ $duration =~ ^[0-9]+$ && $duration -ge 1 ]] || die "--duration: whole seconds, at least 1"
[[ $pairs =~ ^[0-9]+$ && $pairs -ge 1 ]] || die "--pairs: a whole number, at least 1"
[[ $rate =~ ^[0-9]+$ && $rate -ge 1 ]] || die "--rate: whole reviews per second"
[[ $port =~ ^[0-9]+$ && $port -ge 1024 && $port -le 65533 ]] || die "--port: 1024 to 65533"
metrics_port=$((port + 1)) nginx_port=$((port + 2))
associations_count=5000
rate_connections=8
h2_connections=16 h2_streams=10
ceiling_connections=16
stamp=$(date +%Y%m%d-%H%M%S)
results=${results:-$bench/results/$stamp.md}

as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }

# 1. Tools and binary -----------------------------------------------------------------------
missing=()
for pair in wrk:wrk h2load:nghttp2-client nginx:nginx openssl:openssl curl:curl python3:python3; do
  tool=${pair%%:*}
  command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  # Keep apt from starting the distribution's nginx service on port 80 (policy-rc.d: 101 = no).
  policy_created=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if ((policy_created)); then as_root rm -f /usr/sbin/policy-rc.d; fi
fi
nginx_bin=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)

if [[ -z $binary ]]; then
  say "swift build -c release --static-swift-stdlib --product pod-identity-webhook"
  swift build -c release --static-swift-stdlib --product pod-identity-webhook
  binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/pod-identity-webhook"
fi
[[ -x $binary ]] || die "not an executable: $binary"
binary=$(realpath "$binary")
say "binary: $binary"

for p in "$port" "$metrics_port" "$nginx_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (choose another with --port)"; fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/piw-bench.XXXXXX")
server="" poller="" nginx_pid="" policy_created=${policy_created:-0}
alive() { # a running process (not a zombie)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
stop_pid() { # PID: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
stop_server() { if [[ -n $server ]]; then stop_pid "$server"; server=""; fi; }
cleanup() {
  if [[ -n $poller ]]; then kill "$poller" 2>/dev/null || true; fi
  stop_server
  if [[ -n $nginx_pid ]]; then stop_pid "$nginx_pid"; fi
  if ((policy_created)); then as_root rm -f /usr/sbin/policy-rc.d; fi
  if ((keep)); then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A R # every figure, by name
tck=$(getconf CLK_TCK)
cpu_ticks() { # PID...: user + system CPU ticks of these processes
  local pid stat fields total=0
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    read -ra fields <<<"$stat"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}
target_pids() { # ours | nginx
  if [[ $1 == ours ]]; then
    echo "$server"
  else
    echo "$nginx_pid"
    # the workers: the master's children (one line, space-separated)
    tr ' ' '\n' <"/proc/$nginx_pid/task/$nginx_pid/children" 2>/dev/null | grep . || true
  fi
}
target_url() { if [[ $1 == ours ]]; then echo "https://127.0.0.1:$port/mutate"; else echo "https://127.0.0.1:$nginx_port/mutate"; fi; }
store() { # NAME "prefix: k=v k=v ...": R[NAME.k]=v
  local name=$1 kv parts
  read -ra parts <<<"${2#*: }"
  for kv in "${parts[@]}"; do R[$name.${kv%%=*}]=${kv#*=}; done
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# 2. Certificate, associations, reviews -----------------------------------------------------
say "certificate: openssl, P-256, CN=localhost, SAN DNS:localhost, IP:127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
say "associations: $(python3 "$bench/benchlib.py" associations "$associations_count" "$work/associations.yaml")"
python3 "$bench/realistic-review.py" app >"$work/review-associated.json"
python3 "$bench/realistic-review.py" other >"$work/review-unassociated.json"
say "associated review: $(python3 "$bench/benchlib.py" check-review "$work/review-associated.json" shop app)"
say "unassociated review: $(python3 "$bench/benchlib.py" check-review "$work/review-unassociated.json" shop other)"
review_uid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request"]["uid"])' "$work/review-associated.json")
R[review.bytes]=$(wc -c <"$work/review-associated.json")

# 3. Start to ready -------------------------------------------------------------------------
start_server() { # sets R[start.N]; leaves the server running
  rm -f "$work/armed" "$work/ready"
  python3 "$bench/benchlib.py" poll-ready "http://127.0.0.1:$metrics_port/readyz" "$work/armed" "$work/ready" 30 &
  poller=$!
  until [[ -e $work/armed ]]; do
    kill -0 "$poller" 2>/dev/null || die "the readiness poller failed"
    sleep 0.01
  done
  local t0=${EPOCHREALTIME/./}
  "$binary" serve --host 127.0.0.1 --port "$port" --metrics-port "$metrics_port" \
    --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
    --associations-file "$work/associations.yaml" --log-level warning >>"$work/server.log" 2>&1 &
  server=$!
  while kill -0 "$poller" 2>/dev/null; do
    if ! alive "$server"; then
      cat "$work/server.log" >&2
      die "the webhook exited before it was ready"
    fi
    sleep 0.02
  done
  if ! wait "$poller"; then poller=""; cat "$work/server.log" >&2; die "the webhook did not become ready"; fi
  poller=""
  local t1
  t1=$(<"$work/ready")
  R[start.$1]=$(calc %.1f "($t1 - $t0) / 1000")
  R[rss.ready_kb]=$(rss_kb "$server" VmRSS)
  R[rss.ready_anon_kb]=$(rss_kb "$server" RssAnon)
  R[rss.ready_file_kb]=$(rss_kb "$server" RssFile)
}
ready_values=()
for ((i = 1; i <= starts; i++)); do
  say "start $i/$starts: $(basename "$binary") serve --associations-file ($associations_count) --log-level warning; poll /readyz every 5 ms"
  start_server "$i"
  ready_values+=("${R[start.$i]}")
  echo "    ready after ${R[start.$i]} ms; RSS right after ready: ${R[rss.ready_kb]} kB"
  if ((i < starts)); then stop_server; fi
done
R[start.median]=$(calc %.1f "$(python3 "$bench/benchlib.py" median "${ready_values[@]}")")

# 4. Correctness before load ----------------------------------------------------------------
post() { # URL REVIEW OUT HTTPVERSION-FLAG: prints "status http_version"
  curl -sk "$4" -X POST -H 'Content-Type: application/json' --data-binary "@$2" -o "$3" \
    -w '%{http_code} %{http_version}' "$1"
}
check_answer() { # LABEL URL REVIEW OUT EXPECT
  local got
  for flag in --http1.1 --http2; do
    got=$(post "$2" "$3" "$4" "$flag")
    [[ $got == "200 ${flag#--http}" ]] || die "$1 over ${flag#--}: expected 200 on HTTP/${flag#--http}, got '$got'"
    say "$1 over ${flag#--}: $(python3 "$bench/benchlib.py" check-response "$4" "$5" "$review_uid")"
  done
}
check_answer "ours, associated review" "$(target_url ours)" "$work/review-associated.json" "$work/answer-associated.json" patch
check_answer "ours, unassociated review" "$(target_url ours)" "$work/review-unassociated.json" "$work/answer-unassociated.json" nopatch
R[answer.bytes]=$(wc -c <"$work/answer-associated.json")
R[answer.unassociated_bytes]=$(wc -c <"$work/answer-unassociated.json")
R[tls.ours]=$(curl -skv --http1.1 -o /dev/null "https://127.0.0.1:$port/healthz" 2>&1 | sed -n 's/.*SSL connection using //p' | head -n 1)

# nginx: the same certificate, TLS versions, keep-alive and HTTP/2; our associated answer as a file.
say "nginx: $work/nginx/nginx.conf (worker_processes auto = $(nproc)), POST /mutate -> our answer (${R[answer.bytes]} bytes)"
mkdir -p "$work/nginx/html" "$work/nginx/tmp"
cp "$work/answer-associated.json" "$work/nginx/html/mutate"
{
  echo "# Generated by scripts/bench/run.sh: the ceiling, a fixed answer as fast as nginx serves it."
  if ((EUID == 0)); then echo "user root;  # workers must read the 0700 work directory"; fi
  cat <<EOF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    etag off;
    keepalive_timeout 90s;
    keepalive_requests 1000000000;
    open_file_cache max=16 inactive=1h;
    open_file_cache_valid 1h;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port ssl http2;
        ssl_certificate $work/tls.crt;
        ssl_certificate_key $work/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /mutate {
            root $work/nginx/html;
            default_type application/json;
            # The static module answers POST with 405; turn that into the file, status 200.
            error_page 405 =200 \$uri;
        }
    }
}
EOF
} >"$work/nginx/nginx.conf"
"$nginx_bin" -t -q -p "$work/nginx/" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" ||
  die "nginx rejected its configuration"
"$nginx_bin" -p "$work/nginx/" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for ((i = 0; i < 100; i++)); do
  if curl -sk -o /dev/null "https://127.0.0.1:$nginx_port/mutate" 2>/dev/null; then break; fi
  alive "$nginx_pid" || die "nginx exited: $(cat "$work/nginx/error.log")"
  sleep 0.05
done
for flag in --http1.1 --http2; do
  got=$(post "$(target_url nginx)" "$work/review-associated.json" "$work/nginx-answer.json" "$flag")
  [[ $got == "200 ${flag#--http}" ]] || die "nginx over ${flag#--}: expected 200, got '$got'"
  cmp -s "$work/nginx-answer.json" "$work/answer-associated.json" || die "nginx does not answer our answer verbatim"
done
say "nginx answers POST /mutate: 200, our answer byte for byte, HTTP/1.1 and HTTP/2"
R[tls.nginx]=$(curl -skv --http1.1 -o /dev/null "https://127.0.0.1:$nginx_port/mutate" 2>&1 | sed -n 's/.*SSL connection using //p' | head -n 1)

# 5-8. Load ---------------------------------------------------------------------------------
run_wrk() { # NAME TARGET REVIEW CONNECTIONS SECONDS
  local name=$1 target=$2 review=$3 conns=$4 secs=$5 threads url out line c0 c1 pids
  threads=$((conns < 2 ? conns : 2))
  url=$(target_url "$target")
  out="$work/wrk-$name.txt"
  say "[$name] REVIEW_FILE=$(basename "$review") wrk -t$threads -c$conns -d${secs}s --latency -s $bench/post.lua $url"
  mapfile -t pids < <(target_pids "$target")
  c0=$(cpu_ticks "${pids[@]}")
  if ! REVIEW_FILE=$review wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$bench/post.lua" "$url" >"$out" 2>&1; then
    cat "$out" >&2
    die "wrk failed"
  fi
  c1=$(cpu_ticks "${pids[@]}")
  line=$(grep -m1 '^bench: ' "$out") || { cat "$out" >&2; die "no 'bench:' line in wrk's output"; }
  store "$name" "$line"
  ((R[$name.requests] > 0)) || die "wrk made no requests"
  R[$name.cpu]=$(calc %.0f "($c1 - $c0) / $tck / ${R[$name.duration_s]} * 100")
  if [[ $target == ours ]]; then R[$name.hwm_kb]=$(rss_kb "$server" VmHWM); fi
  printf '    %s reviews/s; p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms; errors %s; %s CPU %s%%\n' \
    "${R[$name.rps]}" "${R[$name.p50_ms]}" "${R[$name.p99_ms]}" "${R[$name.p999_ms]}" "${R[$name.max_ms]}" \
    "${R[$name.errors]}" "$target" "${R[$name.cpu]}"
}

run_h2load() { # NAME TARGET REVIEW SECONDS
  local name=$1 target=$2 review=$3 secs=$4 url out log finished requests codes protocol
  url=$(target_url "$target")
  out="$work/h2load-$name.txt" log="$work/h2load-$name.log"
  say "[$name] h2load -t2 -c$h2_connections -m$h2_streams -D$secs -d $(basename "$review") -H 'content-type: application/json' $url"
  if ! h2load -t2 -c"$h2_connections" -m"$h2_streams" -D"$secs" -d "$review" -H 'content-type: application/json' \
    --log-file="$log" "$url" >"$out" 2>&1; then
    cat "$out" >&2
    die "h2load failed"
  fi
  protocol=$(sed -n 's/^Application protocol: *//p' "$out")
  [[ $protocol == h2 ]] || { cat "$out" >&2; die "h2load did not negotiate h2 (got '$protocol')"; }
  finished=$(grep -m1 '^finished in' "$out") || { cat "$out" >&2; die "no 'finished in' line from h2load"; }
  requests=$(grep -m1 '^requests:' "$out")
  codes=$(grep -m1 '^status codes:' "$out")
  R[$name.rps]=$(sed -E 's/.*, ([0-9.]+) req\/s.*/\1/' <<<"$finished")
  R[$name.requests]=$(sed -E 's/.* ([0-9]+) done.*/\1/' <<<"$requests")
  R[$name.failed]=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$requests")
  R[$name.non2xx]=$(sed -E 's/.*2xx, ([0-9]+) 3xx, ([0-9]+) 4xx, ([0-9]+) 5xx.*/\1 \2 \3/' <<<"$codes" | awk '{ print $1 + $2 + $3 }')
  R[$name.errors]=$((R[$name.failed] > R[$name.non2xx] ? R[$name.failed] : R[$name.non2xx]))
  store "$name" "h2log: $(python3 "$bench/benchlib.py" h2log "$log")"
  R[$name.tls]="$(sed -n 's/^TLS Protocol: *//p' "$out") $(sed -n 's/^Cipher: *//p' "$out")"
  [[ ${R[$name.rps]} =~ ^[0-9.]+$ ]] || die "could not parse h2load's req/s from: $finished"
  if [[ $target == ours ]]; then R[$name.hwm_kb]=$(rss_kb "$server" VmHWM); fi
  printf '    %s req/s; p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms; errors %s (%s done)\n' \
    "${R[$name.rps]}" "${R[$name.p50_ms]}" "${R[$name.p99_ms]}" "${R[$name.p999_ms]}" "${R[$name.max_ms]}" \
    "${R[$name.errors]}" "${R[$name.requests]}"
}

run_fixed() { # NAME TARGET SECONDS
  local name=$1 target=$2 secs=$3 url out line
  url=$(target_url "$target")
  out="$work/fixed-$name.txt"
  say "[$name] $bench/fixed-rate.py $url --body review-associated.json --rate $rate --duration $secs --connections $rate_connections"
  if ! python3 "$bench/fixed-rate.py" "$url" --body "$work/review-associated.json" --rate "$rate" \
    --duration "$secs" --connections "$rate_connections" --label "$target" >"$out" 2>"$out.err"; then
    cat "$out" "$out.err" >&2
    die "fixed-rate.py failed"
  fi
  line=$(grep -m1 '^fixed-rate: target_rps=' "$out") || { cat "$out" "$out.err" >&2; die "no result line from fixed-rate.py"; }
  store "$name" "$line"
  printf '    achieved %s/s; p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms; errors %s; client send lag p99 %s ms\n' \
    "${R[$name.achieved_rps]}" "${R[$name.p50_ms]}" "${R[$name.p99_ms]}" "${R[$name.p999_ms]}" \
    "${R[$name.max_ms]}" "${R[$name.errors]}" "${R[$name.send_lag_p99_ms]}"
}

R[load.before]=$(cut -d' ' -f1-3 /proc/loadavg)
say "warm-up (1 s each, not reported)"
run_wrk warmup-ours ours "$work/review-associated.json" 16 1 >/dev/null
run_wrk warmup-nginx nginx "$work/review-associated.json" 16 1 >/dev/null

kinds=(associated unassociated)
for kind in "${kinds[@]}"; do
  for conns in 1 16 64; do
    run_wrk "h1-$kind-c$conns" ours "$work/review-$kind.json" "$conns" "$duration"
  done
done
for kind in "${kinds[@]}"; do
  run_h2load "h2-$kind" ours "$work/review-$kind.json" "$duration"
done
run_h2load h2-nginx nginx "$work/review-associated.json" "$duration"

ratios=()
for ((i = 1; i <= pairs; i++)); do
  run_wrk "pair$i-ours" ours "$work/review-associated.json" "$ceiling_connections" "$duration"
  run_wrk "pair$i-nginx" nginx "$work/review-associated.json" "$ceiling_connections" "$duration"
  R[pair$i.ratio]=$(calc %.3f "${R[pair$i-ours.rps]} / ${R[pair$i-nginx.rps]}")
  ratios+=("${R[pair$i.ratio]}")
  echo "    pair $i: ours / nginx = ${R[pair$i.ratio]}"
done
R[ratio.median]=$(python3 "$bench/benchlib.py" median "${ratios[@]}")
R[ratio.h2]=$(calc %.3f "${R[h2-associated.rps]} / ${R[h2-nginx.rps]}")

run_fixed fixed-ours ours "$duration"
run_fixed fixed-nginx nginx "$duration"

R[rss.peak_kb]=$(rss_kb "$server" VmHWM)
R[rss.end_kb]=$(rss_kb "$server" VmRSS)
R[rss.end_anon_kb]=$(rss_kb "$server" RssAnon)
R[rss.end_file_kb]=$(rss_kb "$server" RssFile)
R[load.after]=$(cut -d' ' -f1-3 /proc/loadavg)
say "peak RSS (VmHWM) after all runs: ${R[rss.peak_kb]} kB"
stop_server

# 10. EKS sync ------------------------------------------------------------------------------
say "EKS: full sync of 5,000 associations from a loopback stand-in (eks-sync.sh)"
"$bench/eks-sync.sh" "$binary" 5000 | tee "$work/eks-sync.txt"
R[eks.sync_ms]=$(sed -n 's/.*sync_ms=\([0-9]*\).*/\1/p' "$work/eks-sync.txt" | head -n 1)
R[eks.cpu_ms]=$(sed -n 's/^process CPU so far[^:]*: \([0-9]*\) ms.*/\1/p' "$work/eks-sync.txt")
R[eks.rss]=$(sed -n 's/.*peak RSS: \(.*\)$/\1/p' "$work/eks-sync.txt")
R[eks.hit]=$(sed -n 's/^cached hit: *//p' "$work/eks-sync.txt")
R[eks.miss]=$(sed -n 's/^unknown SA, miss lookup: *\([0-9.]*\).*/\1/p' "$work/eks-sync.txt")
[[ -n ${R[eks.sync_ms]} ]] || die "eks-sync.sh printed no sync time"

# 11. Micro-benchmarks ----------------------------------------------------------------------
if ((micro)); then
  say "micro-benchmarks: (cd Benchmarks && swift package benchmark)"
  (cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --format markdown --no-progress) \
    >"$work/micro.md" 2>"$work/micro.err" || { cat "$work/micro.err" >&2; die "the micro-benchmarks failed"; }
  cat "$work/micro.md"
fi

# 12. The table -----------------------------------------------------------------------------
mib() { calc %.1f "$1 / 1024"; }
verdict() { # A OP B: "met" when the comparison holds
  if awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; then echo met; else echo "**missed**"; fi
}
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
os_name=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null || true)
swift_version=$(swift --version 2>/dev/null | sed -n 1p || true)
mode="--duration $duration --pairs $pairs"
if ((quick)); then mode="--quick ($mode)"; fi
mkdir -p "$(dirname "$results")"
{
  echo "# pod-identity-webhook benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "\`scripts/bench/run.sh $mode\`; every load run ${duration} s; $associations_count associations loaded from a file;"
  echo "review ${R[review.bytes]} bytes (3 containers); associated answer ${R[answer.bytes]} bytes, unassociated ${R[answer.unassociated_bytes]} bytes."
  echo "Servers and load generators share the same $(nproc) cores."
  echo
  echo "## Targets"
  echo
  echo "| target | figure | |"
  echo "|---|---|---|"
  echo "| throughput ≥ 0.5× nginx, HTTP/1.1, 16 connections, associated | median ratio ${R[ratio.median]} over $pairs pair(s) | $(verdict "${R[ratio.median]}" '>=' 0.5) |"
  echo "| p99 < 2 ms at a fixed $rate reviews/s | ${R[fixed-ours.p99_ms]} ms (achieved ${R[fixed-ours.achieved_rps]}/s; nginx through the same client: ${R[fixed-nginx.p99_ms]} ms) | $(verdict "${R[fixed-ours.p99_ms]}" '<' 2) |"
  echo "| peak RSS < 40 MB, $associations_count associations, under load | $(mib "${R[rss.peak_kb]}") MiB (VmHWM ${R[rss.peak_kb]} kB) after every run; $(mib "${R[h1-associated-c16.hwm_kb]}") MiB after HTTP/1.1 at 1 and 16 connections | $(verdict "${R[rss.peak_kb]}" '<' 40960) |"
  echo "| start to ready < 1 s, file source | ${R[start.median]} ms (median of $starts) | $(verdict "${R[start.median]}" '<' 1000) |"
  echo "| full sync of 5,000 associations < 1 s (loopback stand-in, 50 pages) | ${R[eks.sync_ms]} ms (process CPU for start + first sync ${R[eks.cpu_ms]} ms; peak RSS ${R[eks.rss]}) | $(verdict "${R[eks.sync_ms]}" '<' 1000) |"
  echo
  echo "## HTTP/1.1 keep-alive over TLS (wrk, threads = min(2, connections))"
  echo
  echo "| review | connections | reviews/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | webhook CPU | peak RSS so far |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for kind in "${kinds[@]}"; do
    for conns in 1 16 64; do
      n=h1-$kind-c$conns
      echo "| $kind | $conns | ${R[$n.rps]} | ${R[$n.p50_ms]} | ${R[$n.p99_ms]} | ${R[$n.p999_ms]} | ${R[$n.max_ms]} | ${R[$n.errors]} | ${R[$n.cpu]} % | $(mib "${R[$n.hwm_kb]}") MiB |"
    done
  done
  echo
  echo "Errors: socket errors (connect, read, write, timeout) plus answers with a status above 399."
  echo
  echo "## HTTP/2 over TLS (h2load -t2 -c$h2_connections -m$h2_streams, ALPN h2)"
  echo
  echo "| server | review | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | webhook peak RSS so far |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for n in h2-associated h2-unassociated h2-nginx; do
    case $n in
      h2-associated) who="webhook" what=associated ;;
      h2-unassociated) who="webhook" what=unassociated ;;
      *) who="nginx (fixed answer)" what=associated ;;
    esac
    rss="" && if [[ -n ${R[$n.hwm_kb]:-} ]]; then rss="$(mib "${R[$n.hwm_kb]}") MiB"; fi
    echo "| $who | $what | ${R[$n.rps]} | ${R[$n.p50_ms]} | ${R[$n.p99_ms]} | ${R[$n.p999_ms]} | ${R[$n.max_ms]} | ${R[$n.errors]} | $rss |"
  done
  echo
  echo "HTTP/2 ratio, webhook / nginx, associated: **${R[ratio.h2]}** (one run each; percentiles from h2load's per-request log). TLS negotiated by h2load: webhook ${R[h2-associated.tls]}; nginx ${R[h2-nginx.tls]}."
  echo
  echo "## The ceiling: nginx with the same answer, same wrk command (-t2 -c$ceiling_connections, associated), A B A B"
  echo
  echo "| pair | webhook reviews/s | nginx requests/s | ratio | webhook p99 ms | nginx p99 ms | webhook CPU | nginx CPU |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  for ((i = 1; i <= pairs; i++)); do
    a=pair$i-ours b=pair$i-nginx
    echo "| $i | ${R[$a.rps]} | ${R[$b.rps]} | ${R[pair$i.ratio]} | ${R[$a.p99_ms]} | ${R[$b.p99_ms]} | ${R[$a.cpu]} % | ${R[$b.cpu]} % |"
  done
  echo "| median | | | **${R[ratio.median]}** | | | | |"
  echo
  echo "nginx $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'): worker_processes auto ($(nproc) workers, the cores the webhook uses too), TLS 1.2/1.3, the same certificate, keep-alive (no request limit), HTTP/2 on; POST /mutate answered from a file holding our answer (405 turned into 200 by error_page). Errors in the ceiling runs: $(for ((i = 1; i <= pairs; i++)); do printf '%s/%s ' "${R[pair$i-ours.errors]}" "${R[pair$i-nginx.errors]}"; done)(webhook/nginx)."
  echo "TLS negotiated by curl: webhook ${R[tls.ours]}; nginx ${R[tls.nginx]}."
  echo
  echo "## Fixed rate: $rate reviews/s, open loop (fixed-rate.py, $rate_connections keep-alive TLS connections, associated)"
  echo
  echo "| server | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | client send lag p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in fixed-ours fixed-nginx; do
    who=webhook
    if [[ $n == fixed-nginx ]]; then who="nginx (client floor)"; fi
    echo "| $who | ${R[$n.achieved_rps]} | ${R[$n.p50_ms]} | ${R[$n.p90_ms]} | ${R[$n.p99_ms]} | ${R[$n.p999_ms]} | ${R[$n.max_ms]} | ${R[$n.errors]} | ${R[$n.send_lag_p99_ms]} |"
  done
  echo
  echo "Latency counts from each request's due time, so a late answer also delays (and is charged to) the requests behind it. The send lag is how late each request left the client after its due time: the client's own delay plus any wait for a free connection (all $rate_connections busy); against nginx it is the client alone. nginx's row is the floor this Python client can measure."
  echo
  echo "## Start and memory"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| start to ready (exec to first 200 on /readyz, $associations_count associations from a file) | median ${R[start.median]} ms (runs: ${ready_values[*]} ms) |"
  echo "| RSS right after ready | $(mib "${R[rss.ready_kb]}") MiB (${R[rss.ready_kb]} kB: anonymous ${R[rss.ready_anon_kb]} kB, file-backed ${R[rss.ready_file_kb]} kB) |"
  echo "| peak RSS (VmHWM) after every run above | $(mib "${R[rss.peak_kb]}") MiB (${R[rss.peak_kb]} kB) |"
  echo "| RSS at the end | $(mib "${R[rss.end_kb]}") MiB (${R[rss.end_kb]} kB: anonymous ${R[rss.end_anon_kb]} kB, file-backed ${R[rss.end_file_kb]} kB) |"
  echo
  echo "## EKS source (eks-sync.sh, 5,000 associations, loopback stand-in)"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| full sync, 50 pages of 100 | ${R[eks.sync_ms]} ms |"
  echo "| process CPU, start plus first sync | ${R[eks.cpu_ms]} ms |"
  echo "| peak RSS after the sync | ${R[eks.rss]} |"
  echo "| review, cache hit (curl, new TLS connection each) | ${R[eks.hit]} ms |"
  echo "| review, unknown service account (miss lookup; the stand-in adds 2 ms) | ${R[eks.miss]} ms |"
  echo
  if ((micro)); then
    echo "## Core micro-benchmarks (Benchmarks/, package-benchmark, one thread)"
    echo
    # Headings two levels down, outside code blocks; without the plugin's colored notes.
    sed -e 's/\x1b\[[0-9;]*m//g' "$work/micro.md" | grep -v -e '^Warning: running with' -e '^Note: skipping' |
      awk '/^```/ { code = !code } !code && /^#/ { $0 = "##" $0 } { print }'
    echo
  fi
  echo "## Machine"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| cores (nproc) | $(nproc) |"
  echo "| CPU | ${cpu_model:-unknown} |"
  echo "| memory | $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |"
  echo "| kernel | $(uname -r) |"
  echo "| OS | ${os_name:-unknown} |"
  echo "| Swift | ${swift_version:-not found} |"
  echo "| binary | \`$binary\` ($(calc %.1f "$(stat -c %s "$binary") / 1048576") MiB) |"
  echo "| wrk | $(wrk --version 2>&1 | sed -n '1s/ Copyright.*//p') |"
  echo "| h2load | $(h2load --version 2>&1 | sed -n 1p) |"
  echo "| nginx | $("$nginx_bin" -v 2>&1) |"
  echo "| OpenSSL | $(openssl version) |"
  echo "| load average before / after | ${R[load.before]} / ${R[load.after]} |"
} >"$results"
say "results: $results"
echo
cat "$results"
