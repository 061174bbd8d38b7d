#!/usr/bin/env python3
"""Check the Helm chart with the real Helm engine (helm-python-sdk), for one values file at a time.

    scripts/check-chart.py --binary .build/debug/pod-identity-webhook default charts/pod-identity-webhook/ci/*.yaml
    scripts/check-chart.py --bad-values
    (--chart DIR checks another copy of the chart)

For each values file ("default" = the chart's own values) it:
  (a) lints the chart, strict, and fails on any lint message;
  (b) renders it as release pod-identity-webhook in namespace pod-identity-webhook and parses
      every manifest;
  (c) validates every object: built-in kinds strictly (no unknown field) with kubernetes-validate
      against the newest Kubernetes version it ships; the cert-manager and prometheus-operator
      kinds against the JSON schemas in scripts/chart-schemas/ (kubernetes-validate has none);
  (d) asserts the chart's promises on the parsed objects only (it never recomputes from the values
      what a template should produce; it reads from a values file only whether it asks for
      `serviceAccounts.watch`, and the association pairs the binary is probed with): without
      serviceAccounts.watch, no RBAC object and no API token in the pods; with it, exactly one
      ClusterRole (get, list, watch on serviceaccounts, nothing else), exactly one
      ClusterRoleBinding of it to the pods' ServiceAccount in the release namespace, the token
      mounted, --watch-service-accounts in the args, and IRSA working in the binary with the
      chart's flags; the objects point at each other (webhook ->
      Service -> named container ports <- probes and flags; selectors -> the webhook pods; the
      mounted TLS Secret; the associations ConfigMap, read by the binary itself); every container
      flag is one `BINARY serve --help` lists; --miss-lookup-timeout (plus, when watching,
      --service-account-lookup-grace-period) is below timeoutSeconds; the hardening; the
      certificate's names; the checksum annotation follows the configuration; the NetworkPolicy
      (networkPolicy.*, read from the merged values) is absent when off, and when on is exactly
      one, Ingress only, over the webhook pods, with one rule per named container port (the ones
      the Service targets), admitting exactly the peers of webhookFrom and metricsFrom; the
      PrometheusRule and the Grafana dashboard ConfigMap (prometheusRule.*, grafanaDashboard.*)
      are absent when off, and when on are exactly one each: the alerts the values turn on, each
      with its `for`, severity, summary and description, only those of the features in use
      (the EKS sync and miss lookups with --cluster-name, the ServiceAccount watch with
      --watch-service-accounts), every expression accepted by `promtool check rules` (the
      dashboard's queries as recording rules, Grafana's variables filled in), and with the
      default selector `promtool test rules`: each alert fires on the series of a webhook in its
      trouble once its `for` has passed, not before, and none on a healthy webhook's; promtool
      missing is a failure.
With --bad-values, it checks that misspelt keys and bad combinations fail with a clear message.
With --queries VALUES, it prints as JSON every PromQL expression the PrometheusRule and the
dashboard hold for those values (`[{"origin": ..., "expr": ...}]`), for the test that compares
their metric names with what a running webhook exports.

Prints one summary line per values file, "LABEL: tls=MODE associations=SOURCE: ...: ok" (the mode
as read from the render; before the status, "no RBAC" or what watching ServiceAccounts added);
exits 1 with every failure listed if anything is wrong.
"""
import argparse
import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import helm_python
    import jsonschema
    import kubernetes_validate
    import yaml
except ImportError as error:
    sys.exit(f"error: {error}; {sys.executable} needs helm-python-sdk, kubernetes-validate and pyyaml "
             "(scripts/test.sh installs them into .venv: pip install --ignore-requires-python helm-python-sdk)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "pod-identity-webhook")
CRD_SCHEMAS = os.path.join(ROOT, "scripts", "chart-schemas")
RELEASE = "pod-identity-webhook"
NAMESPACE = "pod-identity-webhook"
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration"}
# The one rule of the ClusterRole with serviceAccounts.watch (verbs compared sorted).
SERVICE_ACCOUNT_RULES = [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]}]
API_TOKEN_DIRECTORY = "/var/run/secrets/kubernetes.io/serviceaccount"  # where automount puts the token
SKIP_LABEL = "eks.amazonaws.com/skip-pod-identity-webhook"
MISS_LOOKUP_DEFAULT = "1s"  # `serve --help`: the binary's default --miss-lookup-timeout
API_TIMEOUT_DEFAULT = 10  # the API server's default timeoutSeconds
GRACE_PERIOD_DEFAULT = "1s"  # `serve --help`: --service-account-lookup-grace-period
# `serve --help`: --annotation-prefix, --token-mount-path, --token-audience
ANNOTATION_PREFIX_DEFAULT = "eks.amazonaws.com"
IRSA_MOUNT_PATH_DEFAULT = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
IRSA_AUDIENCE_DEFAULT = "sts.amazonaws.com"
# The alerts of prometheusRule.alerts, by values key. EKS_ALERTS need --cluster-name (and miss
# lookups turned on), WATCH_ALERTS --watch-service-accounts; the others are always rendered when on.
ALERTS = {"noReadyReplica": "PodIdentityWebhookNoReadyReplica", "eksSyncFailing": "PodIdentityWebhookEKSSyncFailing",
          "serviceAccountWatchDown": "PodIdentityWebhookServiceAccountWatchDown",
          "errorDecisions": "PodIdentityWebhookErrorDecisions",
          "rejectedRequests": "PodIdentityWebhookRejectedRequests",
          "missLookupsFailing": "PodIdentityWebhookMissLookupsFailing"}
EKS_ALERTS, WATCH_ALERTS = {"eksSyncFailing", "missLookupsFailing"}, {"serviceAccountWatchDown"}
DASHBOARD_TEMPLATE = "templates/grafana-dashboard.yaml"
# What Grafana puts in place of its variables, so a dashboard query is plain PromQL for promtool.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "${datasource}": "",
                     "$namespace": ".*", "$job": ".*"}
PROMTOOL_MISSING = ("promtool is not on PATH: it checks the alert and dashboard expressions (Debian's "
                    "`prometheus` package; scripts/test.sh installs it)")
# The chart's default networkPolicy.metricsFrom: the pods of the monitoring namespace.
METRICS_FROM_DEFAULT = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


class Checker:
    """Collects failures for one values file instead of stopping at the first."""

    def __init__(self):
        self.failures = []

    def expect(self, condition, message):
        if not condition:
            self.failures.append(message)
        return bool(condition)

    def equal(self, actual, expected, what):
        return self.expect(actual == expected, f"{what}: expected {shorten(expected)}, got {shorten(actual)}")


def shorten(value, limit=240):
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# ---------------------------------------------------------------------------------------------
# Rendering and validation


def load_values(argument):
    if argument == "default":
        return {}
    with open(argument) as handle:
        return yaml.safe_load(handle) or {}


def render(chart, values):
    """The rendered objects, in template order, plus the raw NOTES.txt."""
    rendered = chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE)
    objects, notes = [], None
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            notes = rendered[path]
            continue
        objects += [(path, document) for document in yaml.safe_load_all(rendered[path]) if document is not None]
    return objects, notes


def validate(check, objects, version):
    """Validates every object; returns (built-in count, CRD count)."""
    builtin = custom = 0
    for path, document in objects:
        name = f"{path}: {document.get('kind')}/{document.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(document, version, strict=True)
            builtin += 1
            continue
        except kubernetes_validate.SchemaNotFoundError:
            pass
        except kubernetes_validate.ValidationError as error:
            location = ".".join(map(str, error.path)) or "(top)"
            check.expect(False, f"{name} is not a valid Kubernetes {version} object at {location}: {error.message}")
            continue
        schema_file = os.path.join(CRD_SCHEMAS, f"{document.get('apiVersion', '').replace('/', '_')}_"
                                                f"{document.get('kind')}.json")
        if not check.expect(os.path.exists(schema_file), f"{name}: no schema in kubernetes-validate nor in {CRD_SCHEMAS}"):
            continue
        with open(schema_file) as handle:
            schema = json.load(handle)
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path))
        for error in errors:
            location = ".".join(map(str, error.path)) or "(top)"
            check.expect(False, f"{name} does not match its CRD schema at {location}: {error.message}")
        custom += not errors
    return builtin, custom


# ---------------------------------------------------------------------------------------------
# Helpers over parsed objects


