#!/usr/bin/env bash
# Lays out the runtime image's root filesystem: the webhook binary, exactly the shared
# libraries `ldd` lists for it (with the dynamic loader), the CA certificate bundle that
# AsyncHTTPClient/NIOSSL read to verify AWS endpoints, and an /etc/passwd entry for the
# non-root user 65532. Nothing else: no shell, no package manager. The binary is stripped
# of its symbol tables (half its size); profile the unstripped one on the host.
# Used by both the Dockerfile's build stage and scripts/build-image.sh, so the two images
# hold the same files.
# Usage: image/stage-rootfs.sh BINARY ROOTFS_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BINARY ROOTFS_DIR" >&2
  exit 2
fi
binary=$1
rootfs=$2
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if [ ! -x "$binary" ]; then
  echo "error: $binary is not an executable file" >&2
  exit 1
fi
if ! command -v strip >/dev/null 2>&1; then
  echo "error: strip is required (binutils)" >&2
  exit 1
fi
if [ ! -f "$ca_bundle" ]; then
  echo "error: no CA bundle at $ca_bundle (install ca-certificates or set CA_BUNDLE)" >&2
  exit 1
fi
if [ -e "$rootfs" ] && [ -n "$(ls -A "$rootfs")" ]; then
  echo "error: $rootfs exists and is not empty" >&2
  exit 1
fi

mkdir -p "$rootfs/etc/ssl/certs"
echo "==> binary: $binary (symbols stripped: the image runs it, nobody debugs in it)"
strip -o "$rootfs/pod-identity-webhook" "$binary"
chmod 0755 "$rootfs/pod-identity-webhook"

# ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the loader;
# linux-vdso has no file. Each is copied, symlinks resolved, to the path the binary asks for.
libraries=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
if [ -z "$libraries" ]; then
  echo "error: ldd listed no libraries for $binary (a fully static binary needs no staging of libraries; this script expects the dynamic loader)" >&2
  exit 1
fi
for library in $libraries; do
  echo "==> library: $library"
  mkdir -p "$rootfs$(dirname "$library")"
  cp -L "$library" "$rootfs$library"
done

echo "==> CA bundle: $ca_bundle"
cp -L "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"

echo "==> /etc/passwd: nonroot (65532)"
printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
