#!/usr/bin/env python3
"""Check the Helm chart with the real Helm engine (helm-python-sdk), for one values file at a time.

    scripts/check-chart.py --binary .build/debug/pod-identity-webhook default charts/pod-identity-webhook/ci/*.yaml
    scripts/check-chart.py --bad-values

For each values file ("default" = the chart's own values) it:
  (a) lints the chart, strict, and fails on any lint message;
  (b) renders it as release pod-identity-webhook in namespace pod-identity-webhook and parses
      every manifest;
  (c) validates every object: built-in kinds strictly (no unknown field) with kubernetes-validate
      against the newest Kubernetes version it ships; the cert-manager and prometheus-operator
      kinds against the JSON schemas in scripts/chart-schemas/ (kubernetes-validate has none);
  (d) checks what the chart promises on the parsed objects: no RBAC, the webhook's rules and
      selectors pointing at the rendered Service, the Deployment's hardening and probes on its
      real ports, the serving certificate's names, the container arguments (every flag must be
      one `BINARY serve --help` lists), the associations file (read by the binary itself), and
      that the checksum annotation follows the configuration.
With --bad-values, it checks that misspelt keys and bad combinations fail with a clear message.

Prints one summary line per values file; exits 1 with every failure listed if anything is wrong.
"""
import argparse
import base64
import copy
import json
import os
import re
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
SKIP_LABEL = "eks.amazonaws.com/skip-pod-identity-webhook"
TLS_MOUNT = "/etc/webhook/certs"


class Checker:
    """Collects failures for one values file instead of stopping at the first."""

    def __init__(self, label):
        self.label = label
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
        for document in yaml.safe_load_all(rendered[path]):
            if document is not None:
                objects.append((path, document))
    return objects, notes


def crd_schema(document):
    group_version = document.get("apiVersion", "").replace("/", "_")
    path = os.path.join(CRD_SCHEMAS, f"{group_version}_{document.get('kind')}.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


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
        schema = crd_schema(document)
        if not check.expect(schema is not None, f"{name}: no schema in kubernetes-validate nor in {CRD_SCHEMAS}"):
            continue
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path))
        for error in errors:
            location = ".".join(map(str, error.path)) or "(top)"
            kind = f"{document['apiVersion']} {document['kind']}"
            check.expect(False, f"{name} does not match {kind} at {location}: {error.message}")
        if not errors:
            custom += 1
    return builtin, custom


# ---------------------------------------------------------------------------------------------
# Helpers over parsed objects


def of_kind(objects, kind):
    return [document for _, document in objects if document.get("kind") == kind]


def only(check, objects, kind):
    found = of_kind(objects, kind)
    check.expect(len(found) == 1, f"expected exactly one {kind}, found {len(found)}")
    return found[0] if found else None


