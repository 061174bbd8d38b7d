#!/usr/bin/env bash
# Checks an installed pod-identity-webhook in a real cluster, without running a single pod:
# creates a namespace and two service accounts, associates one of them (file source: the
# chart's associations ConfigMap; EKS source: a Pod Identity Association), then sends example
# pods through `kubectl apply --dry-run=server` and checks what the webhook did to them.
# Prints one PASS/FAIL line per check; exits 0 only when every check passes.
# Run with --help for the options. Needs kubectl and python3 (awscli for --source eks checks).
set -euo pipefail

context="${KUBE_CONTEXT:-}"
namespace="piw-verify"
source_kind="file"
release="pod-identity-webhook"
webhook_namespace="pod-identity-webhook"
configmap=""
skip_association=false
cluster_name=""
region=""
role_arn=""
create_association=false
audience="pods.eks.amazonaws.com"
timeout=180
keep=false

associated_sa="piw-associated"
unassociated_sa="piw-unassociated"

usage() {
  cat <<EOF
Usage: scripts/verify-in-cluster.sh --context CTX [options]

Options:
  --context CTX            kube context to use (or KUBE_CONTEXT); required: the script
                           creates objects and never guesses the cluster
  --namespace NS           namespace for the test objects (default: ${namespace}); created
                           if absent, and then deleted at the end
  --source file|eks        association source the webhook runs with (default: ${source_kind})
  --release NAME           Helm release of the webhook (default: ${release})
  --webhook-namespace NS   namespace of that release (default: ${webhook_namespace})
  --configmap NAME         file source: the associations ConfigMap (default: the one of the
                           release holding associations.yaml)
  --skip-association       the association NS/${associated_sa} is already configured
                           (chart values or EKS); do not add one
  --cluster-name NAME      eks source: the EKS cluster (default: the webhook's --cluster-name)
  --region REGION          eks source: the cluster's region (default: the webhook's --region)
  --role-arn ARN           eks source: IAM role for the association
  --create-association     eks source: create the association with awscli (needs --role-arn)
                           and delete it at the end
  --audience AUD           expected token audience (default: ${audience})
  --timeout SECONDS        how long to wait for the association to reach the webhook
                           (default: ${timeout})
  --keep                   leave the namespace, service accounts and association in place
  -h, --help               this help
EOF
}

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 2
}

need_value() {
  # $1 option, $2 its value, $3 number of arguments left (the option included)
  if [ "$3" -lt 2 ] || [[ "$2" == --* ]]; then die "$1 needs a value (see --help)"; fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --context) need_value "$1" "${2-}" $#; context="$2"; shift 2 ;;
    --context=*) context="${1#*=}"; shift ;;
    --namespace) need_value "$1" "${2-}" $#; namespace="$2"; shift 2 ;;
    --namespace=*) namespace="${1#*=}"; shift ;;
    --source) need_value "$1" "${2-}" $#; source_kind="$2"; shift 2 ;;
    --source=*) source_kind="${1#*=}"; shift ;;
    --release) need_value "$1" "${2-}" $#; release="$2"; shift 2 ;;
    --release=*) release="${1#*=}"; shift ;;
    --webhook-namespace) need_value "$1" "${2-}" $#; webhook_namespace="$2"; shift 2 ;;
    --webhook-namespace=*) webhook_namespace="${1#*=}"; shift ;;
    --configmap) need_value "$1" "${2-}" $#; configmap="$2"; shift 2 ;;
    --configmap=*) configmap="${1#*=}"; shift ;;
    --skip-association) skip_association=true; shift ;;
    --cluster-name) need_value "$1" "${2-}" $#; cluster_name="$2"; shift 2 ;;
    --cluster-name=*) cluster_name="${1#*=}"; shift ;;
    --region) need_value "$1" "${2-}" $#; region="$2"; shift 2 ;;
    --region=*) region="${1#*=}"; shift ;;
    --role-arn) need_value "$1" "${2-}" $#; role_arn="$2"; shift 2 ;;
    --role-arn=*) role_arn="${1#*=}"; shift ;;
    --create-association) create_association=true; shift ;;
    --audience) need_value "$1" "${2-}" $#; audience="$2"; shift 2 ;;
    --audience=*) audience="${1#*=}"; shift ;;
    --timeout) need_value "$1" "${2-}" $#; timeout="$2"; shift 2 ;;
    --timeout=*) timeout="${1#*=}"; shift ;;
    --keep) keep=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

