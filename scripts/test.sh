#!/usr/bin/env bash
# Runs every test of the project: sets up what the tests call (shellcheck and promtool with apt,
# a Python venv with kubernetes-validate, awscli and helm-python-sdk; kubectl must be
# installed), builds, then runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl >/dev/null 2>&1; then
  echo "error: kubectl is required (the tests apply every patch with kubectl patch --local)" >&2
  exit 1
fi

# The tests run shellcheck on every shell script of the project.
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "==> installing shellcheck (apt)"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q shellcheck
  else
    echo "error: shellcheck is required (the tests run it on every shell script): install it, e.g. apt-get install shellcheck" >&2
    exit 1
  fi
fi

# The chart tests check the alert rules and the dashboard's queries with promtool (Debian's
# prometheus package); without it they fail.
if ! command -v promtool >/dev/null 2>&1; then
  echo "==> installing promtool (apt: prometheus)"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
  else
    echo "error: promtool is required (the chart tests run promtool check rules): install it, e.g. apt-get install prometheus" >&2
    exit 1
  fi
fi

# The venv holds kubernetes-validate (Kubernetes JSON schemas, offline), awscli (a real EKS
# client), botocore (the reference SigV4 signer; newer awscli vendors its own) and
# helm-python-sdk (Helm's Go SDK, to render and lint the chart offline). It goes first on PATH
# for the tests.
if ! .venv/bin/python -c 'import kubernetes_validate, botocore, helm_python' >/dev/null 2>&1 || [ ! -x .venv/bin/aws ]; then
  echo "==> creating .venv with kubernetes-validate, awscli and helm-python-sdk"
  python3 -m venv .venv
  .venv/bin/pip install --quiet kubernetes-validate awscli botocore
  .venv/bin/pip install --quiet --ignore-requires-python helm-python-sdk
fi
export PATH="$PWD/.venv/bin:$PATH"

echo "==> swift build --build-tests"
swift build --build-tests
echo "==> swift test"
KUBECTL="$(command -v kubectl)" swift test --skip-build
