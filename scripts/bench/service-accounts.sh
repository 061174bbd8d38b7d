#!/usr/bin/env bash
# Figures for the ServiceAccount watch (`serve --watch-service-accounts`): COUNT ServiceAccounts
# (default 50,000; 1% annotated with an IRSA role, over 100 namespaces) served by a loopback
# API stand-in (k8s-sa-server.py); the release binary's start to ready, its peak RSS, the LIST
# requests it made, and review throughput and p99 on the IRSA path with the watch running.
#
# Usage: scripts/bench/service-accounts.sh [options] [COUNT]
#   --port P             webhook port; P+1 metrics (default 18820)
#   --duration SECONDS   length of the load run (default 10)
#   --results FILE       where the table goes (default scripts/bench/results/service-accounts-DATE.txt)
#   --keep               keep the work directory (kubeconfigs, logs, review, wrk output)
#
# Steps (each is printed as it starts):
#  1. The release binary .build/release/pod-identity-webhook (missing: exit 2; it is not built
#     here); curl, python3, openssl, kubectl and wrk.
#  2. The stand-in with COUNT ServiceAccounts on a free port; a kubeconfig for the webhook
#     (http://127.0.0.1:PORT, token bench-token); `kubectl get sa -A --chunk-size=500 -o name`
#     must list COUNT (through a second kubeconfig, https on the same port: kubectl sends a
#     token only over TLS).
#  3. `serve --dev --watch-service-accounts --kubeconfig K --association none/none
#     --log-level warning` (warning: as run.sh, no log line per review): exec to the first 200
#     on /readyz (curl every 10 ms); VmHWM after ready; the LIST, WATCH and GET requests the
#     stand-in saw from the webhook (by User-Agent).
#  4. A realistic review (realistic-review.py) moved to an annotated ServiceAccount: one curl
#     must get a patch setting AWS_ROLE_ARN to its role; then wrk over HTTPS, HTTP/1.1
#     keep-alive, -t2 -c16, post.lua (1 s warm-up, not reported); VmHWM after the load.
#  5. The table, on stdout and in the results file.
# The stand-in, the webhook and wrk share this machine's cores; the table says how many.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
bench=scripts/bench

count=50000 port=18820 duration=10 results="" keep=0
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { printf 'service-accounts.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
while (($#)); do
  case $1 in
    --port) need_value "$@"; port=$2; shift 2 ;;
    --duration) need_value "$@"; duration=$2; shift 2 ;;
    --results) need_value "$@"; results=$2; shift 2 ;;
    --port=* | --duration=* | --results=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) count=$1; shift ;;
  esac
done
[[ $count =~ ^[0-9]+$ && $count -ge 1 ]] || die "COUNT: a whole number of ServiceAccounts, at least 1"
[[ $duration =~ ^[0-9]+$ && $duration -ge 1 ]] || die "--duration: whole seconds, at least 1"
[[ $port =~ ^[0-9]+$ && $port -ge 1024 && $port -le 65534 ]] || die "--port: 1024 to 65534"
metrics_port=$((port + 1))
connections=16 threads=2 page_size=500
results=${results:-$bench/results/service-accounts-$(date +%Y%m%d-%H%M%S).txt}

# 1. Binary and tools -----------------------------------------------------------------------
binary=.build/release/pod-identity-webhook
if [[ ! -x $binary ]]; then
  printf 'service-accounts.sh: no release binary at %s\n' "$binary" >&2
  echo "run: swift build -c release --product pod-identity-webhook" >&2
  exit 2