# Nothing below this check may reach a cluster: without an explicit context we stop here.
if [ -z "$context" ]; then
  die "no kube context given: pass --context CTX (or set KUBE_CONTEXT). This script creates a namespace, service accounts and an association, so it never falls back to the current context."
fi
case "$source_kind" in
  file | eks) ;;
  *) die "--source must be file or eks, got \"$source_kind\"" ;;
esac
if ! [[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]]; then
  die "--namespace \"$namespace\" is not a valid namespace name"
fi
if ! [[ "$timeout" =~ ^[0-9]+$ ]]; then die "--timeout must be a whole number of seconds, got \"$timeout\""; fi
if [ "$create_association" = true ] && [ -z "$role_arn" ]; then die "--create-association needs --role-arn"; fi
command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed (it reads kubectl's JSON)"

# Reads the kubeconfig only: a typo in the context fails here, before any request.
if ! kubectl config get-contexts -o name 2>/dev/null | grep -qxF -- "$context"; then
  die "context \"$context\" is not in your kubeconfig (kubectl config get-contexts lists them)"
fi

k() { kubectl --context "$context" "$@"; }

work="$(mktemp -d)"
passed=0
failed=0
created_namespace=false
configmap_original=""
configmap_key=""
eks_association_id=""

pass() {
  printf 'PASS %s\n' "$*"
  passed=$((passed + 1))
}
fail() {
  printf 'FAIL %s\n' "$*"
  failed=$((failed + 1))
}

cleanup() {
  local status=$?
  set +e
  if [ "$keep" = true ]; then
    say "--keep: leaving namespace ${namespace}, its service accounts and the association in place"
  else
    if [ -n "$configmap_original" ]; then
      say "restoring ConfigMap ${webhook_namespace}/${configmap}"
      python3 -c 'import json, sys; print(json.dumps({"data": {sys.argv[1]: open(sys.argv[2]).read()}}))' \
        "$configmap_key" "$configmap_original" >"${work}/restore.json"
      k -n "$webhook_namespace" patch configmap "$configmap" --type merge --patch-file "${work}/restore.json" >/dev/null
    fi
    if [ -n "$eks_association_id" ]; then
      say "deleting Pod Identity Association ${eks_association_id}"
      aws eks delete-pod-identity-association ${aws_region_args[@]+"${aws_region_args[@]}"} --cluster-name "$cluster_name" \
        --association-id "$eks_association_id" >/dev/null
    fi
    if [ "$created_namespace" = true ]; then
      say "deleting namespace ${namespace}"
      k delete namespace "$namespace" --wait=false >/dev/null
    else
      k -n "$namespace" delete serviceaccount "$associated_sa" "$unassociated_sa" --ignore-not-found >/dev/null
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# --- the webhook is installed ---------------------------------------------------------------
say "context ${context}: looking for the webhook (release ${release} in namespace ${webhook_namespace})"
if ! k get mutatingwebhookconfigurations -o json >"${work}/mwc.json"; then
  fail "cannot list MutatingWebhookConfigurations with context ${context} (see kubectl's message above)"
  exit 1
fi
if ! python3 - "${work}/mwc.json" "$webhook_namespace" "${work}/webhook-service" <<'PY'; then
import json, sys
items = json.load(open(sys.argv[1])).get("items", [])
found = False
for item in items:
    for hook in item.get("webhooks", []):
        service = hook.get("clientConfig", {}).get("service") or {}
        if service.get("namespace") != sys.argv[2]:
            continue
        if not found:
            open(sys.argv[3], "w").write(service.get("name", ""))
        found = True
        ca = "set" if hook.get("clientConfig", {}).get("caBundle") else "EMPTY (the API server cannot call it yet)"
        print(f"    {item['metadata']['name']}: webhook {hook.get('name')} -> service "
              f"{service.get('name')}:{service.get('port', 443)}, failurePolicy {hook.get('failurePolicy')}, caBundle {ca}")
sys.exit(0 if found else 1)
PY
  fail "no MutatingWebhookConfiguration sends to a Service in namespace ${webhook_namespace}: install the chart first (or pass --webhook-namespace)"
  exit 1
fi
webhook_service="$(cat "${work}/webhook-service")"
k -n "$webhook_namespace" get deployments -l "app.kubernetes.io/instance=${release}" -o json >"${work}/deployments.json"
python3 - "${work}/deployments.json" >"${work}/deployment.env" <<'PY'
import json, shlex, sys
items = json.load(open(sys.argv[1])).get("items", [])
flags = {}
for item in items:
    status = item.get("status", {})
    print(f"    {item['metadata']['name']}: {status.get('readyReplicas', 0)}/{item['spec'].get('replicas', 1)} ready",
          file=sys.stderr)
    for container in item["spec"]["template"]["spec"].get("containers", []):
        args = container.get("args", []) + container.get("command", [])
        for index, arg in enumerate(args):
            for flag in ("cluster-name", "region"):
                if arg == f"--{flag}" and index + 1 < len(args):
                    flags[flag] = args[index + 1]
                elif arg.startswith(f"--{flag}="):
                    flags[flag] = arg.split("=", 1)[1]
        for env in container.get("env", []):
            for flag in ("cluster-name", "region"):
                if env.get("name") == "POD_IDENTITY_WEBHOOK_" + flag.upper().replace("-", "_") and "value" in env:
                    flags.setdefault(flag, env["value"])
if not items:
    print("    no Deployment labelled app.kubernetes.io/instance in that namespace", file=sys.stderr)
print(f"found_cluster_name={shlex.quote(flags.get('cluster-name', ''))}")
print(f"found_region={shlex.quote(flags.get('region', ''))}")
PY
found_cluster_name="" found_region=""
# shellcheck disable=SC1091 # written just above
. "${work}/deployment.env"
cluster_name="${cluster_name:-$found_cluster_name}"
region="${region:-$found_region}"
aws_region_args=()
if [ -n "$region" ]; then aws_region_args=(--region "$region"); fi

# --- namespace and service accounts ---------------------------------------------------------
if k get namespace "$namespace" >/dev/null 2>&1; then
  say "using the existing namespace ${namespace} (it stays at the end)"
else
  say "creating namespace ${namespace}"
  k create namespace "$namespace" >/dev/null
  created_namespace=true
fi
say "creating service accounts ${associated_sa} (associated) and ${unassociated_sa} (not associated)"
for sa in "$associated_sa" "$unassociated_sa"; do
  printf '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"%s","namespace":"%s"}}' "$sa" "$namespace" |
    k apply -f - >/dev/null
done

# --- the association --------------------------------------------------------------------------
if [ "$skip_association" = true ]; then
  say "--skip-association: expecting ${namespace}/${associated_sa} to be associated already"
elif [ "$source_kind" = file ]; then
  if [ -n "$configmap" ]; then
    k -n "$webhook_namespace" get configmap "$configmap" -o json >"${work}/configmaps.json"
  else
    k -n "$webhook_namespace" get configmaps -l "app.kubernetes.io/instance=${release}" -o json >"${work}/configmaps.json"
  fi
  # Adds NS/SA to the associations file, keeping every entry it holds. Writes the merge patch,
  # the original content and the ConfigMap's name and key; exits 3 when already present.
  set +e
  python3 - "${work}/configmaps.json" "$namespace" "$associated_sa" "$work" <<'PY'
import json, re, sys
document, namespace, account, work = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
items = document.get("items", [document]) if document.get("kind") != "ConfigMap" else [document]
candidates = [(item, key) for item in items for key in (item.get("data") or {})
              if key.endswith((".yaml", ".yml", ".json"))]
preferred = [c for c in candidates if c[1] == "associations.yaml"] or candidates
if len(preferred) != 1:
    names = ", ".join(f"{i['metadata']['name']}/{k}" for i, k in candidates) or "none"
    sys.exit(f"cannot tell which ConfigMap holds the associations (candidates: {names}); pass --configmap")
item, key = preferred[0]
text = item["data"][key]
entry = f"{namespace}/{account}"

def present(entries):
    for e in entries:
        if e == entry or (isinstance(e, dict) and e.get("namespace") == namespace and e.get("serviceAccount") == account):
            return True
    return False

stripped = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")).strip()
new = None
if stripped in ("", "[]", "{}", "null", "~"):
    new = f"- {entry}\n"
else:
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, list) or (isinstance(data, dict) and isinstance(data.get("identities"), list)):
        entries = data if isinstance(data, list) else data["identities"]
        if present(entries):
            sys.exit(3)
        entries.append({"namespace": namespace, "serviceAccount": account})
        new = json.dumps(data, indent=2) + "\n"
    elif data is None and stripped.startswith("-"):
        # A YAML block list, as the chart renders it: look for the pair, else append a string entry.
        items_text = re.split(r"(?m)^-", stripped)
        for chunk in items_text:
            flat = chunk.strip().strip("'\"")
            ns = re.search(r"(?m)^\s*namespace:\s*['\"]?([^'\"\s#]+)", chunk)
            sa = re.search(r"(?m)^\s*serviceAccount:\s*['\"]?([^'\"\s#]+)", chunk)
            if flat == entry or (ns and sa and ns.group(1) == namespace and sa.group(1) == account):
                sys.exit(3)
        new = text.rstrip("\n") + f"\n- {entry}\n"
if new is None:
    sys.exit(f"{item['metadata']['name']}/{key} is not a list this script can extend; add {entry} to the "
             "chart values (associations.file.associations) and rerun with --skip-association")
open(f"{work}/configmap.name", "w").write(item["metadata"]["name"])
open(f"{work}/configmap.key", "w").write(key)
open(f"{work}/configmap.original", "w").write(text)
open(f"{work}/configmap.patch.json", "w").write(json.dumps({"data": {key: new}}))
PY
  status=$?
  set -e
  if [ "$status" -eq 3 ]; then
    say "the associations ConfigMap already lists ${namespace}/${associated_sa}"
  elif [ "$status" -ne 0 ]; then
    fail "could not add ${namespace}/${associated_sa} to the associations ConfigMap (see above)"
    exit 1
  else
    configmap="$(cat "${work}/configmap.name")"
    configmap_key="$(cat "${work}/configmap.key")"
    say "adding ${namespace}/${associated_sa} to ConfigMap ${webhook_namespace}/${configmap} (${configmap_key})"
    say "note: this edits the chart's ConfigMap; the end of this script puts it back, a later helm upgrade would too"
    k -n "$webhook_namespace" patch configmap "$configmap" --type merge --patch-file "${work}/configmap.patch.json" >/dev/null
    configmap_original="${work}/configmap.original"
  fi
else
  printf -v create_command 'aws eks create-pod-identity-association%s --cluster-name %s --namespace %s --service-account %s --role-arn %s' \
    "${region:+ --region $region}" "${cluster_name:-CLUSTER}" "$namespace" "$associated_sa" "${role_arn:-ROLE_ARN}"
  say "the EKS association this check needs:"
  printf '    %s\n' "$create_command"
  if [ -z "$cluster_name" ]; then
    say "cluster name unknown (not in the webhook's arguments): pass --cluster-name to check the association"
  elif ! command -v aws >/dev/null 2>&1; then
    say "awscli not found: cannot check the association; create it with the command above"
  else
    existing="$(aws eks list-pod-identity-associations ${aws_region_args[@]+"${aws_region_args[@]}"} --cluster-name "$cluster_name" \
      --namespace "$namespace" --service-account "$associated_sa" --query 'associations[].associationId' \
      --output text 2>"${work}/aws.err" || echo "ERROR")"
    if [ "$existing" = "ERROR" ]; then
      say "awscli could not list the associations: $(cat "${work}/aws.err")"
    elif [ -n "$existing" ] && [ "$existing" != "None" ]; then
      pass "EKS association for ${namespace}/${associated_sa} exists (${existing})"
    elif [ "$create_association" = true ]; then
      say "creating the association"
      eks_association_id="$(aws eks create-pod-identity-association ${aws_region_args[@]+"${aws_region_args[@]}"} \
        --cluster-name "$cluster_name" --namespace "$namespace" --service-account "$associated_sa" \
        --role-arn "$role_arn" --query 'association.associationId' --output text)"
      pass "EKS association ${eks_association_id} created"
    else
      fail "no EKS association for ${namespace}/${associated_sa}: run the command above, or rerun with --create-association --role-arn ARN"
      exit 1
    fi
  fi
fi

# --- example pods through the API server ------------------------------------------------------
# Each pod meets the "restricted" Pod Security Standard, so a namespace enforcing it admits them.
pod_json() {
  # $1 pod name, $2 service account, $3 extra labels as JSON members ("" for none)
  cat <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$1", "namespace": "${namespace}", "labels": {"app": "piw-verify"$3}},
 "spec": {"serviceAccountName": "$2",
  "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
  "initContainers": [{"name": "init", "image": "registry.k8s.io/pause:3.10",
    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
  "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}}
EOF
}

# After a failed check: what the webhook itself says about NS/SA now and why (GET /debug/explain
# on its metrics port, reached through the API server's proxy to the Service's `metrics` port).
# It starts no lookup; it answers only with --enable-debugging-handlers.
explain_pair() {
  # $1 service account
  local path="/api/v1/namespaces/${webhook_namespace}/services/http:${webhook_service}:metrics/proxy/debug/explain?namespace=${namespace}&serviceAccount=$1"
  say "the webhook's /debug/explain for ${namespace}/$1:"
  if k get --raw "$path" >"${work}/explain.json" 2>"${work}/explain.err"; then
    python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])), indent=2, sort_keys=True))' \
      "${work}/explain.json" 2>/dev/null | sed 's/^/    /' || sed 's/^/    /' "${work}/explain.json"
  else
    printf '    no answer: %s\n' "$(head -c 300 "${work}/explain.err" | tr '\n' ' ')"
    printf '    (it needs the webhook flag --enable-debugging-handlers, e.g. chart value extraArgs: [--enable-debugging-handlers], and permission to get services/proxy in %s)\n' "$webhook_namespace"
  fi
}

