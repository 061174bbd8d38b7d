#!/usr/bin/env bash
# Makes a private CA (once) and a serving certificate for the webhook's Service, with the
# openssl CLI only. Progress goes to stderr; stdout carries only the base64 caBundle, so
#   CA_BUNDLE="$(certs/generate.sh)"
# works. Run with --help for the options.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

service="pod-identity-webhook"
namespace="pod-identity-webhook"
cluster_domain="cluster.local"
out_dir="${script_dir}/out"
days=365
ca_days=3650
key_type="ec256"
reissue=false

usage() {
  cat <<EOF
Usage: certs/generate.sh [options]

Makes a CA in the output directory unless one is there already, then a serving
certificate and key for the webhook's Service signed by that CA.

Options:
  --service NAME         Service name (default: ${service})
  --namespace NS         Service namespace (default: ${namespace})
  --cluster-domain D     cluster DNS domain (default: ${cluster_domain})
  --out DIR              output directory (default: certs/out next to this script)
  --days N               serving certificate validity in days (default: ${days})
  --ca-days N            CA validity in days, used only when a CA is made (default: ${ca_days})
  --key-type TYPE        rsa2048, rsa4096, ec256 or ec384 (default: ${key_type});
                         a new CA gets the same type
  --reissue              rotation: keep the existing CA and issue a new serving
                         certificate and key; refuses if the output holds no CA
  -h, --help             this help

Writes tls.crt (the serving certificate), tls.key (mode 600), ca.crt, and ca.key
(mode 600; keep it secret). Prints the base64 caBundle (one line) on stdout last.
EOF
}

say() { printf '==> %s\n' "$*" >&2; }
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
    --service) need_value "$1" "${2-}" $#; service="$2"; shift 2 ;;
    --service=*) service="${1#*=}"; shift ;;
    --namespace) need_value "$1" "${2-}" $#; namespace="$2"; shift 2 ;;
    --namespace=*) namespace="${1#*=}"; shift ;;
    --cluster-domain) need_value "$1" "${2-}" $#; cluster_domain="$2"; shift 2 ;;
    --cluster-domain=*) cluster_domain="${1#*=}"; shift ;;
    --out) need_value "$1" "${2-}" $#; out_dir="$2"; shift 2 ;;
    --out=*) out_dir="${1#*=}"; shift ;;
    --days) need_value "$1" "${2-}" $#; days="$2"; shift 2 ;;
    --days=*) days="${1#*=}"; shift ;;
    --ca-days) need_value "$1" "${2-}" $#; ca_days="$2"; shift 2 ;;
    --ca-days=*) ca_days="${1#*=}"; shift ;;
    --key-type) need_value "$1" "${2-}" $#; key_type="$2"; shift 2 ;;
    --key-type=*) key_type="${1#*=}"; shift ;;
    --reissue) reissue=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

# A Service name and a namespace are DNS-1123 labels; anything else cannot be a SAN the API
# server will ever ask for.
dns_label='^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
if ! [[ "$service" =~ $dns_label ]] || [ "${#service}" -gt 63 ]; then
  die "--service \"$service\" is not a valid Service name (lowercase letters, digits and '-', at most 63)"
fi
if ! [[ "$namespace" =~ $dns_label ]] || [ "${#namespace}" -gt 63 ]; then
  die "--namespace \"$namespace\" is not a valid namespace name (lowercase letters, digits and '-', at most 63)"
fi
if ! [[ "$cluster_domain" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]]; then
  die "--cluster-domain \"$cluster_domain\" is not a DNS domain"
fi
for pair in "--days:$days" "--ca-days:$ca_days"; do
  name="${pair%%:*}" value="${pair#*:}"
  if ! [[ "$value" =~ ^[1-9][0-9]{0,5}$ ]]; then
    die "$name must be a whole number of days between 1 and 999999, got \"$value\""
  fi
done
case "$key_type" in
  rsa2048 | rsa4096 | ec256 | ec384) ;;
  *) die "--key-type must be one of rsa2048, rsa4096, ec256, ec384, got \"$key_type\"" ;;
esac
if [ -z "$out_dir" ]; then die "--out must not be empty"; fi
command -v openssl >/dev/null 2>&1 || die "openssl is not installed (this script uses the openssl CLI only)"

# Keys are created unreadable to others from the first byte, not chmod-ed afterwards.
umask 077

generate_key() {
  # $1 key type, $2 output file (PKCS#8 PEM)
  case "$1" in
    rsa2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" 2>/dev/null ;;
    rsa4096) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$2" 2>/dev/null ;;
    ec256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$2" ;;
    ec384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve -out "$2" ;;
  esac
}