def of_kind(objects, kind):
    return [document for _, document in objects if document.get("kind") == kind]


def only(check, objects, kind):
    found = of_kind(objects, kind)
    check.expect(len(found) == 1, f"expected exactly one {kind}, found {len(found)}")
    return found[0] if len(found) == 1 else None


def selector_matches(selector, labels):
    """Label selector semantics (matchLabels and matchExpressions, all ANDed)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if ((operator == "In" and not (present and labels[key] in values))
                or (operator == "NotIn" and present and labels[key] in values)
                or (operator == "Exists" and not present) or (operator == "DoesNotExist" and present)):
            return False
    return True


def flags_of(arguments):
    """{flag: value} of `--flag=value`, `--flag value` and bare `--flag` arguments."""
    flags, index = {}, 0
    while index < len(arguments):
        argument = arguments[index]
        if argument.startswith("--"):
            if "=" in argument:
                name, value = argument.split("=", 1)
            elif index + 1 < len(arguments) and not arguments[index + 1].startswith("-"):
                name, value = argument, arguments[index + 1]
                index += 1
            else:
                name, value = argument, None
            flags[name] = value
        index += 1
    return flags


def help_flags(binary, command):
    output = subprocess.run([binary, command, "--help"], capture_output=True, text=True, check=False)
    text = output.stdout + output.stderr
    flags = set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", text))
    if output.returncode != 0 or "--help" not in flags:
        sys.exit(f"error: `{binary} {command} --help` did not print the flags (exit {output.returncode}): {text[:400]}")
    return flags


def duration_ms(text):
    """The binary's duration forms: 500ms, 10s, 2m, 1h or plain seconds."""
    for suffix, scale in (("ms", 1), ("s", 1000), ("m", 60000), ("h", 3600000)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text) * 1000


def openssl(arguments, stdin=None):
    output = subprocess.run(["openssl", *arguments], input=stdin, capture_output=True, text=True, check=False)
    return output.returncode, output.stdout + output.stderr


def named_port(container, reference):
    """The containerPort a probe or Service port refers to (by name or number), or None."""
    for port in container.get("ports") or []:
        if reference in (port.get("name"), port.get("containerPort")):
            return port.get("containerPort")
    return None


def run_mutate(binary, arguments, namespace, account, documents=()):
    """`BINARY mutate` of a probe pod, with `documents` (e.g. its ServiceAccount) given before it."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": namespace},
           "spec": {"serviceAccountName": account, "containers": [{"name": "app", "image": "busybox"}]}}
    stream = yaml.safe_dump_all([*documents, pod])
    return subprocess.run([binary, "mutate", *arguments], input=stream, capture_output=True, text=True, check=False)


def mutation_arguments(flags, mutate_flags):
    """The chart's flags that `mutate` shares with `serve`, but the association source."""
    return [name if value is None else f"{name}={value}" for name, value in flags.items()
            if name in mutate_flags and name not in ("--associations-file", "--association")]


# ---------------------------------------------------------------------------------------------
# The checks


def check_pod(check, deployment, serve_flags):
    """The pod template: hardening, flags `serve` knows, ports and probes that agree. Returns the flags."""
    pod = deployment["spec"]["template"]["spec"]
    security = pod.get("securityContext") or {}
    check.equal(security.get("runAsNonRoot"), True, "pod runAsNonRoot")
    check.expect(security.get("runAsUser") not in (None, 0), f"pod runAsUser is set and not root: {security}")
    check.equal((security.get("seccompProfile") or {}).get("type"), "RuntimeDefault", "pod seccompProfile")
    containers = pod.get("containers") or []
    if not check.equal(len(containers), 1, "number of containers"):
        return {}
    container = containers[0]
    context = container.get("securityContext") or {}
    check.equal(context.get("runAsNonRoot"), True, "container runAsNonRoot")
    check.expect(context.get("runAsUser") != 0, "container runAsUser is not root")
    check.equal(context.get("readOnlyRootFilesystem"), True, "container readOnlyRootFilesystem")
    check.equal(context.get("allowPrivilegeEscalation"), False, "container allowPrivilegeEscalation")
    check.expect(context.get("privileged") in (None, False), "container is not privileged")
    check.equal(context.get("capabilities"), {"drop": ["ALL"]}, "container capabilities")
    check.equal((context.get("seccompProfile") or {}).get("type"), "RuntimeDefault", "container seccompProfile")
    resources = container.get("resources") or {}
    check.expect(resources.get("requests") and (resources.get("limits") or {}).get("memory"),
                 "container has resource requests and a memory limit")

    check.equal(container.get("command"), ["/pod-identity-webhook"], "container command")
    arguments = container.get("args") or []
    check.equal(arguments[:1], ["serve"], "first container argument")
    flags = flags_of(arguments[1:])
    unknown = sorted(set(flags) - serve_flags)
    check.expect(not unknown, f"container args use flags `serve --help` does not list: {unknown}")

    ports = {port.get("name"): port.get("containerPort") for port in container.get("ports") or []}
    check.equal(sorted(ports), ["https", "metrics"], "names of the container ports")
    check.equal(flags.get("--port"), str(ports.get("https")), "--port is the https container port")
    check.equal(flags.get("--metrics-port"), str(ports.get("metrics")), "--metrics-port is the metrics container port")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        check.equal(get.get("path"), path, f"{probe} path")
        if check.expect(isinstance(get.get("port"), str), f"{probe} uses a named port, got {get.get('port')!r}"):
            check.equal(named_port(container, get["port"]), ports.get("metrics"),
                        f"{probe} port {get['port']!r} (must name the metrics container port)")
        check.expect(get.get("scheme", "HTTP") == "HTTP", f"{probe} is plain HTTP on the metrics port")

    # --tls-cert and --tls-key lie in a read-only mount of a Secret volume.
    mounts = {mount["mountPath"]: mount for mount in container.get("volumeMounts") or []}
    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    for flag in ("--tls-cert", "--tls-key"):
        mount = mounts.get(os.path.dirname(flags.get(flag) or ""))
        if check.expect(mount is not None, f"{flag} {flags.get(flag)!r} lies in a volume mount"):
            check.equal(mount.get("readOnly"), True, f"the mount of {flag} is read-only")
            check.expect("secret" in volumes.get(mount["name"], {}), f"the volume of {flag} is a Secret")

    checksum = (deployment["spec"]["template"]["metadata"].get("annotations") or {}).get("checksum/config", "")
    check.expect(re.fullmatch(r"[0-9a-f]{64}", checksum), f"checksum/config annotation is a sha256, got {checksum!r}")
    return flags