dry_run() {
  # $1 pod JSON, $2 output file
  printf '%s' "$1" | k apply --dry-run=server -o json -f - >"$2" 2>"${2}.err"
}

# Prints the pod's mutation state: "mutated", "untouched" or "partial: …", from the output of
# the dry run in $1.
inspect_pod() {
  python3 - "$1" "$audience" <<'PY'
import json, sys
pod, audience = json.load(open(sys.argv[1])), sys.argv[2]
spec = pod.get("spec", {})
containers = spec.get("initContainers", []) + spec.get("containers", [])
label = pod.get("metadata", {}).get("labels", {}).get("eks.amazonaws.com/pod-identity")
volume = next((v for v in spec.get("volumes", []) if v.get("name") == "eks-pod-identity-token"), None)
envs = [{e["name"]: e.get("value") for e in c.get("env", [])} for c in containers]
if not label and volume is None and not any("AWS_CONTAINER_CREDENTIALS_FULL_URI" in e for e in envs):
    print("untouched")
    sys.exit(0)
problems, notes = [], []
if label != "enabled":
    problems.append(f"label eks.amazonaws.com/pod-identity is {label!r}, not 'enabled'")
else:
    notes.append("label eks.amazonaws.com/pod-identity=enabled")
token_file_name = None
if volume is None:
    problems.append("no eks-pod-identity-token volume")
else:
    sources = (volume.get("projected") or {}).get("sources", [])
    token = next((s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s), None)
    if token is None:
        problems.append("eks-pod-identity-token volume has no projected serviceAccountToken")
    else:
        token_file_name = token.get("path")
        if token.get("audience") != audience:
            problems.append(f"token audience is {token.get('audience')!r}, expected {audience!r}")
        if not 600 <= int(token.get("expirationSeconds", 0)) <= 86400:
            problems.append(f"token expirationSeconds {token.get('expirationSeconds')} not in [600, 86400]")
        notes.append(f"projected volume eks-pod-identity-token (audience {token.get('audience')}, "
                     f"expirationSeconds {token.get('expirationSeconds')})")
for container, env in zip(containers, envs):
    name = container["name"]
    uri, token_file = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    mount = next((m for m in container.get("volumeMounts", []) if m.get("name") == "eks-pod-identity-token"), None)
    if not uri:
        problems.append(f"container {name}: no AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not token_file:
        problems.append(f"container {name}: no AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if mount is None:
        problems.append(f"container {name}: no eks-pod-identity-token volume mount")
    elif not mount.get("readOnly"):
        problems.append(f"container {name}: eks-pod-identity-token mount is not readOnly")
    elif token_file and token_file_name and token_file != f"{mount['mountPath']}/{token_file_name}":
        problems.append(f"container {name}: token file {token_file} is not {mount['mountPath']}/{token_file_name}")
    if uri and token_file and mount:
        notes.append(f"container {name}: AWS_CONTAINER_CREDENTIALS_FULL_URI={uri}, "
                     f"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={token_file}, mount at {mount['mountPath']}")
if problems:
    print("partial: " + "; ".join(problems))
else:
    print("mutated")
    for note in notes:
        print("  " + note)
PY
}

associated_pod="$(pod_json piw-verify-associated "$associated_sa" "")"
say "dry-run of pod piw-verify-associated (service account ${associated_sa}); waiting up to ${timeout}s for the association to reach the webhook"
case "$source_kind" in
  file) say "(the kubelet refreshes a mounted ConfigMap within about a minute; the webhook re-reads it every --associations-reload-interval)" ;;
  eks) say "(a new association is found by the miss lookup at once, or by the next --sync-interval sync)" ;;