def selector_matches(selector, labels):
    """Label selector semantics (matchLabels and matchExpressions, all ANDed)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
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


# ---------------------------------------------------------------------------------------------
# The checks


def check_webhook(check, values, objects, service, pod_labels):
    configuration = only(check, objects, "MutatingWebhookConfiguration")
    if configuration is None or service is None:
        return None
    check.expect("namespace" not in configuration["metadata"], "the MutatingWebhookConfiguration is cluster-scoped")
    webhooks = configuration.get("webhooks") or []
    if not check.equal(len(webhooks), 1, "number of webhooks"):
        return configuration
    webhook = webhooks[0]
    name = webhook.get("name", "")
    check.expect(
        re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}", name),
        f"webhook name {name!r} is not a DNS name of three or more labels")
    https = [port for port in service["spec"]["ports"] if port.get("name") == "https"]
    check.equal(
        webhook.get("clientConfig", {}).get("service"),
        {"name": service["metadata"]["name"], "namespace": service["metadata"]["namespace"], "path": "/mutate",
         "port": https[0]["port"] if https else None},
        "webhook clientConfig.service (the rendered Service's name, namespace and https port)")
    check.equal(values["service"]["port"], https[0]["port"] if https else None, "Service https port")
    rules = webhook.get("rules") or []
    check.equal(len(rules), 1, "number of webhook rules")
    for rule in rules:
        check.equal(rule.get("operations"), ["CREATE"], "rule operations")
        check.equal(rule.get("apiGroups"), [""], "rule apiGroups")
        check.equal(rule.get("apiVersions"), ["v1"], "rule apiVersions")
        check.equal(rule.get("resources"), ["pods"], "rule resources")
    check.equal(webhook.get("sideEffects"), "None", "sideEffects")
    check.equal(webhook.get("admissionReviewVersions"), ["v1", "v1beta1"], "admissionReviewVersions")
    check.equal(webhook.get("failurePolicy"), values["webhook"]["failurePolicy"], "failurePolicy")
    check.equal(webhook.get("timeoutSeconds"), values["webhook"]["timeoutSeconds"], "timeoutSeconds")
    check.equal(webhook.get("reinvocationPolicy"), values["webhook"]["reinvocationPolicy"], "reinvocationPolicy")
    check.equal(webhook.get("matchPolicy"), "Equivalent", "matchPolicy")
    check.equal(webhook.get("namespaceSelector"), values["webhook"]["namespaceSelector"], "namespaceSelector")

    selector = webhook.get("objectSelector") or {}
    check.expect(
        {"key": SKIP_LABEL, "operator": "DoesNotExist"} in (selector.get("matchExpressions") or []),
        f"objectSelector has {SKIP_LABEL} DoesNotExist")
    check.expect(not selector_matches(selector, pod_labels),
                 f"objectSelector leaves out the webhook's own pods (labels {pod_labels})")
    check.expect(not selector_matches(selector, {"app": "shop", SKIP_LABEL: "true"}),
                 f"objectSelector leaves out pods labelled {SKIP_LABEL}")
    check.expect(selector_matches(selector, {}), "objectSelector sends an unlabelled pod")
    lookalike = {key: value for key, value in pod_labels.items() if key.startswith("app.kubernetes.io/")}
    lookalike["app.kubernetes.io/name"] = "something-else"
    check.expect(selector_matches(selector, lookalike),
                 f"objectSelector sends an ordinary pod that shares some labels with the webhook's ({lookalike})")
    if values["webhook"]["namespaceSelector"] == {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]}:
        namespace_selector = webhook["namespaceSelector"]
        check.expect(not selector_matches(namespace_selector, {"kubernetes.io/metadata.name": "kube-system"}),
                     "the default namespaceSelector leaves out kube-system")
        check.expect(selector_matches(namespace_selector, {"kubernetes.io/metadata.name": "shop"}),
                     "the default namespaceSelector sends other namespaces")
    return configuration


def check_deployment(check, values, objects, binary_flags):
    deployment = only(check, objects, "Deployment")
    if deployment is None:
        return None, {}, {}
    spec, template = deployment["spec"], deployment["spec"]["template"]
    pod, pod_labels = template["spec"], template["metadata"].get("labels") or {}
    check.equal(spec.get("replicas"), values["replicaCount"], "Deployment replicas")
    check.expect(selector_matches(spec["selector"], pod_labels), "the Deployment's selector matches its pods")
    check.equal(pod.get("priorityClassName"), values["priorityClassName"], "priorityClassName")
    check.equal(pod.get("automountServiceAccountToken"), False, "automountServiceAccountToken (no API access)")

    security = pod.get("securityContext") or {}
    check.equal(security.get("runAsNonRoot"), True, "pod runAsNonRoot")
    check.equal(security.get("runAsUser"), values["securityContext"]["runAsUser"], "pod runAsUser")
    check.expect(security.get("runAsUser") not in (None, 0), "pod runAsUser is not root")
    check.equal((security.get("seccompProfile") or {}).get("type"), "RuntimeDefault", "pod seccompProfile")

    containers = pod.get("containers") or []
    check.equal(len(containers), 1, "number of containers")
    check.equal(pod.get("initContainers"), None, "initContainers")
    for container in containers:
        context = container.get("securityContext") or {}
        what = f"container {container['name']}"
        check.equal(context.get("runAsNonRoot"), True, f"{what} runAsNonRoot")
        check.equal(context.get("runAsUser"), values["securityContext"]["runAsUser"], f"{what} runAsUser")
        check.equal(context.get("readOnlyRootFilesystem"), True, f"{what} readOnlyRootFilesystem")
        check.equal(context.get("allowPrivilegeEscalation"), False, f"{what} allowPrivilegeEscalation")
        check.expect(context.get("privileged") in (None, False), f"{what} is not privileged")
        check.equal(context.get("capabilities"), {"drop": ["ALL"]}, f"{what} capabilities")
        check.equal((context.get("seccompProfile") or {}).get("type"), "RuntimeDefault", f"{what} seccompProfile")
        resources = container.get("resources") or {}
        check.expect(resources.get("requests") and (resources.get("limits") or {}).get("memory"),
                     f"{what} has resource requests and a memory limit")

    if not containers:
        return deployment, {}, pod_labels
    container = containers[0]
    check.equal(container.get("command"), ["/pod-identity-webhook"], "container command")
    arguments = container.get("args") or []
    check.equal(arguments[:1], ["serve"], "first container argument")
    flags = flags_of(arguments[1:])
    unknown = sorted(set(flags) - binary_flags)
    check.expect(not unknown, f"container args use flags `serve --help` does not list: {unknown}")
    ports = {port.get("name"): port.get("containerPort") for port in container.get("ports") or []}
    check.equal(ports, {"https": values["ports"]["webhook"], "metrics": values["ports"]["metrics"]},
                "named container ports")
    check.equal(flags.get("--port"), str(ports.get("https")), "--port is the https container port")
    check.equal(flags.get("--metrics-port"), str(ports.get("metrics")), "--metrics-port is the metrics container port")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        check.equal(get.get("path"), path, f"{probe} path")
        check.expect(isinstance(get.get("port"), str), f"{probe} uses a named port, got {get.get('port')!r}")
        check.equal(named_port(container, get.get("port")), ports.get("metrics"),
                    f"{probe} port (a named container port, the metrics one)")
        check.expect(get.get("scheme", "HTTP") == "HTTP", f"{probe} is plain HTTP on the metrics port")

    mounts = {mount["name"]: mount for mount in container.get("volumeMounts") or []}
    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    certs = mounts.get("certs") or {}
    check.equal(certs.get("mountPath"), TLS_MOUNT, "TLS mount path")
    check.equal(certs.get("readOnly"), True, "TLS mount is read-only")
    check.equal(flags.get("--tls-cert"), f"{TLS_MOUNT}/tls.crt", "--tls-cert")
    check.equal(flags.get("--tls-key"), f"{TLS_MOUNT}/tls.key", "--tls-key")
    check.expect("secret" in volumes.get("certs", {}), "the certs volume is a Secret")

    if values["topologySpread"]["enabled"]:
        constraints = pod.get("topologySpreadConstraints") or []
        check.equal(sorted(c.get("topologyKey") for c in constraints),
                    ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], "topology spread keys")
        for constraint in constraints:
            check.expect(selector_matches(constraint.get("labelSelector") or {}, pod_labels),
                         f"topology spread over {constraint.get('topologyKey')} selects the webhook pods")
            check.equal(constraint.get("maxSkew"), values["topologySpread"]["maxSkew"], "topology spread maxSkew")
            check.equal(constraint.get("whenUnsatisfiable"), values["topologySpread"]["whenUnsatisfiable"],
                        "topology spread whenUnsatisfiable")

    checksum = (template["metadata"].get("annotations") or {}).get("checksum/config", "")
    check.expect(re.fullmatch(r"[0-9a-f]{64}", checksum), f"checksum/config annotation is a sha256, got {checksum!r}")
    return deployment, flags, pod_labels


def check_service(check, values, objects, deployment, pod_labels):
    service = only(check, objects, "Service")
    if service is None or deployment is None:
        return service
    check.expect(selector_matches({"matchLabels": service["spec"]["selector"]}, pod_labels),
                 "the Service selects the webhook pods")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for port in service["spec"]["ports"]:
        target = named_port(container, port.get("targetPort"))
        check.expect(target is not None,
                     f"Service port {port.get('name')} targets a container port, got {port.get('targetPort')!r}")
    ports = {port.get("name"): port for port in service["spec"]["ports"]}
    check.equal(named_port(container, (ports.get("https") or {}).get("targetPort")), values["ports"]["webhook"],
                "Service https port reaches the webhook port")
    check.equal(named_port(container, (ports.get("metrics") or {}).get("targetPort")), values["ports"]["metrics"],
                "Service metrics port reaches the metrics port")
    return service


def check_pdb_and_account(check, values, objects, deployment, pod_labels):
    budgets = of_kind(objects, "PodDisruptionBudget")
    if values["podDisruptionBudget"]["enabled"]:
        if check.equal(len(budgets), 1, "number of PodDisruptionBudgets"):
            check.equal(budgets[0]["spec"].get("minAvailable"), values["podDisruptionBudget"]["minAvailable"],
                        "PodDisruptionBudget minAvailable")
            check.expect(selector_matches(budgets[0]["spec"]["selector"], pod_labels),
                         "the PodDisruptionBudget selects the webhook pods")
    else:
        check.equal(len(budgets), 0, "number of PodDisruptionBudgets (disabled)")
    accounts = of_kind(objects, "ServiceAccount")
    if values["serviceAccount"]["create"] and check.equal(len(accounts), 1, "number of ServiceAccounts"):
        account = accounts[0]
        if deployment is not None:
            check.equal(deployment["spec"]["template"]["spec"].get("serviceAccountName"), account["metadata"]["name"],
                        "the Deployment runs as the chart's ServiceAccount")
        check.equal(account["metadata"].get("annotations") or {}, values["serviceAccount"]["annotations"],
                    "ServiceAccount annotations")


def check_tls(check, values, objects, service, configuration, deployment):
    if service is None or configuration is None or deployment is None:
        return
    mode = values["tls"]["mode"]
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    dns_names = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
    client = configuration["webhooks"][0]["clientConfig"]
    annotations = configuration["metadata"].get("annotations") or {}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes") or []}
    mounted = ((volumes.get("certs") or {}).get("secret") or {}).get("secretName")
    certificates = {c["metadata"]["name"]: c for c in of_kind(objects, "Certificate")}
    issuers = {i["metadata"]["name"]: i for i in of_kind(objects, "Issuer")}
    secrets = of_kind(objects, "Secret")

    if mode == "certManager":
        check.expect("caBundle" not in client, "no caBundle in certManager mode (cert-manager injects it)")
        injected = annotations.get("cert-manager.io/inject-ca-from", "")
        check.expect(injected.startswith(f"{NAMESPACE}/"),
                     f"inject-ca-from names the release namespace, got {injected!r}")
        serving = certificates.get(injected.split("/", 1)[-1])
        if not check.expect(serving is not None, f"inject-ca-from {injected!r} names a rendered Certificate"):
            return
        check.equal(serving["spec"].get("dnsNames"), dns_names, "Certificate dnsNames (the Service's four names)")
        check.equal(serving["spec"].get("secretName"), mounted, "the Certificate's Secret is the one the pods mount")
        check.expect("server auth" in (serving["spec"].get("usages") or ["server auth"]),
                     "the Certificate allows server auth")
        check.equal(len(secrets), 0, "number of Secrets the chart renders in certManager mode")
        reference = serving["spec"]["issuerRef"]
        wanted = values["tls"]["certManager"]["issuerRef"]
        if wanted["name"]:
            check.equal(reference, wanted, "serving Certificate issuerRef")
            check.equal(len(issuers) + len(certificates), 1, "only the serving Certificate with a given issuer")
        else:
            ca_issuer = issuers.get(reference.get("name"))
            if check.expect(ca_issuer is not None and reference.get("kind") == "Issuer",
                            f"serving Certificate issuerRef {reference} names the chart's CA Issuer"):
                ca_secret = (ca_issuer["spec"].get("ca") or {}).get("secretName")
                ca_certs = [c for c in certificates.values() if c["spec"].get("secretName") == ca_secret]
                if check.expect(len(ca_certs) == 1 and ca_certs[0]["spec"].get("isCA") is True,
                                "the CA Issuer's Secret comes from a CA Certificate"):
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
    if mode == "secret":
        check.equal(bundle, values["tls"]["secret"]["caBundle"], "caBundle (tls.secret.caBundle)")
        check.equal(mounted, values["tls"]["secret"]["name"], "mounted Secret (tls.secret.name)")
        check.equal(len(secrets), 0, "number of Secrets the chart renders in secret mode")
        return

    check.equal(ca_pem, values["tls"]["certs"]["caCrt"], "caBundle decodes to tls.certs.caCrt")
    if not check.equal(len(secrets), 1, "number of Secrets in certs mode"):
        return
    secret = secrets[0]
    check.equal(secret.get("type"), "kubernetes.io/tls", "Secret type")
    check.equal(secret["metadata"]["name"], mounted, "the chart's Secret is the one the pods mount")
    data = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    check.equal(data.get("ca.crt"), ca_pem, "Secret ca.crt is the caBundle's CA")
    with tempfile.TemporaryDirectory() as directory:
        for key in ("tls.crt", "tls.key", "ca.crt"):
            with open(os.path.join(directory, key), "w") as handle:
                handle.write(data.get(key, ""))
        status, text = openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", os.path.join(directory, "tls.crt")])
        sans = re.findall(r"DNS:([^,\s]+)", text)
        check.expect(status == 0 and set(dns_names) <= set(sans),
                     f"tls.crt subjectAltName covers {dns_names}, got {sans or text.strip()}")
        status, text = openssl(["verify", "-no_check_time", "-CAfile", os.path.join(directory, "ca.crt"),
                                os.path.join(directory, "tls.crt")])
        check.expect(status == 0, f"tls.crt is signed by the caBundle's CA: {text.strip()}")
        _, certificate_key = openssl(["x509", "-noout", "-pubkey", "-in", os.path.join(directory, "tls.crt")])
        _, private_key = openssl(["pkey", "-pubout", "-in", os.path.join(directory, "tls.key")])
        check.expect("PUBLIC KEY" in certificate_key and certificate_key == private_key, "tls.key belongs to tls.crt")


def check_associations(check, values, objects, deployment, flags, binary):
    config_maps = of_kind(objects, "ConfigMap")
    if deployment is None:
        return
    pod = deployment["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0].get("volumeMounts") or []}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    source = values["associations"]["source"]
    if source == "eks":
        eks = values["associations"]["eks"]
        check.equal(flags.get("--cluster-name"), eks["clusterName"], "--cluster-name")
        check.equal(flags.get("--region"), eks["region"] or None, "--region")
        check.equal(flags.get("--eks-endpoint"), eks["endpoint"] or None, "--eks-endpoint")
        check.equal(flags.get("--sync-interval"), eks["syncInterval"], "--sync-interval")
        check.equal(flags.get("--miss-lookup-timeout"), eks["missLookup"]["timeout"], "--miss-lookup-timeout")
        check.equal(flags.get("--miss-lookup-negative-ttl"), eks["missLookup"]["negativeTTL"],
                    "--miss-lookup-negative-ttl")
        check.equal(float(flags.get("--miss-lookup-rate") or "nan"), float(eks["missLookup"]["rate"]),
                    "--miss-lookup-rate")
        timeout_ms = duration_ms(flags.get("--miss-lookup-timeout") or "0")
        check.expect(timeout_ms < values["webhook"]["timeoutSeconds"] * 1000,
                     "--miss-lookup-timeout stays below the webhook's timeoutSeconds")
        check.expect("--associations-file" not in flags, "no --associations-file in EKS mode")
        check.equal(len(config_maps), 0, "number of ConfigMaps in EKS mode")
        check.expect("associations" not in mounts, "no associations mount in EKS mode")
        return

    check.expect("--cluster-name" not in flags, "no --cluster-name in file mode")
    path = flags.get("--associations-file") or ""
    check.equal(flags.get("--associations-reload-interval"), values["associations"]["file"]["reloadInterval"],
                "--associations-reload-interval")
    mount = mounts.get("associations") or {}
    check.equal(os.path.dirname(path), mount.get("mountPath"), "--associations-file lies in the associations mount")
    check.expect("subPath" not in mount and "subPathExpr" not in mount,
                 "the associations ConfigMap is mounted as a directory (a subPath never sees updates)")
    check.equal(mount.get("readOnly"), True, "associations mount is read-only")
    if not check.equal(len(config_maps), 1, "number of ConfigMaps in file mode"):
        return
    config_map = config_maps[0]
    volume_source = (volumes.get("associations") or {}).get("configMap") or {}
    check.equal(volume_source.get("name"), config_map["metadata"]["name"],
                "the associations volume is the rendered ConfigMap")
    key = os.path.basename(path)
    content = (config_map.get("data") or {}).get(key)
    if not check.expect(content is not None, f"the ConfigMap has the key {key!r} the flag names"):
        return
    check.equal(yaml.safe_load(content), values["associations"]["file"]["associations"], "associations file content")
    # The binary itself reads the rendered file: an associated pod is mutated, another is not.
    with tempfile.TemporaryDirectory() as directory:
        file = os.path.join(directory, key)
        with open(file, "w") as handle:
            handle.write(content)
        pairs = values["associations"]["file"]["associations"]
        probes = [(pair["namespace"], pair["serviceAccount"], "mutated") for pair in pairs[:1]]
        probes.append(("not-associated-ns", "nobody", "not-associated"))
        for namespace, account, decision in probes:
            pod_yaml = yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                                       "metadata": {"name": "probe", "namespace": namespace},
                                       "spec": {"serviceAccountName": account,
                                                "containers": [{"name": "app", "image": "busybox"}]}})
            output = subprocess.run([binary, "mutate", "-o", "patch", "--associations-file", file],
                                    input=pod_yaml, capture_output=True, text=True, check=False)
            check.expect(output.returncode == 0 and decision in output.stderr,
                         f"the binary reading the rendered associations file decides {decision} for "
                         f"{namespace}/{account}: exit {output.returncode}, {output.stderr.strip()}")


def check_mutation_flags(check, values, flags, binary, mutate_flags):
    """The mutation flags the chart renders are accepted, values included, by the binary's `mutate`."""
    mutation = values["mutation"]
    check.equal(flags.get("--container-credentials-audience"), mutation["audience"], "--container-credentials-audience")
    check.equal(flags.get("--token-expiration"), str(mutation["tokenExpiration"]), "--token-expiration")
    check.equal(flags.get("--token-expiration-jitter"), "true" if mutation["tokenExpirationJitter"] else "false",
                "--token-expiration-jitter")
    check.equal(flags.get("--aws-default-region"), mutation["awsDefaultRegion"] or None, "--aws-default-region")
    check.equal("--sts-regional-endpoint" in flags, mutation["stsRegionalEndpoint"], "--sts-regional-endpoint")
    check.equal(flags.get("--container-credentials-full-uri"), mutation["containerCredentialsFullURI"] or None,
                "--container-credentials-full-uri")
    arguments = []
    for name, value in flags.items():
        if name in mutate_flags and name not in ("--associations-file", "--association"):
            arguments.append(name if value is None else f"{name}={value}")
    pod = yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": "shop"},
                          "spec": {"containers": [{"name": "app", "image": "busybox"}]}})
    output = subprocess.run([binary, "mutate", "-o", "json", *arguments], input=pod, capture_output=True, text=True,
                            check=False)
    check.expect(output.returncode == 0,
                 f"`mutate {' '.join(arguments)}` refuses the chart's mutation flags: {output.stderr.strip()}")