def check_wiring(check, objects, deployment, service, configuration, flags):
    """Every selector finds the webhook pods; the Service reaches their ports; the webhook calls the Service."""
    template = deployment["spec"]["template"]
    pod_labels, container = template["metadata"].get("labels") or {}, template["spec"]["containers"][0]
    selectors = [("the Deployment's selector", deployment["spec"]["selector"]),
                 ("the Service's selector", {"matchLabels": service["spec"].get("selector") or {}})]
    selectors += [(f"PodDisruptionBudget {b['metadata']['name']}", b["spec"].get("selector") or {})
                  for b in of_kind(objects, "PodDisruptionBudget")]
    selectors += [(f"topology spread over {c.get('topologyKey')}", c.get("labelSelector") or {})
                  for c in template["spec"].get("topologySpreadConstraints") or []]
    for what, selector in selectors:
        check.expect(selector_matches(selector, pod_labels), f"{what} selects the webhook pods ({pod_labels})")
    accounts = of_kind(objects, "ServiceAccount")
    if accounts:
        check.equal(template["spec"].get("serviceAccountName"), accounts[0]["metadata"]["name"],
                    "the Deployment runs as the chart's ServiceAccount")

    service_ports = {port.get("name"): port for port in service["spec"]["ports"]}
    for name, flag in (("https", "--port"), ("metrics", "--metrics-port")):
        target = (service_ports.get(name) or {}).get("targetPort")
        check.equal(str(named_port(container, target)), flags.get(flag),
                    f"Service port {name} (targetPort {target!r}) reaches the container port of {flag}")
    for monitor in of_kind(objects, "ServiceMonitor"):
        check.expect(selector_matches(monitor["spec"]["selector"], service["metadata"].get("labels") or {}),
                     "the ServiceMonitor selects the Service")
        for endpoint in monitor["spec"]["endpoints"]:
            check.expect(endpoint.get("port") == "metrics" and endpoint.get("path") == "/metrics",
                         f"the ServiceMonitor scrapes the Service's metrics port at /metrics, got {endpoint}")

    check.expect("namespace" not in configuration["metadata"], "the MutatingWebhookConfiguration is cluster-scoped")
    webhooks = configuration.get("webhooks") or []
    if not check.equal(len(webhooks), 1, "number of webhooks"):
        return None
    webhook = webhooks[0]
    name = webhook.get("name", "")
    check.expect(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}", name),
                 f"webhook name {name!r} is not a DNS name of three or more labels")
    check.equal(webhook.get("clientConfig", {}).get("service"),
                {"name": service["metadata"]["name"], "namespace": service["metadata"]["namespace"],
                 "path": "/mutate", "port": (service_ports.get("https") or {}).get("port")},
                "webhook clientConfig.service (the rendered Service's name, namespace and https port)")
    check.equal([(r.get("operations"), r.get("apiGroups"), r.get("apiVersions"), r.get("resources"))
                 for r in webhook.get("rules") or []], [(["CREATE"], [""], ["v1"], ["pods"])], "webhook rules")
    check.equal(webhook.get("sideEffects"), "None", "sideEffects")
    check.expect("v1" in (webhook.get("admissionReviewVersions") or []), "admissionReviewVersions has v1")

    selector = webhook.get("objectSelector") or {}
    check.expect({"key": SKIP_LABEL, "operator": "DoesNotExist"} in (selector.get("matchExpressions") or []),
                 f"objectSelector has {SKIP_LABEL} DoesNotExist")
    check.expect(not selector_matches(selector, pod_labels),
                 f"objectSelector leaves out the webhook's own pods (labels {pod_labels})")
    check.expect(selector_matches(selector, {}), "objectSelector sends an unlabelled pod")
    lookalike = {key: value for key, value in pod_labels.items() if key.startswith("app.kubernetes.io/")}
    lookalike["app.kubernetes.io/name"] = "something-else"
    check.expect(selector_matches(selector, lookalike),
                 f"objectSelector sends an ordinary pod that shares some labels with the webhook's ({lookalike})")
    return webhook


def tls_mode(objects, webhook):
    if of_kind(objects, "Certificate"):
        return "certManager"
    if of_kind(objects, "Secret"):
        return "certs"
    return "secret" if "caBundle" in webhook.get("clientConfig", {}) else "?"


def check_tls(check, mode, objects, service, configuration, webhook, pod, flags):
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    dns_names = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
    client = webhook.get("clientConfig", {})
    annotations = configuration["metadata"].get("annotations") or {}
    mount = next((m for m in pod["containers"][0].get("volumeMounts") or []
                  if m["mountPath"] == os.path.dirname(flags.get("--tls-cert") or "")), {})
    volume = next((v for v in pod.get("volumes") or [] if v["name"] == mount.get("name")), {})
    mounted = (volume.get("secret") or {}).get("secretName")  # the Secret behind --tls-cert
    certificates = {c["metadata"]["name"]: c for c in of_kind(objects, "Certificate")}
    issuers = {i["metadata"]["name"]: i for i in of_kind(objects, "Issuer")}
    secrets = of_kind(objects, "Secret")

    if mode == "certManager":
        check.expect("caBundle" not in client, "no caBundle in certManager mode (cert-manager injects it)")
        check.equal(len(secrets), 0, "number of Secrets the chart renders in certManager mode")
        injected = annotations.get("cert-manager.io/inject-ca-from", "")
        serving = certificates.get(injected.split("/", 1)[-1]) if injected.startswith(f"{NAMESPACE}/") else None
        if not check.expect(serving is not None, f"inject-ca-from {injected!r} names a Certificate of the release"):
            return
        check.equal(serving["spec"].get("dnsNames"), dns_names, "Certificate dnsNames (the Service's four names)")
        check.equal(serving["spec"].get("secretName"), mounted, "the Certificate's Secret is the one the pods mount")
        check.expect("server auth" in (serving["spec"].get("usages") or ["server auth"]),
                     "the Certificate allows server auth")
        reference = serving["spec"]["issuerRef"]
        ca_issuer = issuers.get(reference.get("name")) if reference.get("kind") == "Issuer" else None
        if ca_issuer is None:  # an issuer of the cluster's: the chart makes nothing else
            check.equal(len(issuers) + len(certificates), 1, f"only the serving Certificate with issuer {reference}")
            return
        ca_secret = (ca_issuer["spec"].get("ca") or {}).get("secretName")
        ca_certs = [c for c in certificates.values() if c["spec"].get("secretName") == ca_secret]
        if check.expect(len(ca_certs) == 1 and ca_certs[0]["spec"].get("isCA") is True,
                        f"the chart's CA Issuer {reference.get('name')}'s Secret comes from a CA Certificate"):
            root = issuers.get(ca_certs[0]["spec"]["issuerRef"]["name"])
            check.expect(root is not None and "selfSigned" in root["spec"],
                         "the CA Certificate is issued by the chart's self-signed Issuer")
        return

    check.equal(len(certificates) + len(issuers), 0, f"cert-manager objects in {mode} mode")
    check.expect("cert-manager.io/inject-ca-from" not in annotations, f"no inject-ca-from in {mode} mode")
    bundle = client.get("caBundle", "")
    try:
        ca_pem = base64.b64decode(bundle, validate=True).decode()
    except ValueError:
        check.expect(False, f"caBundle is not base64: {bundle[:40]!r}")
        return
    status, text = openssl(["x509", "-noout", "-subject"], stdin=ca_pem)
    check.expect(status == 0, f"caBundle is not a PEM certificate: {text}")
    if mode != "certs" or not check.equal(len(secrets), 1, "number of Secrets in certs mode"):
        return
    secret = secrets[0]
    check.equal(secret.get("type"), "kubernetes.io/tls", "Secret type")
    check.equal(secret["metadata"]["name"], mounted, "the chart's Secret is the one the pods mount")
    data = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    check.equal(data.get("ca.crt"), ca_pem, "Secret ca.crt is the caBundle's CA")
    with tempfile.TemporaryDirectory() as directory:
        files = {key: os.path.join(directory, key) for key in ("tls.crt", "tls.key", "ca.crt")}
        for key, file in files.items():
            with open(file, "w") as handle:
                handle.write(data.get(key, ""))
        status, text = openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", files["tls.crt"]])
        sans = re.findall(r"DNS:([^,\s]+)", text)
        check.expect(status == 0 and set(dns_names) <= set(sans),
                     f"tls.crt subjectAltName covers {dns_names}, got {sans or text.strip()}")
        status, text = openssl(["verify", "-no_check_time", "-CAfile", files["ca.crt"], files["tls.crt"]])
        check.expect(status == 0, f"tls.crt is signed by the caBundle's CA: {text.strip()}")
        _, certificate_key = openssl(["x509", "-noout", "-pubkey", "-in", files["tls.crt"]])
        _, private_key = openssl(["pkey", "-pubout", "-in", files["tls.key"]])
        check.expect("PUBLIC KEY" in certificate_key and certificate_key == private_key, "tls.key belongs to tls.crt")


