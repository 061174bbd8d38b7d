#!/usr/bin/env bash
# Hostile-client probes: what slow, stalling, idle and misbehaving clients do to the webhook's
# memory, CPU and connections, and whether it keeps answering meanwhile. Loopback only, bounded
# (about 10 minutes for all probes), never part of scripts/test.sh.
#
# Usage: scripts/bench/hostile.sh [options]
#   --binary PATH        use this webhook binary (skips the release build)
#   --probe NAME ...     run only these probes (repeatable; default: all; --list shows them)
#   --results FILE       append the table here (default scripts/bench/results/hostile-DATE.md)
#   --base-port P        probe i uses ports P+2i and P+2i+1 (default 28443)
#   --list               list the probes and exit
#
# Steps:
#  1. Without --binary: `swift build -c release --static-swift-stdlib --product
#     pod-identity-webhook` (under flock /tmp/pod-build.lock, as other builds on this machine).
#  2. A venv, .venv-bench, with the h2 package (pip) for the HTTP/2 clients, made on first use.
#  3. scripts/bench/hostile.py: for each probe a fresh `serve --dev` on 127.0.0.1, a canary
#     checking it every 100 ms, the hostile clients, then the figures (see docs/reliability.md).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
bench=scripts/bench
venv=.venv-bench

binary="" args=()
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { printf 'hostile.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
need_value() { [[ $# -ge 2 && -n $2 && $2 != --* ]] || die "$1 needs a value"; }
while (($#)); do
  case $1 in
    --binary) need_value "$@"; binary=$2; shift 2 ;;
    --results | --base-port) need_value "$@"; args+=("$1" "$2"); shift 2 ;;
    --probe)
      need_value "$@"
      shift
      while (($#)) && [[ $1 != --* ]]; do args+=(--probe "$1"); shift; done
      ;;
    --binary=* | --results=* | --base-port=* | --probe=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    --list) args+=(--list); shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

for tool in python3 prlimit; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is needed (python3; prlimit is in util-linux)"
done

# 2. The h2 package, in a venv of its own (the tests' .venv is left alone).
if ! "$venv/bin/python" -c 'import h2' >/dev/null 2>&1; then
  say "creating $venv with h2 (pip)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet h2
fi
python=$venv/bin/python

if [[ " ${args[*]} " == *" --list "* ]]; then
  exec "$python" "$bench/hostile.py" --list
fi

# 1. The binary.
if [[ -z $binary ]]; then
  say "swift build -c release --static-swift-stdlib --product pod-identity-webhook"
  flock /tmp/pod-build.lock swift build -c release --static-swift-stdlib --product pod-identity-webhook
  binary="$(flock /tmp/pod-build.lock swift build -c release --static-swift-stdlib --show-bin-path)/pod-identity-webhook"
fi
[[ -x $binary ]] || die "not an executable: $binary"

# 3. The probes. hostile.py stops its servers and clients itself, also on Ctrl-C.
exec "$python" "$bench/hostile.py" --binary "$binary" "${args[@]}"