esac
deadline=$((SECONDS + timeout))
while :; do
  state="dry run failed"
  if dry_run "$associated_pod" "${work}/associated.json"; then
    state="$(inspect_pod "${work}/associated.json")"
  fi
  # Keep asking while the webhook does not know the association yet (or the API server does
  # not know the service account yet); anything else is a final answer.
  case "$state" in
    untouched | "dry run failed") ;;
    *) break ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then break; fi
  sleep 5
done
case "$state" in
  mutated*)
    pass "pod with an associated service account is mutated"
    while IFS= read -r line; do pass "  ${line#  }"; done < <(tail -n +2 <<<"$state")
    ;;
  "dry run failed")
    fail "kubectl apply --dry-run=server failed: $(cat "${work}/associated.json.err")"
    explain_pair "$associated_sa"
    ;;
  untouched)
    fail "pod with an associated service account was not mutated within ${timeout}s (is the association in place? is namespace ${namespace} excluded by the webhook's namespaceSelector? see the webhook's logs)"
    explain_pair "$associated_sa"
    ;;
  *)
    fail "pod with an associated service account: ${state#partial: }"
    explain_pair "$associated_sa"
    ;;
esac

check_untouched() {
  # $1 description, $2 pod JSON, $3 output file, $4 the pod's service account
  local state
  if ! dry_run "$2" "$3"; then
    fail "$1: kubectl apply --dry-run=server failed: $(cat "${3}.err")"
    explain_pair "$4"
    return
  fi
  state="$(inspect_pod "$3")"
  if [ "$state" = untouched ]; then
    pass "$1 is untouched"
  else
    fail "$1 was changed: ${state}"
    explain_pair "$4"
  fi
}
say "dry-run of pods that must stay untouched"
check_untouched "pod labelled eks.amazonaws.com/skip-pod-identity-webhook" \
  "$(pod_json piw-verify-skipped "$associated_sa" ', "eks.amazonaws.com/skip-pod-identity-webhook": "true"')" \
  "${work}/skipped.json" "$associated_sa"
check_untouched "pod with an unassociated service account (${unassociated_sa})" \
  "$(pod_json piw-verify-unassociated "$unassociated_sa" "")" "${work}/unassociated.json" "$unassociated_sa"

if [ "$failed" -eq 0 ]; then
  printf 'PASS all %d checks (context %s)\n' "$passed" "$context"
else
  printf 'FAIL %d of %d checks (context %s)\n' "$failed" "$((passed + failed))" "$context"
  exit 1
fi