def check_associations(check, source, user_values, objects, webhook, pod, flags, binary):
    config_maps = of_kind(objects, "ConfigMap")
    mounts = {m["mountPath"]: m for m in pod["containers"][0].get("volumeMounts") or []}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    if source == "eks":
        timeout = flags.get("--miss-lookup-timeout") or MISS_LOOKUP_DEFAULT
        seconds = webhook.get("timeoutSeconds", API_TIMEOUT_DEFAULT)
        check.expect(duration_ms(timeout) < seconds * 1000,
                     f"--miss-lookup-timeout ({timeout}) must stay below the webhook's timeoutSeconds ({seconds})")
        check.equal(len(config_maps), 0, "number of ConfigMaps in EKS mode")
        check.expect("--associations-file" not in flags, "--cluster-name and --associations-file together")
        return
    check.expect(source == "file", "the container args name an association source (--cluster-name or "
                                   "--associations-file)")
    path = flags.get("--associations-file") or ""
    mount = mounts.get(os.path.dirname(path)) or {}
    check.expect(mount, f"--associations-file {path!r} lies in a volume mount")
    check.expect("subPath" not in mount and "subPathExpr" not in mount,
                 "the associations ConfigMap is mounted as a directory (a subPath never sees updates)")
    check.equal(mount.get("readOnly"), True, "associations mount is read-only")
    if not check.equal(len(config_maps), 1, "number of ConfigMaps in file mode"):
        return
    check.equal(((volumes.get(mount.get("name")) or {}).get("configMap") or {}).get("name"),
                config_maps[0]["metadata"]["name"], "the associations volume is the rendered ConfigMap")
    content = (config_maps[0].get("data") or {}).get(os.path.basename(path))
    if not check.expect(content is not None, f"the ConfigMap has the key {os.path.basename(path)!r} the flag names"):
        return
    # The binary itself reads the rendered file: the pairs of the values are mutated, another is not.
    pairs = ((user_values.get("associations") or {}).get("file") or {}).get("associations") or []
    with tempfile.TemporaryDirectory() as directory:
        file = os.path.join(directory, os.path.basename(path))
        with open(file, "w") as handle:
            handle.write(content)
        probes = [(pair["namespace"], pair["serviceAccount"], "mutated") for pair in pairs]
        for namespace, account, decision in probes + [("not-associated-ns", "nobody", "not-associated")]:
            output = run_mutate(binary, ["-o", "patch", "--associations-file", file], namespace, account)
            check.expect(output.returncode == 0 and decision in output.stderr,
                         f"the binary reading the rendered associations file decides {decision} for "
                         f"{namespace}/{account}: exit {output.returncode}, {output.stderr.strip()}")


def check_mutation_flags(check, flags, binary, mutate_flags):
    """The mutation flags the chart renders are accepted, values included, by the binary's `mutate`."""
    arguments = mutation_arguments(flags, mutate_flags)
    output = run_mutate(binary, ["-o", "json", *arguments], "shop", "default")
    check.expect(output.returncode == 0,
                 f"`mutate {' '.join(arguments)}` refuses the chart's mutation flags: {output.stderr.strip()}")


def watch_requested(user_values):
    """Whether the values file asks for `serviceAccounts.watch` (the chart's default is off)."""
    return (user_values.get("serviceAccounts") or {}).get("watch") is True


def check_service_accounts(check, watch, objects, deployment, webhook, source, flags, binary, mutate_flags):
    """RBAC and the API token. Without serviceAccounts.watch: no RBAC object, no token, no watch.
    With it: exactly the read-only ServiceAccounts ClusterRole, bound to the pods' ServiceAccount,
    the token mounted, the watch flag, and IRSA working with the chart's flags. Returns a summary."""
    pod = deployment["spec"]["template"]["spec"]
    rbac = [(path, document) for path, document in objects if document.get("kind") in RBAC_KINDS
            or document.get("apiVersion", "").startswith("rbac.authorization.k8s.io/")]
    watching = "--watch-service-accounts" in flags and flags["--watch-service-accounts"] in (None, "true")
    containers = (pod.get("containers") or []) + (pod.get("initContainers") or [])
    token_mounts = [mount.get("mountPath") for container in containers
                    for mount in container.get("volumeMounts") or []
                    if (mount.get("mountPath") or "").rstrip("/").startswith(API_TOKEN_DIRECTORY)]
    token_volumes = [volume.get("name") for volume in pod.get("volumes") or [] if any(
        "serviceAccountToken" in item for item in (volume.get("projected") or {}).get("sources") or [])]
    accounts = of_kind(objects, "ServiceAccount")

    if not watch:
        for path, document in rbac:
            name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
            check.expect(False, f"{path}: RBAC object {name} without serviceAccounts.watch "
                                "(the webhook then needs no Kubernetes API access)")
        check.equal(pod.get("automountServiceAccountToken"), False,
                    "the pods' automountServiceAccountToken without serviceAccounts.watch (no API access, no token)")
        for account in accounts:
            check.expect(account.get("automountServiceAccountToken") is not True,
                         f"ServiceAccount {account['metadata']['name']} does not mount its API token by default")
        check.expect(not token_volumes and not token_mounts, "no API token mounted without serviceAccounts.watch, "
                                                             f"got volumes {token_volumes}, mounts {token_mounts}")
        check.expect(not watching, "--watch-service-accounts in the container args without serviceAccounts.watch "
                                   "(no RBAC and no token: the watch would fail)")
        check.expect("--service-account-lookup-grace-period" not in flags,
                     "--service-account-lookup-grace-period is rendered only with serviceAccounts.watch")
        return "no RBAC, no API token" if not rbac else f"{len(rbac)} RBAC objects without serviceAccounts.watch"

    check.expect(watching, "serviceAccounts.watch is true but the container args lack --watch-service-accounts")
    check.equal(pod.get("automountServiceAccountToken"), True,
                "the pods' automountServiceAccountToken with serviceAccounts.watch (the watch needs the API token)")
    check.expect(not token_mounts, f"nothing else is mounted over the API token's directory, got {token_mounts}")
    check.expect("--kubeconfig" not in flags, "the pods use the in-cluster configuration (no --kubeconfig)")
    kinds = sorted(document.get("kind") for _, document in rbac)
    check.equal(kinds, ["ClusterRole", "ClusterRoleBinding"],
                "RBAC objects with serviceAccounts.watch (exactly one ClusterRole and one ClusterRoleBinding)")
    roles, bindings = of_kind(objects, "ClusterRole"), of_kind(objects, "ClusterRoleBinding")
    role = roles[0] if len(roles) == 1 else None
    if role is not None:
        rules = [{key: sorted(value) if key == "verbs" and isinstance(value, list) else value
                  for key, value in rule.items()} for rule in role.get("rules") or []]
        check.equal(rules, SERVICE_ACCOUNT_RULES, f"ClusterRole {role['metadata']['name']} rules "
                                                  "(only get, list, watch on serviceaccounts; verbs in any order)")
        check.expect("aggregationRule" not in role, f"ClusterRole {role['metadata']['name']} aggregates no other role")
    if len(bindings) == 1:
        binding = bindings[0]
        what = f"ClusterRoleBinding {binding['metadata']['name']}"
        check.equal(binding.get("roleRef"), {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                             "name": role["metadata"]["name"] if role else None},
                    f"{what} roleRef (the rendered ClusterRole)")
        account = pod.get("serviceAccountName")
        check.equal(binding.get("subjects"), [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
                    f"{what} subjects (the pods' ServiceAccount in the release namespace)")
        if accounts:
            check.equal(account, accounts[0]["metadata"]["name"], f"{what} binds the rendered ServiceAccount")

    grace = flags.get("--service-account-lookup-grace-period") or GRACE_PERIOD_DEFAULT
    miss = (flags.get("--miss-lookup-timeout") or MISS_LOOKUP_DEFAULT) if source == "eks" else "0"
    seconds = webhook.get("timeoutSeconds", API_TIMEOUT_DEFAULT)
    check.expect(duration_ms(grace) + duration_ms(miss) < seconds * 1000,
                 f"--service-account-lookup-grace-period ({grace}) plus the miss lookup ({miss}) must stay below "
                 f"the webhook's timeoutSeconds ({seconds})")

    # The binary, with the chart's mutation flags, gives IRSA to an unassociated pod whose
    # ServiceAccount has the role-arn annotation under the rendered prefix.
    prefix = flags.get("--annotation-prefix") or ANNOTATION_PREFIX_DEFAULT
    mount = (flags.get("--token-mount-path") or IRSA_MOUNT_PATH_DEFAULT).rstrip("/")
    audience = flags.get("--token-audience") or IRSA_AUDIENCE_DEFAULT
    role_arn = "arn:aws:iam::111122223333:role/irsa-probe"
    account_document = {"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "irsa-app", "namespace": "irsa-probe",
                                     "annotations": {f"{prefix}/role-arn": role_arn}}}
    output = run_mutate(binary, ["-o", "json", *mutation_arguments(flags, mutate_flags),
                                 "--association", "another-namespace/another-account"],
                        "irsa-probe", "irsa-app", [account_document])
    try:
        mutated = json.loads(output.stdout)
        env = {e["name"]: e.get("value") for e in mutated["spec"]["containers"][0].get("env") or []}
        volume = next(v for v in mutated["spec"].get("volumes") or [] if v["name"] == "aws-iam-token")
        token = volume["projected"]["sources"][0]["serviceAccountToken"]
        got = (env.get("AWS_ROLE_ARN"), env.get("AWS_WEB_IDENTITY_TOKEN_FILE"), token.get("audience"))
    except (ValueError, KeyError, IndexError, StopIteration, TypeError):
        got = f"exit {output.returncode}: {output.stderr.strip()}"
    check.equal(got, (role_arn, f"{mount}/token", audience),
                f"IRSA from the binary with the chart's flags for a ServiceAccount annotated {prefix}/role-arn "
                "(AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, token audience)")
    token = "API token" if pod.get("automountServiceAccountToken") is True else "no API token"
    return f"ServiceAccounts watched: {', '.join(kinds) or 'no RBAC'}, {token}"


