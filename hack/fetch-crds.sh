#!/usr/bin/env bash
# Copies the real CustomResourceDefinitions meshgate's tests install into
# bin/crds/ at the repository root, straight from the Go module cache (the
# versions are pinned in hack/tools/crds/go.mod, checksums in its go.sum):
#
#   bin/crds/gateway-api/   sigs.k8s.io/gateway-api  config/crd/standard/*.yaml
#                           (standard channel; in v1.6 it already serves
#                           HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute
#                           at v1. The ValidatingAdmissionPolicy
#                           vap_safeupgrades.yaml is not a CRD and is skipped.)
#   bin/crds/istio/         istio.io/api  kubernetes/customresourcedefinitions.gen.yaml
#   bin/crds/cert-manager/  github.com/cert-manager/cert-manager  deploy/crds/*.yaml
#                           (plain controller-gen YAML, no Helm templating)
#   bin/crds/openreports/   github.com/openreports/reports-api  config/crd/*.yaml
#                           (Report and ClusterReport, what the audit writes)
#
# Emissary's CRDs are not available as a module; hand-written ones live in
# test/crds/emissary/ (committed, not copied here).
#
# Skips the copy when bin/crds/.stamp matches the pinned versions.
# Usage: hack/fetch-crds.sh [--force]
#   Progress goes to stderr; the bin/crds directory is printed on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODDIR="${ROOT}/hack/tools/crds"
OUT="${ROOT}/bin/crds"

log() { printf '[fetch-crds] %s\n' "$*" >&2; }

FORCE=0
case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
  *) log "unknown argument: $1 (usage: $0 [--force])"; exit 2 ;;
esac

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }
export GOWORK=off
export GOTOOLCHAIN=local

GATEWAY_MOD=sigs.k8s.io/gateway-api
ISTIO_MOD=istio.io/api
CERTMANAGER_MOD=github.com/cert-manager/cert-manager
OPENREPORTS_MOD=github.com/openreports/reports-api

modver() {
  (cd "${MODDIR}" && go list -mod=readonly -m -f '{{.Version}}' "$1")
}
GATEWAY_VERSION="$(modver "${GATEWAY_MOD}")"
ISTIO_VERSION="$(modver "${ISTIO_MOD}")"
CERTMANAGER_VERSION="$(modver "${CERTMANAGER_MOD}")"
OPENREPORTS_VERSION="$(modver "${OPENREPORTS_MOD}")"
STAMP="gateway-api=${GATEWAY_VERSION}/standard istio=${ISTIO_VERSION} cert-manager=${CERTMANAGER_VERSION} openreports=${OPENREPORTS_VERSION} script=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"

if [[ "${FORCE}" == 0 && -f "${OUT}/.stamp" && "$(cat "${OUT}/.stamp")" == "${STAMP}" ]] \
   && compgen -G "${OUT}/gateway-api/*.yaml" >/dev/null \
   && compgen -G "${OUT}/istio/*.yaml" >/dev/null \
   && compgen -G "${OUT}/cert-manager/*.yaml" >/dev/null \
   && compgen -G "${OUT}/openreports/*.yaml" >/dev/null; then
  log "up to date: ${STAMP}"
  printf '%s\n' "${OUT}"
  exit 0
fi

# Download (verified against hack/tools/crds/go.sum) and locate the modules.
log "resolving ${GATEWAY_MOD}@${GATEWAY_VERSION} ${ISTIO_MOD}@${ISTIO_VERSION} ${CERTMANAGER_MOD}@${CERTMANAGER_VERSION}"
(cd "${MODDIR}" && go mod download "${GATEWAY_MOD}" "${ISTIO_MOD}" "${CERTMANAGER_MOD}" "${OPENREPORTS_MOD}")
moddir() {
  local d
  d="$(cd "${MODDIR}" && go list -mod=readonly -m -f '{{.Dir}}' "$1")"
  [[ -n "${d}" && -d "${d}" ]] || { log "module $1 is not in the module cache"; exit 1; }
  printf '%s\n' "${d}"
}
GATEWAY_DIR="$(moddir "${GATEWAY_MOD}")"
ISTIO_DIR="$(moddir "${ISTIO_MOD}")"
CERTMANAGER_DIR="$(moddir "${CERTMANAGER_MOD}")"
OPENREPORTS_DIR="$(moddir "${OPENREPORTS_MOD}")"

mkdir -p "${OUT}"
STAGE="$(mktemp -d "${OUT}/.stage.XXXXXX")"
trap 'rm -rf "${STAGE}"' EXIT
mkdir -p "${STAGE}/gateway-api" "${STAGE}/istio" "${STAGE}/cert-manager" "${STAGE}/openreports"

# copy SRC DST: module cache files are read-only; install makes them writable
# so a later --force can overwrite them.
copy() { install -m 0644 "$1" "$2"; }

shopt -s nullglob
n=0
for f in "${GATEWAY_DIR}"/config/crd/standard/*.yaml; do
  case "$(basename "${f}")" in
    *vap_safeupgrades*|kustomization.yaml) continue ;;
  esac
  copy "${f}" "${STAGE}/gateway-api/"
  n=$((n + 1))
done
log "gateway-api ${GATEWAY_VERSION}: ${n} files from config/crd/standard"

copy "${ISTIO_DIR}/kubernetes/customresourcedefinitions.gen.yaml" "${STAGE}/istio/"
log "istio ${ISTIO_VERSION}: kubernetes/customresourcedefinitions.gen.yaml"

n=0
for f in "${CERTMANAGER_DIR}"/deploy/crds/*.yaml; do
  copy "${f}" "${STAGE}/cert-manager/"
  n=$((n + 1))
done
log "cert-manager ${CERTMANAGER_VERSION}: ${n} files from deploy/crds"

n=0
for f in "${OPENREPORTS_DIR}"/config/crd/*.yaml; do
  copy "${f}" "${STAGE}/openreports/"
  n=$((n + 1))
done
log "openreports ${OPENREPORTS_VERSION}: ${n} files from config/crd"

# Sanity: every file must be plain YAML holding CustomResourceDefinitions (no
# Helm/Go templating that a real API server would reject).
for f in "${STAGE}"/*/*.yaml; do
  if grep -q '{{' "${f}"; then
    log "unexpected template syntax in ${f#"${STAGE}"/}"
    exit 1
  fi
  if ! grep -q '^kind: CustomResourceDefinition' "${f}"; then
    log "no CustomResourceDefinition in ${f#"${STAGE}"/}"
    exit 1
  fi
done

for d in gateway-api istio cert-manager openreports; do
  rm -rf "${OUT:?}/${d}"
  mv "${STAGE}/${d}" "${OUT}/${d}"
done
printf '%s\n' "${STAMP}" >"${OUT}/.stamp"
log "CRDs ready in ${OUT}"
printf '%s\n' "${OUT}"
