#!/usr/bin/env bash
# Quick figures for the EKS source: a full sync of N associations (default 5,000) from a
# loopback EKS stand-in, and the added latency of a miss lookup. The stand-in here is a small
# Python server answering ListPodIdentityAssociations pages (no signature check: the Swift
# tests' stand-in verifies SigV4; this one only measures).
# Usage: scripts/bench/eks-sync.sh [BINARY] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-.build/debug/pod-identity-webhook}
count=${2:-5000}
work=$(mktemp -d)
trap 'kill "${server:-0}" "${standin:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

cat >"$work/standin.py" <<'PY'
import http.server, json, sys, urllib.parse, time
count = int(sys.argv[2])
items = [{"clusterName": "bench", "namespace": "ns-%d" % (i % 50), "serviceAccount": "sa-%d" % i,
          "associationArn": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/bench/a-%016d" % i,
          "associationId": "a-%016d" % i} for i in range(count)]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall
    def log_message(self, *a): pass
    def do_GET(self):
        url = urllib.parse.urlparse(self.path); q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/clusters/bench":
            body = {"cluster": {"name": "bench", "status": "ACTIVE", "kubernetesNetworkConfig": {"ipFamily": "ipv4"}}}
        else:
            if "namespace" in q:
                time.sleep(0.002)  # a little service time for the single lookup
                page = [i for i in items if i["namespace"] == q["namespace"] and i["serviceAccount"] == q.get("serviceAccount")]
                body = {"associations": page}
            else:
                start = int(q.get("nextToken", "0")); n = int(q.get("maxResults", "100"))
                body = {"associations": items[start:start + n]}
                if start + n < len(items): body["nextToken"] = str(start + n)
        data = json.dumps(body).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/standin.py" 18790 "$count" &
standin=$!
sleep 0.5
AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true \
  "$binary" serve --dev --host 127.0.0.1 --port 18791 --metrics-port 18792 --cluster-name bench \
  --region us-west-2 --eks-endpoint http://127.0.0.1:18790 --sync-interval 3600s >/dev/null 2>"$work/log" &
server=$!
for _ in $(seq 200); do curl -sf http://127.0.0.1:18792/readyz >/dev/null && break; sleep 0.05; done
echo "==> full sync of $count associations"
grep "synced Pod Identity Associations" "$work/log" | sed 's/.*associations.count=\([0-9]*\) duration_ms=\([0-9]*\).*/associations=\1 sync_ms=\2/'
ticks=$(awk '{print $14 + $15}' "/proc/$server/stat")
echo "process CPU so far (start + first sync): $((ticks * 1000 / $(getconf CLK_TCK))) ms; peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"

review() {  # $1 = service account; prints curl's total time in ms
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"b","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"ns-%s","operation":"CREATE","object":{"metadata":{"name":"p"},"spec":{"serviceAccountName":"%s","containers":[{"name":"c","image":"x"}]}}}}' "$2" "$1" |
    curl -sk -o /dev/null -w '%{time_total}\n' https://127.0.0.1:18791/mutate -H 'Content-Type: application/json' --data-binary @- |
    awk '{printf "%.2f", $1 * 1000}'
}
echo "==> review latency (curl, new TLS connection each), ms"
echo "cached hit:            $(review sa-7 7) $(review sa-7 7) $(review sa-7 7)"
echo "unknown SA, miss lookup: $(review sa-new-1 1)  same SA again (negative cache): $(review sa-new-1 1)"
echo "miss lookup count:     $(curl -s http://127.0.0.1:18792/metrics | grep miss_lookups_total)"