def check_network_policy(check, settings, objects, deployment, service):
    """networkPolicy.enabled off: no NetworkPolicy. On: exactly one, in the release namespace,
    over the webhook pods, Ingress only, one rule per named container port the Service targets,
    `from` exactly the values' peers (absent when the list is empty: any source). Returns a summary."""
    policies = of_kind(objects, "NetworkPolicy")
    if settings.get("enabled") is not True:
        check.equal(len(policies), 0, "number of NetworkPolicies with networkPolicy.enabled false")
        return "no NetworkPolicy"
    if not check.equal(len(policies), 1, "number of NetworkPolicies with networkPolicy.enabled true"):
        return "NetworkPolicy?"
    policy = policies[0]
    name = f"NetworkPolicy {policy['metadata'].get('name')}"
    spec = policy.get("spec") or {}
    check.equal(policy["metadata"].get("namespace"), NAMESPACE, f"{name} namespace (the release's)")
    template = deployment["spec"]["template"]
    pod_labels, container = template["metadata"].get("labels") or {}, template["spec"]["containers"][0]
    selector = spec.get("podSelector") or {}
    check.expect(selector_matches(selector, pod_labels),
                 f"{name} podSelector {selector} must select the webhook pods (the Deployment's pod labels "
                 f"{pod_labels})")
    check.expect(not selector_matches(selector, {}),
                 f"{name} podSelector {selector} must select the webhook pods only, not every pod of the namespace")
    check.equal(spec.get("policyTypes"), ["Ingress"],
                f"{name} policyTypes (Ingress only: the EKS API, STS and the Kubernetes API stay reachable)")
    check.expect("egress" not in spec, f"{name} must have no egress rules (egress stays open)")

    # The Service's targetPorts name the container ports; one rule for each, by that name.
    targets = {port.get("name"): port.get("targetPort") for port in service["spec"]["ports"]}
    rules = {}
    for index, rule in enumerate(spec.get("ingress") or []):
        ports = rule.get("ports") or []
        if not check.equal(len(ports), 1, f"{name} ingress[{index}]: number of ports"):
            continue
        port = ports[0]
        check.expect(port.get("protocol", "TCP") == "TCP", f"{name} ingress[{index}] port must be TCP, got {port}")
        reference = port.get("port")
        if not check.expect(isinstance(reference, str) and named_port(container, reference) is not None,
                            f"{name} ingress[{index}] port {reference!r} must name a container port "
                            f"(the container's: {[p.get('name') for p in container.get('ports') or []]})"):
            continue
        check.expect(reference not in rules, f"{name} has two rules for port {reference!r}")
        rules[reference] = rule
    for service_port, target in sorted(targets.items()):
        check.expect(target in rules, f"{name} has no ingress rule for the container port {target!r} (the "
                                      f"Service's {service_port} targetPort): it would refuse that traffic")
    extra = sorted(set(rules) - set(targets.values()))
    check.expect(not extra, f"{name} admits container ports the Service does not target: {extra}")
    peers = {"https": settings.get("webhookFrom") or [], "metrics": settings.get("metricsFrom") or []}
    for service_port, key in (("https", "webhookFrom"), ("metrics", "metricsFrom")):
        rule = rules.get(targets.get(service_port))
        if rule is None:
            continue  # reported above
        what = f"{name} rule for the {service_port} port"
        if peers[service_port]:
            check.equal(rule.get("from"), peers[service_port], f"{what}: `from` (networkPolicy.{key})")
        else:
            check.expect("from" not in rule, f"{what}: networkPolicy.{key} is empty, so `from` must be absent "
                                             f"(any source), got {rule.get('from')!r}")
    return (f"NetworkPolicy (https from {len(peers['https']) or 'anywhere'}, "
            f"metrics from {len(peers['metrics']) or 'anywhere'})")


def check_network_policy_defaults(check, chart, deployment, service, version):
    """The chart's defaults with only networkPolicy.enabled: https from anywhere, metrics from
    the monitoring namespace; the NetworkPolicy validates strictly."""
    inner = Checker()
    objects, _ = render(chart, {"networkPolicy": {"enabled": True}})
    validate(inner, [(path, document) for path, document in objects if document.get("kind") == "NetworkPolicy"],
             version)
    check_network_policy(inner, {"enabled": True, "webhookFrom": [], "metricsFrom": METRICS_FROM_DEFAULT},
                         objects, deployment, service)
    for failure in inner.failures:
        check.expect(False, f"defaults with networkPolicy.enabled=true: {failure}")


def promtool_check(check, groups, what):
    """`promtool check rules` on rule groups; a missing promtool is a failure, never a skip."""
    promtool = shutil.which("promtool")
    if not check.expect(promtool, f"{what}: {PROMTOOL_MISSING}"):
        return
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        yaml.safe_dump({"groups": groups}, handle)
        handle.flush()
        output = subprocess.run([promtool, "check", "rules", handle.name], capture_output=True, text=True,
                                check=False)
    check.expect(output.returncode == 0, f"{what}: promtool check rules: {(output.stdout + output.stderr).strip()}")