fi
binary=$(realpath "$binary")
for tool in curl python3 openssl kubectl wrk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (wrk: apt-get install wrk)"
done
say "binary: $binary"
for p in "$port" "$metrics_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (choose another with --port)"; fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/piw-sa-bench.XXXXXX")
server="" standin=""
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
cleanup() {
  if [[ -n $server ]]; then stop_pid "$server"; fi
  if [[ -n $standin ]]; then stop_pid "$standin"; fi
  if ((keep)); then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A R # every figure, by name
store() { # NAME "prefix: k=v k=v ...": R[NAME.k]=v
  local name=$1 kv parts
  read -ra parts <<<"${2#*: }"
  for kv in "${parts[@]}"; do R[$name.${kv%%=*}]=${kv#*=}; done
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
mib() { calc %.1f "$1 / 1024"; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
now_us() { echo "${EPOCHREALTIME/./}"; }

# 2. The API stand-in and the kubeconfigs ---------------------------------------------------
say "certificate for the stand-in's HTTPS side (kubectl): openssl, P-256, SAN IP:127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=k8s-sa-server \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/api.key" -out "$work/api.crt" 2>/dev/null
say "stand-in: $bench/k8s-sa-server.py 0 $count (a free port; requests logged to $work/standin.log)"
python3 "$bench/k8s-sa-server.py" 0 "$count" --port-file "$work/api.port" \
  --tls-cert "$work/api.crt" --tls-key "$work/api.key" >"$work/standin.out" 2>"$work/standin.log" &
standin=$!
deadline=$(($(now_us) + 120000000))
until [[ -e $work/api.port ]]; do
  alive "$standin" || { cat "$work/standin.out" "$work/standin.log" >&2; die "the stand-in exited"; }
  (($(now_us) < deadline)) || die "the stand-in did not listen within 120 s"
  sleep 0.05
done
api_port=$(<"$work/api.port")
standin_line=$(sed -n 's/^k8s-sa-server: listening on //p' "$work/standin.out")
echo "    $standin_line"
R[standin.annotated]=$(sed -n 's/.*ServiceAccounts (\([0-9]*\) annotated).*/\1/p' <<<"$standin_line")
R[standin.bytes]=$(sed -n 's/.*, \([0-9]*\) bytes each on average.*/\1/p' <<<"$standin_line")

kubeconfig() { # SERVER [CA-FILE]: a kubeconfig with the bench token
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: $1
EOF
  if [[ -n ${2:-} ]]; then echo "    certificate-authority: $2"; fi
  cat <<EOF
users:
- name: bench
  user:
    token: bench-token
contexts:
- name: bench
  context:
    cluster: bench
    user: bench
current-context: bench
EOF
}
kubeconfig "http://127.0.0.1:$api_port" >"$work/kubeconfig"
kubeconfig "https://127.0.0.1:$api_port" "$work/api.crt" >"$work/kubeconfig-kubectl"
say "webhook kubeconfig: $work/kubeconfig (server http://127.0.0.1:$api_port, token bench-token)"

say "kubectl get sa -A --chunk-size=$page_size -o name | wc -l (over https: kubectl sends no token over http)"
t0=$(now_us)
if ! kubectl --kubeconfig "$work/kubeconfig-kubectl" --cache-dir "$work/kube-cache" \
  get sa -A --chunk-size="$page_size" -o name >"$work/kubectl.txt" 2>"$work/kubectl.err"; then
  cat "$work/kubectl.err" >&2
  die "kubectl failed against the stand-in"
fi
listed=$(wc -l <"$work/kubectl.txt")
echo "    $listed ServiceAccounts in $(calc %.1f "($(now_us) - $t0) / 1000000") s"
((listed == count)) || die "kubectl listed $listed ServiceAccounts, expected $count"

standin_stats() { # NAME: R[NAME.list|list_continue|watch|get|list_ms]: the webhook's requests to the stand-in
  local line
  line=$(curl -sf -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$api_port/bench/stats" |
    python3 -c 'import json, sys
seen = json.load(sys.stdin)["webhook"]
kinds = ("list", "list-continue", "watch", "get", "list-ms")
print("stats: " + " ".join("%s=%g" % (kind.replace("-", "_"), seen.get(kind, 0)) for kind in kinds))') ||
    die "could not read the stand-in's counters"
  store "$1" "$line"
}
metric() { # SERIES: its value on /metrics (NAME or NAME{labels} as exposed), or n/a
  local value
  value=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v n="$1" '$1 == n { print $2; exit }')
  echo "${value:-n/a}"
}

# 3. Start to ready -------------------------------------------------------------------------
say "$(basename "$binary") serve --dev --host 127.0.0.1 --port $port --metrics-port $metrics_port --watch-service-accounts --kubeconfig $work/kubeconfig --association none/none --log-level warning"
say "poll http://127.0.0.1:$metrics_port/readyz with curl every 10 ms"
t0=$(now_us)
"$binary" serve --dev --host 127.0.0.1 --port "$port" --metrics-port "$metrics_port" \
  --watch-service-accounts --kubeconfig "$work/kubeconfig" --association none/none \
  --log-level warning >"$work/webhook.out" 2>"$work/webhook.log" &
server=$!
deadline=$((t0 + 120000000))
while :; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$metrics_port/readyz" || true)
  if [[ $code == 200 ]]; then
    t1=$(now_us)
    break
  fi
  if ! alive "$server"; then
    cat "$work/webhook.log" >&2
    die "the webhook exited before it was ready"
  fi
  if (($(now_us) > deadline)); then
    cat "$work/webhook.log" >&2
    die "the webhook was not ready within 120 s (last /readyz status: $code)"
  fi
  sleep 0.01
done
R[ready_ms]=$(calc %.0f "($t1 - $t0) / 1000")
R[hwm.ready_kb]=$(rss_kb "$server" VmHWM)
standin_stats ready
R[cached]=$(metric pod_identity_webhook_service_accounts)
R[lists]=$((${R[ready.list]} + ${R[ready.list_continue]}))
echo "    ready after ${R[ready_ms]} ms; VmHWM ${R[hwm.ready_kb]} kB"
echo "    the stand-in saw from the webhook: ${R[lists]} LIST requests (${R[ready.list]} first pages; ${R[ready.list_ms]} ms in them), ${R[ready.watch]} WATCH, ${R[ready.get]} GET"
echo "    pod_identity_webhook_service_accounts: ${R[cached]}"

# 4. Reviews on the IRSA path, the watch running --------------------------------------------
# An annotated ServiceAccount near the middle of the list (the stand-in annotates sa-<i> when
# i % 100 == (i / 100) % 100; sa-0 is always one).
block=$((count / 2 / 100))
index=$((block * 100 + block % 100))
if ((index >= count)); then index=0; fi
sa=sa-$index namespace=ns-$((index % 100))
role=arn:aws:iam::111122223333:role/$sa
python3 "$bench/realistic-review.py" "$sa" | python3 -c '
import json, sys
review = json.load(sys.stdin)
review["request"]["namespace"] = review["request"]["object"]["metadata"]["namespace"] = sys.argv[1]
json.dump(review, sys.stdout, separators=(",", ":"))' "$namespace" >"$work/review.json"
say "review: $(python3 "$bench/benchlib.py" check-review "$work/review.json" "$namespace" "$sa") (annotated: $role)"
review_uid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request"]["uid"])' "$work/review.json")

url=https://127.0.0.1:$port/mutate
got=$(curl -sk --http1.1 -X POST -H 'Content-Type: application/json' --data-binary "@$work/review.json" \
  -o "$work/answer.json" -w '%{http_code}' "$url") || die "curl could not post the review"
[[ $got == 200 ]] || { cat "$work/answer.json" >&2; die "expected 200 from /mutate, got $got"; }
say "answer: $(python3 "$bench/benchlib.py" check-response "$work/answer.json" patch "$review_uid")"
python3 - "$work/answer.json" "$role" <<'PY' || die "the patch does not set AWS_ROLE_ARN to $role"
import base64, json, sys
patch = json.loads(base64.b64decode(json.load(open(sys.argv[1]))["response"]["patch"]))
found = []
def walk(value):
    if isinstance(value, dict):
        if value.get("name") == "AWS_ROLE_ARN":
            found.append(value.get("value"))
        for item in value.values():
            walk(item)
    elif isinstance(value, list):
        for item in value:
            walk(item)
walk(patch)
if not found or any(value != sys.argv[2] for value in found):
    sys.exit(f"AWS_ROLE_ARN in the patch: {found or 'none'}")
print(f"    the patch sets AWS_ROLE_ARN={sys.argv[2]} ({len(found)} containers)")
PY

run_wrk() { # NAME SECONDS
  local name=$1 secs=$2 out line
  out="$work/wrk-$name.txt"
  say "[$name] REVIEW_FILE=review.json wrk -t$threads -c$connections -d${secs}s --latency -s $bench/post.lua $url"
  if ! REVIEW_FILE="$work/review.json" wrk -t"$threads" -c"$connections" -d"${secs}s" --latency \
    -s "$bench/post.lua" "$url" >"$out" 2>&1; then
    cat "$out" >&2
    die "wrk failed"
  fi
  line=$(grep -m1 '^bench: ' "$out") || { cat "$out" >&2; die "no 'bench:' line in wrk's output"; }
  store "$name" "$line"
  ((R[$name.requests] > 0)) || die "wrk made no requests"
  # wrk stops early and reports normally on SIGINT (and bash then runs no INT trap): no figures.
  if awk -v d="${R[$name.duration_s]}" -v s="$secs" 'BEGIN { exit !(d < 0.9 * s) }'; then
    die "wrk ran ${R[$name.duration_s]} s of $secs (interrupted?)"
  fi
  printf '    %s reviews/s; p50 %s ms, p99 %s ms, max %s ms; errors %s\n' \
    "${R[$name.rps]}" "${R[$name.p50_ms]}" "${R[$name.p99_ms]}" "${R[$name.max_ms]}" "${R[$name.errors]}"
}
say "warm-up: 1 s, not reported"
run_wrk warmup 1 >/dev/null
run_wrk load "$duration"
alive "$server" || { cat "$work/webhook.log" >&2; die "the webhook exited during the load"; }
R[hwm.load_kb]=$(rss_kb "$server" VmHWM)
R[rss.end_kb]=$(rss_kb "$server" VmRSS)
standin_stats after
R[irsa]=$(metric 'pod_identity_webhook_pod_count{method="sts_web_identity"}')
echo "    VmHWM after the load: ${R[hwm.load_kb]} kB"
echo "    the stand-in saw from the webhook so far: $((${R[after.list]} + ${R[after.list_continue]})) LIST, ${R[after.watch]} WATCH, ${R[after.get]} GET"

# 5. The table ------------------------------------------------------------------------------
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mkdir -p "$(dirname "$results")"
{
  echo "pod-identity-webhook: the ServiceAccount watch, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "scripts/bench/service-accounts.sh $count: $count ServiceAccounts (${R[standin.annotated]} annotated with an IRSA role, 100 namespaces,"
  echo "${R[standin.bytes]} bytes each on average) from a loopback stand-in (k8s-sa-server.py, Python, plain HTTP);"
  echo "review $(wc -c <"$work/review.json") bytes for $namespace/$sa (IRSA: $role)."
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| start to ready (exec to first 200 on /readyz, curl every 10 ms) | ${R[ready_ms]} ms |"
  echo "| peak RSS (VmHWM) after ready | $(mib "${R[hwm.ready_kb]}") MiB (${R[hwm.ready_kb]} kB) |"
  echo "| peak RSS (VmHWM) after the load | $(mib "${R[hwm.load_kb]}") MiB (${R[hwm.load_kb]} kB; RSS at the end $(mib "${R[rss.end_kb]}") MiB) |"
  echo "| LIST requests to ready | ${R[lists]} (${R[ready.list]} first page(s), ${R[ready.list_continue]} continued; the stand-in spent ${R[ready.list_ms]} ms in them) |"
  echo "| WATCH / GET requests to ready | ${R[ready.watch]} / ${R[ready.get]} |"
  echo "| LIST / WATCH / GET requests at the end | $((${R[after.list]} + ${R[after.list_continue]})) / ${R[after.watch]} / ${R[after.get]} |"
  echo "| ServiceAccounts cached (pod_identity_webhook_service_accounts at ready) | ${R[cached]} |"
  echo "| reviews/s, IRSA (wrk -t$threads -c$connections -d${duration}s, HTTPS, HTTP/1.1 keep-alive) | ${R[load.rps]} |"
  echo "| p99 | ${R[load.p99_ms]} ms (p50 ${R[load.p50_ms]} ms, p99.9 ${R[load.p999_ms]} ms, max ${R[load.max_ms]} ms) |"
  echo "| errors (socket errors + status > 399) | ${R[load.errors]} of ${R[load.requests]} |"
  echo "| pod_identity_webhook_pod_count{method=\"sts_web_identity\"} (curl, warm-up and load) | ${R[irsa]} |"
  echo
  echo "machine: $(nproc) cores, ${cpu_model:-unknown CPU}, $(uname -r); binary $binary ($(calc %.1f "$(stat -c %s "$binary") / 1048576") MiB)"
  echo "The stand-in, the webhook and wrk share these cores. Before the webhook started, kubectl get sa -A listed all $count from the stand-in."
} >"$results"
say "results: $results"
echo
cat "$results"