# A random positive serial of 128 bits (RFC 5280 allows up to 20 octets).
random_serial() { printf '0x%s' "$(openssl rand -hex 16)"; }

if [ "$reissue" = true ] && { [ ! -f "${out_dir}/ca.crt" ] || [ ! -f "${out_dir}/ca.key" ]; }; then
  die "--reissue keeps the existing CA, but ${out_dir} holds no ca.crt and ca.key; run without --reissue to make one"
fi
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
work="$(mktemp -d "${out_dir}/.generate.XXXXXX")"
trap 'rm -rf "$work"' EXIT

ca_crt="${out_dir}/ca.crt" ca_key="${out_dir}/ca.key"
fqdn="${service}.${namespace}.svc"

if [ -f "$ca_crt" ] || [ -f "$ca_key" ]; then
  [ -f "$ca_crt" ] || die "${ca_key} exists but ${ca_crt} does not; restore it or empty ${out_dir}"
  [ -f "$ca_key" ] || die "${ca_crt} exists but ${ca_key} does not; a serving certificate cannot be signed without it"
  if [ "$(openssl x509 -noout -pubkey -in "$ca_crt")" != "$(openssl pkey -pubout -in "$ca_key")" ]; then
    die "${ca_key} is not the key of ${ca_crt}"
  fi
  say "using the existing CA in ${out_dir} ($(openssl x509 -noout -subject -in "$ca_crt"))"
  if ! openssl x509 -noout -checkend "$((days * 86400))" -in "$ca_crt" >/dev/null; then
    say "warning: the CA expires before the new serving certificate ($(openssl x509 -noout -enddate -in "$ca_crt")); verification fails from then on"
  fi
else
  say "making a CA (${key_type}, ${ca_days} days)"
  cat >"${work}/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = ${service}-ca
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  generate_key "$key_type" "${work}/ca.key"
  openssl req -new -x509 -config "${work}/ca.cnf" -extensions v3_ca -key "${work}/ca.key" \
    -days "$ca_days" -sha256 -set_serial "$(random_serial)" -out "${work}/ca.crt"
  chmod 644 "${work}/ca.crt"
  mv "${work}/ca.key" "$ca_key"
  mv "${work}/ca.crt" "$ca_crt"
fi

# RSA keys encipher in TLS 1.2's RSA key exchange; EC keys only sign.
case "$key_type" in
  rsa*) key_usage="critical, digitalSignature, keyEncipherment" ;;
  ec*) key_usage="critical, digitalSignature" ;;
esac

say "issuing the serving certificate for ${fqdn} (${key_type}, ${days} days)"
cat >"${work}/tls.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = ${fqdn}
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = ${key_usage}
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:${service}, DNS:${service}.${namespace}, DNS:${fqdn}, DNS:${fqdn}.${cluster_domain}
EOF
generate_key "$key_type" "${work}/tls.key"
openssl req -new -config "${work}/tls.cnf" -key "${work}/tls.key" -out "${work}/tls.csr"
openssl x509 -req -in "${work}/tls.csr" -CA "$ca_crt" -CAkey "$ca_key" -set_serial "$(random_serial)" \
  -days "$days" -sha256 -extfile "${work}/tls.cnf" -extensions v3_server -out "${work}/tls.crt" 2>/dev/null
chmod 644 "${work}/tls.crt"
openssl verify -CAfile "$ca_crt" "${work}/tls.crt" >/dev/null ||
  die "the new certificate does not verify against ${ca_crt}"

# Each file is replaced with a rename, so a reader never sees half a file; the webhook
# re-reads both and installs the pair only once the key matches the certificate.
mv "${work}/tls.key" "${out_dir}/tls.key"
mv "${work}/tls.crt" "${out_dir}/tls.crt"

say "wrote ${out_dir}/tls.crt (serial $(openssl x509 -noout -serial -in "${out_dir}/tls.crt" | cut -d= -f2), until $(openssl x509 -noout -enddate -in "${out_dir}/tls.crt" | cut -d= -f2))"
say "wrote ${out_dir}/tls.key (mode 600)"
say "CA: ${ca_crt}; its key ${ca_key} (mode 600) signs every rotation: keep it secret and out of the cluster"
say "DNS names: ${service}, ${service}.${namespace}, ${fqdn}, ${fqdn}.${cluster_domain}"
say "caBundle (base64 of ca.crt, for tls.secret.caBundle):"
openssl base64 -A -in "$ca_crt"
echo