def minutes(duration):
    """A Prometheus duration of the values (`5m`, `1h30m`, `0m`) in whole minutes, rounded up."""
    total = 0.0
    for amount, unit in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", duration or "0"):
        total += int(amount) * {"ms": 1 / 60000, "s": 1 / 60, "m": 1, "h": 60, "d": 1440, "w": 10080,
                                "y": 525600}[unit]
    return int(-(-total // 1))


# For each alert: series of a webhook in trouble (values in promtool's expanding notation, one
# sample a minute) and the labels the alert then carries, besides severity. The labels are those
# the chart's ServiceMonitor gives the webhook's series.
SCRAPED = 'job="pod-identity-webhook", namespace="pod-identity-webhook", pod="webhook-1"'
ALERT_SCENARIOS = {
    "PodIdentityWebhookNoReadyReplica": (
        [("kube_deployment_status_replicas_available{namespace=\"pod-identity-webhook\", "
          "deployment=\"pod-identity-webhook\"}", "2 2 0x80")],
        {"namespace": "pod-identity-webhook", "deployment": "pod-identity-webhook"}),
    "PodIdentityWebhookEKSSyncFailing": (
        [(f"pod_identity_webhook_eks_last_successful_sync_timestamp_seconds{{{SCRAPED}}}", "0 60 120 120x80")],
        {"job": "pod-identity-webhook", "namespace": "pod-identity-webhook", "pod": "webhook-1"}),
    "PodIdentityWebhookServiceAccountWatchDown": (
        [(f"pod_identity_webhook_service_account_watch_restarts_total{{{SCRAPED}, reason=\"error\"}}",
          "0+1x80")],
        {"namespace": "pod-identity-webhook", "pod": "webhook-1"}),
    "PodIdentityWebhookErrorDecisions": (
        [(f"pod_identity_webhook_reviews_total{{{SCRAPED}, decision=\"error\"}}", "0+1x80")],
        {"namespace": "pod-identity-webhook", "job": "pod-identity-webhook"}),
    "PodIdentityWebhookRejectedRequests": (
        [(f"pod_identity_webhook_rejected_requests_total{{{SCRAPED}, status=\"415\"}}", "0+6x80")],
        {"namespace": "pod-identity-webhook", "job": "pod-identity-webhook", "status": "415"}),
    "PodIdentityWebhookMissLookupsFailing": (
        [(f"pod_identity_webhook_eks_miss_lookups_total{{{SCRAPED}, result=\"timeout\"}}", "0+3x80"),
         (f"pod_identity_webhook_eks_miss_lookups_total{{{SCRAPED}, result=\"found\"}}", "0+1x80")],
        {"namespace": "pod-identity-webhook", "pod": "webhook-1"}),
}
# The same series of a healthy webhook: no alert may fire.
HEALTHY_SERIES = [
    ("kube_deployment_status_replicas_available{namespace=\"pod-identity-webhook\", "
     "deployment=\"pod-identity-webhook\"}", "2x80"),
    (f"pod_identity_webhook_eks_last_successful_sync_timestamp_seconds{{{SCRAPED}}}", "0+60x80"),
    (f"pod_identity_webhook_service_account_watch_restarts_total{{{SCRAPED}, reason=\"gone\"}}", "0+1x80"),
    (f"pod_identity_webhook_reviews_total{{{SCRAPED}, decision=\"mutated\"}}", "0+50x80"),
    (f"pod_identity_webhook_rejected_requests_total{{{SCRAPED}, status=\"415\"}}", "0x80"),
    (f"pod_identity_webhook_eks_miss_lookups_total{{{SCRAPED}, result=\"timeout\"}}", "0+1x80"),
    (f"pod_identity_webhook_eks_miss_lookups_total{{{SCRAPED}, result=\"found\"}}", "0+3x80"),
]


def promtool_test_alerts(check, groups, alerts):
    """`promtool test rules`: each rendered alert fires on the series of a webhook in that
    trouble, with the labels the description reads, once its `for` has passed (and not before);
    none fires on a healthy webhook. Annotations are left out: they are text, not behaviour."""
    promtool = shutil.which("promtool")
    if not check.expect(promtool, f"PrometheusRule unit tests: {PROMTOOL_MISSING}"):
        return
    bare = [{**group, "rules": [{key: value for key, value in rule.items() if key != "annotations"}
                                for rule in group.get("rules") or []]} for group in groups]
    tests = []
    for name, alert in alerts.items():
        series, labels = ALERT_SCENARIOS[name]
        wait = minutes(alert.get("for"))
        expected = [{"exp_labels": {**labels, "severity": alert["labels"]["severity"]}}]
        evaluations = [{"eval_time": "60m", "alertname": name, "exp_alerts": expected}]
        if wait > 0:
            # Trouble starts at minute 2; before the condition has held for `for`, nothing fires.
            evaluations.append({"eval_time": "2m", "alertname": name, "exp_alerts": []})
        tests.append({"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
                      "alert_rule_test": evaluations})
    tests.append({"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in HEALTHY_SERIES],
                  "alert_rule_test": [{"eval_time": "60m", "alertname": name, "exp_alerts": []} for name in alerts]})
    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, "rules.yaml"), "w") as handle:
            yaml.safe_dump({"groups": bare}, handle)
        with open(os.path.join(directory, "tests.yaml"), "w") as handle:
            yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, handle)
        output = subprocess.run([promtool, "test", "rules", "tests.yaml"], cwd=directory, capture_output=True,
                                text=True, check=False)
    check.expect(output.returncode == 0,
                 f"PrometheusRule unit tests (promtool test rules): {(output.stdout + output.stderr).strip()}")


def grafana_to_promql(expression):
    """A dashboard query with Grafana's variables replaced, as Grafana sends it."""
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


def dashboard_queries(dashboard):
    """(origin, expression) of every panel target and of every `label_values(SERIES, label)` variable."""
    queries = []
    panels = list(dashboard.get("panels") or [])
    while panels:
        panel = panels.pop(0)
        panels += panel.get("panels") or []
        for target in panel.get("targets") or []:
            queries.append((f"dashboard panel {panel.get('title')!r} {target.get('refId')}", target.get("expr") or ""))
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", query or "")
        if variable.get("type") == "query":
            queries.append((f"dashboard variable {variable.get('name')!r}", match.group(1) if match else query or ""))
    return queries


def monitoring_queries(objects):
    """(origin, expression) of every alert of the PrometheusRule and every dashboard query."""
    queries = []
    for rule in of_kind(objects, "PrometheusRule"):
        for group in rule["spec"].get("groups") or []:
            queries += [(f"alert {r.get('alert') or r.get('record')}", str(r.get("expr")))
                        for r in group.get("rules") or []]
    for path, document in objects:
        if path.endswith(DASHBOARD_TEMPLATE):
            for key, text in (document.get("data") or {}).items():
                if key.endswith(".json"):
                    queries += dashboard_queries(json.loads(text))
    return queries


def check_monitoring(check, settings, dashboard_settings, objects, flags):
    """prometheusRule and grafanaDashboard (merged values): absent when off; when on, exactly one
    object each, the alerts asked for (only those of features in use) and expressions promtool
    accepts. Returns a summary."""
    rules = of_kind(objects, "PrometheusRule")
    summary = []
    if settings.get("enabled") is not True:
        check.equal(len(rules), 0, "number of PrometheusRules with prometheusRule.enabled false")
    elif check.equal(len(rules), 1, "number of PrometheusRules with prometheusRule.enabled true"):
        rule = rules[0]
        labels = rule["metadata"].get("labels") or {}
        for key, value in (settings.get("additionalLabels") or {}).items():
            check.equal(labels.get(key), value, f"PrometheusRule label {key} (prometheusRule.additionalLabels)")
        groups = rule["spec"].get("groups") or []
        alerts = {r.get("alert"): r for group in groups for r in group.get("rules") or []}
        eks = "--cluster-name" in flags and duration_ms(flags.get("--miss-lookup-timeout") or MISS_LOOKUP_DEFAULT) > 0
        watching = "--watch-service-accounts" in flags
        for key, name in ALERTS.items():
            wanted = (settings.get("alerts") or {}).get(key) or {}
            applies = ((key not in EKS_ALERTS or "--cluster-name" in flags) and (key != "missLookupsFailing" or eks)
                       and (key not in WATCH_ALERTS or watching))
            expected = wanted.get("enabled") is True and applies
            if not check.equal(name in alerts, expected, f"alert {name} rendered (enabled: {wanted.get('enabled')}, "
                                                         f"its feature in use: {applies})") or not expected:
                continue
            alert = alerts[name]
            check.equal(alert.get("for"), wanted.get("for"), f"alert {name} `for`")
            check.equal((alert.get("labels") or {}).get("severity"), wanted.get("severity"), f"alert {name} severity")
            annotations = alert.get("annotations") or {}
            check.expect(annotations.get("summary") and annotations.get("description"),
                         f"alert {name} has a summary and a description, got {annotations}")
        unknown = sorted(set(alerts) - set(ALERTS.values()))
        check.expect(not unknown, f"PrometheusRule has alerts this check does not know: {unknown}")
        promtool_check(check, groups, "PrometheusRule spec")
        if not settings.get("selector"):
            promtool_test_alerts(check, groups, alerts)
        summary.append(f"PrometheusRule ({len(alerts)} alerts)")

    maps = [document for path, document in objects if path.endswith(DASHBOARD_TEMPLATE)]
    if dashboard_settings.get("enabled") is not True:
        check.equal(len(maps), 0, "number of dashboard ConfigMaps with grafanaDashboard.enabled false")
    elif check.equal(len(maps), 1, "number of dashboard ConfigMaps with grafanaDashboard.enabled true"):
        labels = maps[0]["metadata"].get("labels") or {}
        for key, value in (dashboard_settings.get("labels") or {}).items():
            check.equal(labels.get(key), value, f"dashboard ConfigMap label {key} (grafanaDashboard.labels)")
        files = {key: text for key, text in (maps[0].get("data") or {}).items() if key.endswith(".json")}
        check.equal(len(files), 1, "JSON files in the dashboard ConfigMap")
        for key, text in files.items():
            try:
                dashboard = json.loads(text)
            except ValueError as error:
                check.expect(False, f"dashboard {key} is not JSON: {error}")
                continue
            check.expect(dashboard.get("uid") and dashboard.get("title"), f"dashboard {key} has a uid and a title")
            queries = dashboard_queries(dashboard)
            check.expect(len(queries) >= 10, f"dashboard {key} has queries, got {len(queries)}")
            check.expect(all(expression.strip() for _, expression in queries),
                         f"dashboard {key}: every target and variable has an expression")
            promtool_check(check, [{"name": "dashboard", "rules": [
                {"record": f"pod_identity_webhook_dashboard:query_{index}", "expr": grafana_to_promql(expression)}
                for index, (_, expression) in enumerate(queries)]}], f"dashboard {key} queries")
            summary.append(f"dashboard ({len(queries)} queries)")
    return ", ".join(summary) or "no alerts, no dashboard"


