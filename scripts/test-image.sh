#!/usr/bin/env bash
# Tests the runtime container image for real: builds it (scripts/build-image.sh), loads the
# OCI archive into a fresh buildah store and runs it with chroot isolation on the host
# network. Checks that `version` prints, that `serve --dev` answers a review on loopback, and
# that the server runs as UID 65532; reports the image size (target: under 60 MB).
# Usage: scripts/test-image.sh [--binary PATH]   (passed on to build-image.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

archive=.build/image/pod-identity-webhook.oci.tar
scripts/build-image.sh --output "$archive" "$@"

work=$(mktemp -d)
storage=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
container=""
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$container" ]; then buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "==> buildah from oci-archive:$archive"
container=$(buildah "${storage[@]}" from --quiet "oci-archive:$archive")
run=(buildah "${storage[@]}" run --isolation chroot --network host "$container" --)

echo "==> image contents"
mountpoint=$(buildah "${storage[@]}" mount "$container")
(cd "$mountpoint" && find . -mindepth 1 \( -type f -o -type l \) | sort | sed 's/^/    /')
unpacked=$(du -sb "$mountpoint" | awk '{print $1}')
buildah "${storage[@]}" umount "$container" >/dev/null
user=$(buildah "${storage[@]}" inspect --format '{{.OCIv1.Config.User}}' "$container")
[ "$user" = "65532:65532" ] || fail "image user is '$user', expected 65532:65532"

echo "==> run: /pod-identity-webhook version"
version_output=$("${run[@]}" /pod-identity-webhook version)
echo "    $version_output"
[[ "$version_output" == pod-identity-webhook* ]] || fail "version printed '$version_output'"

port=18443
metrics=19999
echo "==> run: /pod-identity-webhook serve --dev --host 127.0.0.1 --port $port --metrics-port $metrics"
"${run[@]}" /pod-identity-webhook serve --dev --host 127.0.0.1 --port "$port" --metrics-port "$metrics" \
  >"$work/server.log" 2>&1 &
server=$!
ready=""
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1; then ready=yes; break; fi
  sleep 0.1
done
[ -n "$ready" ] || { cat "$work/server.log" >&2; fail "the server in the image never became ready"; }

# The process listening on the webhook port is the server; chroot isolation shares the
# host's PID namespace, so its credentials are readable in /proc.
pid=$(ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
[ -n "$pid" ] || fail "no process is listening on port $port"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
echo "    listening process $pid runs as UID $uid"
[ "$uid" = 65532 ] || fail "the server runs as UID $uid, expected 65532"

echo "==> POST /mutate (the review serve --dev documents, for default/demo)"
review='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"image-test","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"demo","namespace":"default"},"spec":{"serviceAccountName":"demo","containers":[{"name":"app","image":"busybox"}]}}}}'
response=$(curl -sS --insecure -H 'Content-Type: application/json' --data "$review" "https://127.0.0.1:$port/mutate")
python3 - "$response" <<'PY' || fail "the response is not an allowed review with the credentials patch"
import base64, json, sys
response = json.loads(sys.argv[1])["response"]
assert response["uid"] == "image-test" and response["allowed"] is True, response
patch = json.loads(base64.b64decode(response["patch"]))
names = {op["value"]["name"] for op in patch if isinstance(op.get("value"), dict) and "name" in op["value"]}
for op in patch:
    if isinstance(op.get("value"), list):
        names |= {v.get("name") for v in op["value"] if isinstance(v, dict)}
assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in names, names
print("    patch: %d operations, includes AWS_CONTAINER_CREDENTIALS_FULL_URI" % len(patch))
PY

archive_bytes=$(stat -c %s "$archive")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "==> image size: $(mib "$unpacked") unpacked, $(mib "$archive_bytes") as an OCI archive (target: under 60 MB)"
if [ "$unpacked" -ge 60000000 ]; then
  echo "NOTE: $unpacked bytes unpacked is over the 60 MB target (README, "Container image", says where the bytes go)"
fi
echo "PASS: image runs as 65532, prints its version and answers a review"
