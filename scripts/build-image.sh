#!/usr/bin/env bash
# Builds the webhook's runtime container image without a Docker engine: a release binary
# built on the host (Swift runtime linked statically), its root filesystem staged by
# image/stage-rootfs.sh, assembled by buildah (chroot isolation, vfs storage) from
# image/Containerfile.runtime, and written as an OCI archive.
# Usage: scripts/build-image.sh [--binary PATH] [--output FILE] [--tag NAME:TAG]
#   --binary  use this binary instead of building one
#   --output  OCI archive to write (default .build/image/pod-identity-webhook.oci.tar)
#   --tag     image name (default localhost/pod-identity-webhook:VERSION)
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
output=".build/image/pod-identity-webhook.oci.tar"
tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --output) output=${2:?--output needs a file}; shift 2 ;;
    --tag) tag=${2:?--tag needs NAME:TAG}; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v buildah >/dev/null 2>&1; then
  echo "error: buildah is required (apt-get install buildah)" >&2
  exit 1
fi

if [ -z "$binary" ]; then
  echo "==> swift build -c release --static-swift-stdlib"
  swift build -c release --static-swift-stdlib --product pod-identity-webhook
  binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/pod-identity-webhook"
fi
version=$("$binary" version | awk '{print $NF}')
tag=${tag:-localhost/pod-identity-webhook:$version}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image/stage-rootfs.sh "$binary" "$work/rootfs"
cp image/Containerfile.runtime "$work/Containerfile"

# A private storage root: the build leaves nothing in the machine's image store, and the
# result is only the archive.
storage=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
echo "==> buildah bud --isolation chroot -t $tag"
buildah "${storage[@]}" bud --quiet --isolation chroot --layers=false \
  --label "org.opencontainers.image.title=pod-identity-webhook" \
  --label "org.opencontainers.image.version=$version" \
  -t "$tag" -f "$work/Containerfile" "$work"

mkdir -p "$(dirname "$output")"
rm -f "$output"
echo "==> buildah push $tag oci-archive:$output"
buildah "${storage[@]}" push --quiet "$tag" "oci-archive:$output:$tag"

bytes=$(stat -c %s "$output")
echo "==> image: $tag"
echo "==> OCI archive: $output ($((bytes / 1024 / 1024)) MiB, $bytes bytes)"