def check_monitoring_defaults(check, chart, version):
    """The chart's defaults with only prometheusRule.enabled and grafanaDashboard.enabled: both
    validate, and the alerts of the file source are there; with every alert turned off, the
    PrometheusRule still validates, with no rule."""
    every_alert_off = {key: {"enabled": False} for key in ALERTS}
    for what, values in (
            ("defaults with prometheusRule and grafanaDashboard enabled",
             {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}),
            ("prometheusRule enabled with every alert off",
             {"prometheusRule": {"enabled": True, "alerts": every_alert_off}})):
        inner = Checker()
        objects, _ = render(chart, values)
        monitoring = [(path, document) for path, document in objects
                      if document.get("kind") == "PrometheusRule" or path.endswith(DASHBOARD_TEMPLATE)]
        validate(inner, monitoring, version)
        merged = chart.merge_values(copy.deepcopy(values))
        deployment = next(document for _, document in objects if document.get("kind") == "Deployment")
        flags = flags_of(deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])[1:])
        check_monitoring(inner, merged["prometheusRule"], merged["grafanaDashboard"], objects, flags)
        for failure in inner.failures:
            check.expect(False, f"{what}: {failure}")


def checksum_of(chart, values):
    for _, document in render(chart, values)[0]:
        if document.get("kind") == "Deployment":
            return document["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    return None


def check_checksum(check, chart, user_values, tls, source):
    """The checksum follows what the pods read, and only that."""
    merged = chart.merge_values(copy.deepcopy(user_values))
    base = checksum_of(chart, user_values)
    check.equal(checksum_of(chart, user_values), base, "checksum/config of the same values rendered twice")

    def changed(edit):
        values = copy.deepcopy(user_values)
        edit(values)
        return checksum_of(chart, values)

    level = "debug" if merged["logging"]["level"] != "debug" else "info"
    check.expect(changed(lambda v: v.setdefault("logging", {}).update(level=level)) != base,
                 "checksum/config changes with the container args (logging.level)")
    check.equal(changed(lambda v: v.update(replicaCount=merged["replicaCount"] + 1)), base,
                "checksum/config with only replicaCount changed")
    if source == "file":
        pairs = merged["associations"]["file"]["associations"] + [{"namespace": "extra", "serviceAccount": "added"}]
        check.expect(changed(lambda v: v.setdefault("associations", {}).setdefault("file", {}).update(
            associations=pairs)) != base, "checksum/config changes with the associations file")
    if tls == "certs":
        certificate = merged["tls"]["certs"]["tlsCrt"] + "\n"
        check.expect(changed(lambda v: v["tls"]["certs"].update(tlsCrt=certificate)) != base,
                     "checksum/config changes with the chart-stored certificate")


def check_defaults(check, objects, deployment, webhook):
    """What the issue asks of the chart's own defaults, independent of values.yaml."""
    pod = deployment["spec"]["template"]["spec"]
    check.equal(deployment["spec"]["replicas"], 2, "default replicas")
    check.equal(pod.get("priorityClassName"), "system-cluster-critical", "default priorityClassName")
    check.equal(pod["securityContext"].get("runAsUser"), 65532, "default runAsUser")
    check.equal(webhook.get("failurePolicy"), "Ignore", "default failurePolicy")
    check.equal(webhook.get("reinvocationPolicy"), "IfNeeded", "default reinvocationPolicy")
    check.equal(len(of_kind(objects, "PodDisruptionBudget")), 1, "default PodDisruptionBudget")
    check.equal(sorted(c.get("topologyKey") for c in pod.get("topologySpreadConstraints") or []),
                ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], "default topology spread keys")
    check.equal(len(of_kind(objects, "Issuer")), 2, "default TLS: the chart's own self-signed and CA Issuers")
    namespaces = webhook.get("namespaceSelector") or {}
    check.expect(not selector_matches(namespaces, {"kubernetes.io/metadata.name": "kube-system"}),
                 "the default namespaceSelector leaves out kube-system")
    check.expect(selector_matches(namespaces, {"kubernetes.io/metadata.name": "shop"}),
                 "the default namespaceSelector sends other namespaces")


def check_values_file(argument, binary, serve_flags, mutate_flags, version):
    """Returns (checker, mode, manifests, built-in validated, CRDs validated, RBAC and token summary)."""
    check = Checker()
    user_values = load_values(argument)
    lint = helm_python.lint(CHART, copy.deepcopy(user_values), strict=True, namespace=NAMESPACE)
    for message in lint.get("messages") or []:
        check.expect(False, f"helm lint (strict): [{message.get('path')}] {message.get('error', '').strip()}")
    for error in lint.get("errors") or []:
        if not any(error.strip() == (m.get("error") or "").strip() for m in lint.get("messages") or []):
            check.expect(False, f"helm lint (strict): {error.strip()}")

    chart = helm_python.Chart.load(CHART)
    try:
        objects, notes = render(chart, user_values)
    except helm_python.HelmError as error:
        check.expect(False, f"render failed: {error}")
        return check, "?", 0, 0, 0, "?"
    builtin, custom = validate(check, objects, version)
    for path, document in objects:
        kind = document.get("kind")
        if kind in CLUSTER_SCOPED:
            check.expect("namespace" not in document.get("metadata", {}),
                         f"{path}: {kind} is cluster-scoped (no namespace)")
        else:
            check.equal(document.get("metadata", {}).get("namespace"), NAMESPACE, f"{path}: {kind} namespace")
    check.expect(notes and "--dry-run=server" in notes and "scripts/verify-in-cluster.sh" in notes,
                 "NOTES.txt tells how to verify (kubectl apply --dry-run=server, scripts/verify-in-cluster.sh)")

    deployment, service = only(check, objects, "Deployment"), only(check, objects, "Service")
    configuration = only(check, objects, "MutatingWebhookConfiguration")
    if None in (deployment, service, configuration):
        return check, "?", len(objects), builtin, custom, "?"
    flags = check_pod(check, deployment, serve_flags)
    webhook = check_wiring(check, objects, deployment, service, configuration, flags) if flags else None
    if webhook is None:
        return check, "?", len(objects), builtin, custom, "?"
    tls = tls_mode(objects, webhook)
    source = "eks" if "--cluster-name" in flags else "file" if "--associations-file" in flags else "?"
    pod = deployment["spec"]["template"]["spec"]
    check_tls(check, tls, objects, service, configuration, webhook, pod, flags)
    # The dashboard's ConfigMap is not the associations file's.
    check_associations(check, source, user_values, [(path, document) for path, document in objects
                                                    if not path.endswith(DASHBOARD_TEMPLATE)],
                       webhook, pod, flags, binary)
    check_mutation_flags(check, flags, binary, mutate_flags)
    access = check_service_accounts(check, watch_requested(user_values), objects, deployment, webhook, source,
                                    flags, binary, mutate_flags)
    check_checksum(check, chart, user_values, tls, source)
    settings = chart.merge_values(copy.deepcopy(user_values)).get("networkPolicy") or {}
    access += ", " + check_network_policy(check, settings, objects, deployment, service)
    merged = chart.merge_values(copy.deepcopy(user_values))
    access += ", " + check_monitoring(check, merged.get("prometheusRule") or {}, merged.get("grafanaDashboard") or {},
                                      objects, flags)
    if argument == "default":
        check_defaults(check, objects, deployment, webhook)
        check_network_policy_defaults(check, chart, deployment, service, version)
        check_monitoring_defaults(check, chart, version)
    return check, f"tls={tls} associations={source}", len(objects), builtin, custom, access


# ---------------------------------------------------------------------------------------------
# Values that must fail


SCHEMA_PREFIX = ("values don't meet the specifications of the schema(s) in the following chart(s):\n"
                 "pod-identity-webhook:\n")