def check_service_monitor(check, values, objects, service):
    monitors = of_kind(objects, "ServiceMonitor")
    if not values["metrics"]["serviceMonitor"]["enabled"]:
        check.equal(len(monitors), 0, "number of ServiceMonitors (disabled)")
        return
    if not check.equal(len(monitors), 1, "number of ServiceMonitors") or service is None:
        return
    monitor = monitors[0]
    check.expect(selector_matches(monitor["spec"]["selector"], service["metadata"].get("labels") or {}),
                 "the ServiceMonitor selects the Service")
    names = {port.get("name") for port in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        check.expect(endpoint.get("port") == "metrics" and "metrics" in names,
                     f"ServiceMonitor endpoint scrapes the Service's metrics port, got {endpoint.get('port')!r}")
        check.equal(endpoint.get("path"), "/metrics", "ServiceMonitor path")
    for key, value in values["metrics"]["serviceMonitor"]["labels"].items():
        check.equal(monitor["metadata"]["labels"].get(key), value, f"ServiceMonitor label {key}")


def checksum_of(chart, values):
    objects, _ = render(chart, values)
    for _, document in objects:
        if document.get("kind") == "Deployment":
            return document["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    return None


def check_checksum(check, chart, user_values, merged):
    """The checksum follows what the pods read, and only that."""
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
    if merged["associations"]["source"] == "file":
        pairs = merged["associations"]["file"]["associations"] + [{"namespace": "extra", "serviceAccount": "added"}]
        def add_pair(values):
            values.setdefault("associations", {}).setdefault("file", {}).update(associations=pairs)
        check.expect(changed(add_pair) != base, "checksum/config changes with the associations file")
    if merged["tls"]["mode"] == "certs":
        certificate = merged["tls"]["certs"]["tlsCrt"] + "\n"
        check.expect(changed(lambda v: v["tls"]["certs"].update(tlsCrt=certificate)) != base,
                     "checksum/config changes with the chart-stored certificate")


def check_defaults(check, objects):
    """What the issue asks of the chart's own defaults, independent of values.yaml."""
    deployment = of_kind(objects, "Deployment")
    configuration = of_kind(objects, "MutatingWebhookConfiguration")
    if not (deployment and configuration):
        return
    pod = deployment[0]["spec"]["template"]["spec"]
    webhook = configuration[0]["webhooks"][0]
    check.equal(deployment[0]["spec"]["replicas"], 2, "default replicas")
    check.equal(pod.get("priorityClassName"), "system-cluster-critical", "default priorityClassName")
    check.equal(pod["securityContext"].get("runAsUser"), 65532, "default runAsUser")
    check.equal(webhook.get("failurePolicy"), "Ignore", "default failurePolicy")
    check.equal(webhook.get("reinvocationPolicy"), "IfNeeded", "default reinvocationPolicy")
    check.equal(len(of_kind(objects, "PodDisruptionBudget")), 1, "default PodDisruptionBudget")
    check.expect(len(pod.get("topologySpreadConstraints") or []) == 2, "default topology spread")


def check_values_file(label, argument, binary, serve_flags, mutate_flags, version):
    check = Checker(label)
    user_values = load_values(argument)
    lint = helm_python.lint(CHART, copy.deepcopy(user_values), strict=True, namespace=NAMESPACE)
    for message in lint.get("messages") or []:
        check.expect(False, f"helm lint (strict): [{message.get('path')}] {message.get('error', '').strip()}")
    for error in lint.get("errors") or []:
        if not any(error.strip() == (m.get("error") or "").strip() for m in lint.get("messages") or []):
            check.expect(False, f"helm lint (strict): {error.strip()}")

    chart = helm_python.Chart.load(CHART)
    merged = chart.merge_values(copy.deepcopy(user_values))
    try:
        objects, notes = render(chart, user_values)
    except helm_python.HelmError as error:
        check.expect(False, f"render failed: {error}")
        return check, "?", 0, 0, 0

    builtin, custom = validate(check, objects, version)
    for path, document in objects:
        kind, api = document.get("kind"), document.get("apiVersion", "")
        check.expect(kind not in RBAC_KINDS and not api.startswith("rbac.authorization.k8s.io/"),
                     f"{path}: RBAC object {kind} (the webhook needs no Kubernetes API access)")
        if kind != "MutatingWebhookConfiguration":
            check.equal(document.get("metadata", {}).get("namespace"), NAMESPACE, f"{path}: {kind} namespace")

    deployment, flags, pod_labels = check_deployment(check, merged, objects, serve_flags)
    service = check_service(check, merged, objects, deployment, pod_labels)
    configuration = check_webhook(check, merged, objects, service, pod_labels)
    check_pdb_and_account(check, merged, objects, deployment, pod_labels)
    check_tls(check, merged, objects, service, configuration, deployment)
    check_associations(check, merged, objects, deployment, flags, binary)
    check_mutation_flags(check, merged, flags, binary, mutate_flags)
    check_service_monitor(check, merged, objects, service)
    check_checksum(check, chart, user_values, merged)
    if argument == "default":
        check_defaults(check, objects)
    check.expect(notes and "--dry-run=server" in notes and "scripts/verify-in-cluster.sh" in notes,
                 "NOTES.txt tells how to verify (kubectl apply --dry-run=server, scripts/verify-in-cluster.sh)")
    mode = f"tls={merged['tls']['mode']} associations={merged['associations']['source']}"
    return check, mode, len(objects), builtin, custom


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
]


def check_bad_values():
    check = Checker("bad values")
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("values", nargs="*", help='values files, or "default" for the chart\'s own values')
    parser.add_argument("--binary", help="the pod-identity-webhook binary, whose `serve --help` lists the flags")
    parser.add_argument("--bad-values", action="store_true", help="check that bad values fail with clear messages")
    parser.add_argument("--chart", help="another chart directory to check (default: charts/pod-identity-webhook)")
    arguments = parser.parse_args()
    if arguments.chart:
        global CHART
        CHART = os.path.abspath(arguments.chart)
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
            check, mode, count, builtin, custom = check_values_file(
                label, argument, binary, serve_flags, mutate_flags, version)
            status = "ok" if not check.failures else f"FAILED ({len(check.failures)})"
            print(f"{label}: {mode}: {count} manifests, {builtin + custom} validated "
                  f"({builtin} against Kubernetes {version}, {custom} against scripts/chart-schemas): {status}")
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
