{{/*
Names. Every resource name is a DNS label (63 characters at most), so names are cut there.
*/}}
{{- define "pod-identity-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pod-identity-webhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A name derived from the full name with a suffix, still at most 63 characters. */}}
{{- define "pod-identity-webhook.suffixed" -}}
{{- $full := include "pod-identity-webhook.fullname" .context }}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix }}
{{- end }}

{{- define "pod-identity-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pod-identity-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pod-identity-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pod-identity-webhook.labels" -}}
helm.sh/chart: {{ include "pod-identity-webhook.chart" . }}
{{ include "pod-identity-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The label every webhook pod carries. The webhook's objectSelector sends no pod with this label
to the webhook, so the webhook's own pods never wait on (or are refused by) themselves. A single
label is needed because objectSelector expressions are ANDed: "not (name and instance)" cannot
be written with the standard labels.
*/}}
{{- define "pod-identity-webhook.webhookPodLabel" -}}
pod-identity-webhook.io/webhook-pod
{{- end }}

{{- define "pod-identity-webhook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pod-identity-webhook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key, whichever TLS mode provides it. */}}
{{- define "pod-identity-webhook.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- required "tls.secret.name is required with tls.mode=secret: the name of an existing kubernetes.io/tls Secret" .Values.tls.secret.name }}
{{- else }}
{{- include "pod-identity-webhook.suffixed" (dict "context" . "suffix" "tls") }}
{{- end }}
{{- end }}

{{/* The cert-manager Certificate of the serving certificate (tls.mode=certManager). */}}
{{- define "pod-identity-webhook.certificateName" -}}
{{- include "pod-identity-webhook.fullname" . }}
{{- end }}

{{/* The DNS names under which the API server may reach the Service. */}}
{{- define "pod-identity-webhook.serviceDNSNames" -}}
{{- $service := include "pod-identity-webhook.fullname" . }}
{{- $namespace := .Release.Namespace }}
{{- list $service (printf "%s.%s" $service $namespace) (printf "%s.%s.svc" $service $namespace) (printf "%s.%s.svc.cluster.local" $service $namespace) | toJson }}
{{- end }}

{{- define "pod-identity-webhook.associationsConfigMapName" -}}
{{- include "pod-identity-webhook.suffixed" (dict "context" . "suffix" "associations") }}
{{- end }}

{{/* Where the associations ConfigMap is mounted (a directory, so kubelet updates reach the pod). */}}
{{- define "pod-identity-webhook.associationsDirectory" -}}
/etc/webhook/associations
{{- end }}

{{/*
The associations file (the binary's format: a YAML list of {namespace, serviceAccount}). Each
entry is checked here too, so a typo fails the install rather than the pods.
*/}}
{{- define "pod-identity-webhook.associationsFile" -}}
{{- $entries := list }}
{{- range $index, $entry := .Values.associations.file.associations }}
{{- $entries = append $entries (dict "namespace" $entry.namespace "serviceAccount" $entry.serviceAccount) }}
{{- end }}
{{- if $entries }}
{{- toYaml $entries }}
{{- else }}
{{- "[]" }}
{{- end }}
{{- end }}

{{/*
A duration as the binary parses it (500ms, 10s, 2m, 1h or plain seconds) in milliseconds;
the schema already restricts the values to this form.
*/}}
{{- define "pod-identity-webhook.durationMilliseconds" -}}
{{- $text := toString . }}
{{- $scale := 1000.0 }}
{{- if hasSuffix "ms" $text }}{{ $scale = 1.0 }}{{ $text = trimSuffix "ms" $text }}
{{- else if hasSuffix "s" $text }}{{ $text = trimSuffix "s" $text }}
{{- else if hasSuffix "m" $text }}{{ $scale = 60000.0 }}{{ $text = trimSuffix "m" $text }}
{{- else if hasSuffix "h" $text }}{{ $scale = 3600000.0 }}{{ $text = trimSuffix "h" $text }}
{{- end }}
{{- mulf (float64 $text) $scale }}
{{- end }}

{{/*
Checks of value combinations the schema cannot express. Included by the Deployment, so any
render or install stops here with the message.
*/}}
{{- define "pod-identity-webhook.validate" -}}
{{- if eq .Values.associations.source "eks" }}
{{- $missLookup := include "pod-identity-webhook.durationMilliseconds" .Values.associations.eks.missLookup.timeout | float64 }}
{{- $webhookTimeout := mulf .Values.webhook.timeoutSeconds 1000.0 }}
{{- if ge $missLookup $webhookTimeout }}
{{- fail (printf "associations.eks.missLookup.timeout (%s) must be below webhook.timeoutSeconds (%vs): otherwise the API server gives up on a review before the webhook answers it" (toString .Values.associations.eks.missLookup.timeout) .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- if .Values.associations.file.associations }}
{{- fail "associations.file.associations is set but associations.source is eks: the list would be ignored; use one source" }}
{{- end }}
{{- end }}
{{- if .Values.serviceAccounts.watch }}
{{- $grace := include "pod-identity-webhook.durationMilliseconds" .Values.serviceAccounts.lookupGracePeriod | float64 }}
{{- $webhookTimeout := mulf .Values.webhook.timeoutSeconds 1000.0 }}
{{- if eq .Values.associations.source "eks" }}
{{- $missLookup := include "pod-identity-webhook.durationMilliseconds" .Values.associations.eks.missLookup.timeout | float64 }}
{{- if ge (addf $missLookup $grace) $webhookTimeout }}
{{- fail (printf "associations.eks.missLookup.timeout (%s) plus serviceAccounts.lookupGracePeriod (%s) must be below webhook.timeoutSeconds (%vs): a review of a pod without an association may wait for both, and the API server gives up first" (toString .Values.associations.eks.missLookup.timeout) (toString .Values.serviceAccounts.lookupGracePeriod) .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- else if ge $grace $webhookTimeout }}
{{- fail (printf "serviceAccounts.lookupGracePeriod (%s) must be below webhook.timeoutSeconds (%vs): otherwise the API server gives up on a review before the webhook answers it" (toString .Values.serviceAccounts.lookupGracePeriod) .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- else }}
{{- range $key := list "tokenAudience" "tokenMountPath" }}
{{- if index $.Values.mutation $key }}
{{- fail (printf "mutation.%s is set but serviceAccounts.watch is false: it only shapes IRSA, which needs the ServiceAccounts; set serviceAccounts.watch=true or leave it empty" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq .Values.tls.mode "certs") (or .Values.tls.secret.name .Values.tls.secret.caBundle) }}
{{- fail "tls.secret.* is set but tls.mode is certs: use tls.mode=secret for an existing Secret, or leave tls.secret empty" }}
{{- end }}
{{- if and (eq .Values.tls.mode "secret") (or .Values.tls.certs.tlsCrt .Values.tls.certs.tlsKey .Values.tls.certs.caCrt) }}
{{- fail "tls.certs.* is set but tls.mode is secret: use tls.mode=certs to have the chart store the PEM files, or leave tls.certs empty" }}
{{- end }}
{{- if and (eq .Values.tls.mode "certManager") (or .Values.tls.secret.name .Values.tls.secret.caBundle .Values.tls.certs.tlsCrt .Values.tls.certs.tlsKey .Values.tls.certs.caCrt) }}
{{- fail "tls.secret.* or tls.certs.* is set but tls.mode is certManager: set tls.mode=secret or tls.mode=certs to use them" }}
{{- end }}
{{- range $list := list "webhookFrom" "metricsFrom" }}
{{- range $index, $peer := index $.Values.networkPolicy $list }}
{{- if and $peer.ipBlock (or (hasKey $peer "namespaceSelector") (hasKey $peer "podSelector")) }}
{{- fail (printf "networkPolicy.%s[%d] has an ipBlock and a namespaceSelector or podSelector: a NetworkPolicy peer is either an ipBlock or selectors; give them as two peers" $list $index) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "string" .Values.podDisruptionBudget.minAvailable)) }}
{{- if ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%v) must be below replicaCount (%v): otherwise no webhook pod may ever be evicted and node drains never finish" .Values.podDisruptionBudget.minAvailable .Values.replicaCount) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The container's arguments: `serve` and flags the binary lists in `serve --help` only.
*/}}
{{- define "pod-identity-webhook.args" -}}
{{- $args := list "serve" }}
{{- $args = append $args (printf "--port=%v" .Values.ports.webhook) }}
{{- $args = append $args (printf "--metrics-port=%v" .Values.ports.metrics) }}
{{- $args = append $args "--tls-cert=/etc/webhook/certs/tls.crt" }}
{{- $args = append $args "--tls-key=/etc/webhook/certs/tls.key" }}
{{- $args = append $args (printf "--log-format=%s" .Values.logging.format) }}
{{- $args = append $args (printf "--log-level=%s" .Values.logging.level) }}
{{- with .Values.mutation }}
{{- $args = append $args (printf "--container-credentials-audience=%s" .audience) }}
{{- $args = append $args (printf "--token-expiration=%v" (int .tokenExpiration)) }}
{{- $args = append $args (printf "--token-expiration-jitter=%t" .tokenExpirationJitter) }}
{{- if .awsDefaultRegion }}
{{- $args = append $args (printf "--aws-default-region=%s" .awsDefaultRegion) }}
{{- end }}
{{- if .stsRegionalEndpoint }}
{{- $args = append $args "--sts-regional-endpoint" }}
{{- end }}
{{- if .ipv6ImdsEndpointMode }}
{{- $args = append $args "--ipv6-imds-endpoint-mode" }}
{{- end }}
{{- if .proxyBypass }}
{{- $args = append $args "--proxy-bypass" }}
{{- end }}
{{- if .containerCredentialsFullURI }}
{{- $args = append $args (printf "--container-credentials-full-uri=%s" .containerCredentialsFullURI) }}
{{- end }}
{{- if .tokenAudience }}
{{- $args = append $args (printf "--token-audience=%s" .tokenAudience) }}
{{- end }}
{{- if .tokenMountPath }}
{{- $args = append $args (printf "--token-mount-path=%s" .tokenMountPath) }}
{{- end }}
{{- if .annotationPrefix }}
{{- $args = append $args (printf "--annotation-prefix=%s" .annotationPrefix) }}
{{- end }}
{{- end }}
{{- if .Values.serviceAccounts.watch }}
{{- $args = append $args "--watch-service-accounts" }}
{{- $args = append $args (printf "--service-account-lookup-grace-period=%v" .Values.serviceAccounts.lookupGracePeriod) }}
{{- end }}
{{- if eq .Values.associations.source "eks" }}
{{- with .Values.associations.eks }}
{{- $args = append $args (printf "--cluster-name=%s" (required "associations.eks.clusterName is required with associations.source=eks: the EKS cluster whose Pod Identity Associations the webhook uses" .clusterName)) }}
{{- if .region }}
{{- $args = append $args (printf "--region=%s" .region) }}
{{- end }}
{{- if .endpoint }}
{{- $args = append $args (printf "--eks-endpoint=%s" .endpoint) }}
{{- end }}
{{- $args = append $args (printf "--sync-interval=%v" .syncInterval) }}
{{- $args = append $args (printf "--miss-lookup-timeout=%v" .missLookup.timeout) }}
{{- $args = append $args (printf "--miss-lookup-negative-ttl=%v" .missLookup.negativeTTL) }}
{{- $args = append $args (printf "--miss-lookup-rate=%v" .missLookup.rate) }}
{{- end }}
{{- else }}
{{- $args = append $args (printf "--associations-file=%s/associations.yaml" (include "pod-identity-webhook.associationsDirectory" .)) }}
{{- $args = append $args (printf "--associations-reload-interval=%v" .Values.associations.file.reloadInterval) }}
{{- end }}
{{- range .Values.extraArgs }}
{{- $args = append $args . }}
{{- end }}
{{- toYaml $args }}
{{- end }}

{{/*
What the pods' configuration is made of: the arguments, the associations file and the PEM files
the chart stores. Its hash on the pod template rolls the pods when any of them changes.
*/}}
{{- define "pod-identity-webhook.configChecksum" -}}
{{- $parts := list (include "pod-identity-webhook.args" .) }}
{{- if eq .Values.associations.source "file" }}
{{- $parts = append $parts (include "pod-identity-webhook.associationsFile" .) }}
{{- end }}
{{- if eq .Values.tls.mode "certs" }}
{{- $parts = append $parts (include (print $.Template.BasePath "/secret.yaml") .) }}
{{- end }}
{{- if eq .Values.tls.mode "secret" }}
{{- $parts = append $parts .Values.tls.secret.name }}
{{- end }}
{{- join "\n---\n" $parts | sha256sum }}
{{- end }}