BAD_VALUES = [
    # (what is wrong, the values, text the render error must contain; lint must report its last line)
    ("misspelt top-level key", {"replicaCont": 3},
     SCHEMA_PREFIX + "- at '': additional properties 'replicaCont' not allowed"),
    ("misspelt nested key", {"tls": {"mod": "secret"}},
     SCHEMA_PREFIX + "- at '/tls': additional properties 'mod' not allowed"),
    ("unknown TLS mode", {"tls": {"mode": "secrets"}},
     "- at '/tls/mode': value must be one of 'certManager', 'secret', 'certs'"),
    ("unknown association source", {"associations": {"source": "configmap"}},
     "- at '/associations/source': value must be one of 'eks', 'file'"),
    ("timeout above the API server's limit", {"webhook": {"timeoutSeconds": 60}},
     "- at '/webhook/timeoutSeconds': maximum: got 60, want 30"),
    ("association without a service account", {"associations": {"file": {"associations": [{"namespace": "shop"}]}}},
     "- at '/associations/file/associations/0': missing property 'serviceAccount'"),
    ("EKS without a cluster name", {"associations": {"source": "eks"}},
     "associations.eks.clusterName is required with associations.source=eks"),
    ("secret mode without a caBundle", {"tls": {"mode": "secret", "secret": {"name": "serving-cert"}}},
     "tls.secret.caBundle is required with tls.mode=secret"),
    ("secret mode without a Secret name", {"tls": {"mode": "secret", "secret": {"caBundle": "QUJD"}}},
     "tls.secret.name is required with tls.mode=secret"),
    ("certs mode without the CA", {"tls": {"mode": "certs", "certs": {
        "tlsCrt": "-----BEGIN CERTIFICATE-----\n", "tlsKey": "-----BEGIN PRIVATE KEY-----\n"}}},
     "tls.certs.caCrt is required with tls.mode=certs"),
    ("miss lookup as long as the webhook timeout", {
        "associations": {"source": "eks", "eks": {"clusterName": "prod", "missLookup": {"timeout": "3s"}}},
        "webhook": {"timeoutSeconds": 3}},
     "associations.eks.missLookup.timeout (3s) must be below webhook.timeoutSeconds (3s)"),
    ("a PodDisruptionBudget that blocks every eviction",
     {"replicaCount": 2, "podDisruptionBudget": {"minAvailable": 2}},
     "podDisruptionBudget.minAvailable (2) must be below replicaCount (2)"),
    ("associations for the other source", {
        "associations": {"source": "eks", "eks": {"clusterName": "prod"},
                         "file": {"associations": [{"namespace": "a", "serviceAccount": "b"}]}}},
     "associations.file.associations is set but associations.source is eks"),
    ("misspelt serviceAccounts key", {"serviceAccounts": {"wach": True}},
     "- at '/serviceAccounts': additional properties 'wach' not allowed"),
    ("watch given as a string", {"serviceAccounts": {"watch": "yes"}},
     "- at '/serviceAccounts/watch': got string, want boolean"),
    ("annotation prefix with a slash", {"mutation": {"annotationPrefix": "eks.amazonaws.com/"}},
     "- at '/mutation/annotationPrefix': 'eks.amazonaws.com/' does not match pattern"),
    ("relative IRSA token mount path", {"serviceAccounts": {"watch": True}, "mutation": {"tokenMountPath": "irsa"}},
     "- at '/mutation/tokenMountPath': 'irsa' does not match pattern '^$|^/'"),
    ("grace period as long as the webhook timeout", {
        "serviceAccounts": {"watch": True, "lookupGracePeriod": "3s"}, "webhook": {"timeoutSeconds": 3}},
     "serviceAccounts.lookupGracePeriod (3s) must be below webhook.timeoutSeconds (3s)"),
    ("miss lookup plus grace period as long as the webhook timeout", {
        "associations": {"source": "eks", "eks": {"clusterName": "prod", "missLookup": {"timeout": "2s"}}},
        "serviceAccounts": {"watch": True, "lookupGracePeriod": "1s"}, "webhook": {"timeoutSeconds": 3}},
     "associations.eks.missLookup.timeout (2s) plus serviceAccounts.lookupGracePeriod (1s) must be below "
     "webhook.timeoutSeconds (3s)"),
    ("an IRSA setting without the watch", {"mutation": {"tokenAudience": "sts.example.com"}},
     "mutation.tokenAudience is set but serviceAccounts.watch is false"),
    ("misspelt NetworkPolicy peer", {"networkPolicy": {"enabled": True, "webhookFrom": [{"ipblock": {
        "cidr": "10.0.0.0/16"}}]}},
     "- at '/networkPolicy/webhookFrom/0': additional properties 'ipblock' not allowed"),
    ("NetworkPolicy peer CIDR without a prefix length", {"networkPolicy": {"webhookFrom": [{"ipBlock": {
        "cidr": "10.0.0.0"}}]}},
     "- at '/networkPolicy/webhookFrom/0/ipBlock/cidr': '10.0.0.0' does not match pattern"),
    ("NetworkPolicy peer with an ipBlock and a selector", {"networkPolicy": {"enabled": True, "metricsFrom": [{
        "ipBlock": {"cidr": "10.0.0.0/16"}, "namespaceSelector": {"matchLabels": {"team": "obs"}}}]}},
     "networkPolicy.metricsFrom[0] has an ipBlock and a namespaceSelector or podSelector"),
]


def check_bad_values():
    check = Checker()
    chart = helm_python.Chart.load(CHART)
    for description, values, expected in BAD_VALUES:
        try:
            chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE)
            check.expect(False, f"{description}: {values} rendered, expected an error containing {expected!r}")
            continue
        except helm_python.HelmError as error:
            message = str(error)
        check.expect(expected in message, f"{description}: render error {message!r} does not contain {expected!r}")
        if "- at '" in expected:
            # Schema errors fail lint too. (Lint renders in Helm's lint mode, where `required`
            # and `fail` only log, so the template checks are asserted on the render alone.)
            lint = helm_python.lint(CHART, copy.deepcopy(values), strict=True, namespace=NAMESPACE)
            errors = [m.get("error", "") for m in lint.get("messages") or [] if m.get("severity") == 3]
            check.expect(any(expected.splitlines()[-1] in e for e in errors),
                         f"{description}: lint errors {errors} do not contain {expected.splitlines()[-1]!r}")
        print(f"bad values: {description}: {json.dumps(values)} -> {message.strip()!r}")
    return check


def main():
    global CHART
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("values", nargs="*", help='values files, or "default" for the chart\'s own values')
    parser.add_argument("--binary", help="the pod-identity-webhook binary, whose `serve --help` lists the flags")
    parser.add_argument("--bad-values", action="store_true", help="check that bad values fail with clear messages")
    parser.add_argument("--chart", help="another chart directory to check (default: charts/pod-identity-webhook)")
    parser.add_argument("--queries", metavar="VALUES",
                        help="print the PromQL of the alerts and the dashboard rendered with VALUES, as JSON")
    arguments = parser.parse_args()
    if arguments.chart:
        CHART = os.path.abspath(arguments.chart)
    if arguments.queries:
        objects, _ = render(helm_python.Chart.load(CHART), load_values(arguments.queries))
        print(json.dumps([{"origin": origin, "expr": expression} for origin, expression in monitoring_queries(objects)],
                         indent=1))
        return
    if not arguments.values and not arguments.bad_values:
        parser.error("give values files (or \"default\"), or --bad-values")
    if arguments.values and not arguments.binary:
        parser.error("--binary is required to check values files")

    failed = False
    if arguments.values:
        binary = os.path.abspath(arguments.binary)
        if not os.access(binary, os.X_OK):
            sys.exit(f"error: {binary} is not an executable")
        serve_flags, mutate_flags = help_flags(binary, "serve"), help_flags(binary, "mutate")
        version = kubernetes_validate.latest_version()
        for argument in arguments.values:
            path = os.path.abspath(argument)
            label = os.path.relpath(path, CHART) if path.startswith(CHART + os.sep) else argument
            check, mode, count, builtin, custom, access = check_values_file(
                argument, binary, serve_flags, mutate_flags, version)
            status = "ok" if not check.failures else f"FAILED ({len(check.failures)})"
            print(f"{label}: {mode}: {count} manifests, {builtin + custom} validated "
                  f"({builtin} against Kubernetes {version}, {custom} against scripts/chart-schemas), "
                  f"{access}: {status}")
            for failure in check.failures:
                print(f"  FAIL {failure}")
            failed = failed or bool(check.failures)
    if arguments.bad_values:
        check = check_bad_values()
        print(f"bad values: {len(BAD_VALUES)} cases: {'ok' if not check.failures else 'FAILED'}")
        for failure in check.failures:
            print(f"  FAIL {failure}")
        failed = failed or bool(check.failures)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
