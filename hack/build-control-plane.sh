#!/usr/bin/env bash
# Builds the real Kubernetes programs meshgate's tests and demo run, from the Go
# module proxy, into bin/k8s/ at the repository root:
#
#   kube     one multi-call binary (hack/tools/kube: k8s.io/kubernetes with its
#            staging modules replaced), called through the symlinks
#            kube-apiserver, kube-controller-manager, kubectl (envtest, make demo)
#            and kube-scheduler, kubelet, kube-proxy (make cluster)
#   etcd     go.etcd.io/etcd/server/v3 via etcdmain.Main (hack/tools/etcd)
#
# Release binaries cannot be downloaded here, so they are compiled, once per
# machine: make cluster reuses these. A cold build takes about 10 minutes on
# 2 cores; a warm run (binaries present and bin/k8s/.stamp matching the pinned
# versions) takes well under a second.
#
# Usage: hack/build-control-plane.sh [--force]
#   Progress goes to stderr; the directory to use as KUBEBUILDER_ASSETS is the
#   only thing printed on stdout:
#     export KUBEBUILDER_ASSETS="$(hack/build-control-plane.sh)"
#
# Environment: the shared Go build and module caches are used (GOCACHE and
# GOMODCACHE are left alone). GOFLAGS from the environment is honoured, but
# -mod=readonly is forced so the committed go.mod/go.sum pins are what gets built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${ROOT}/hack/tools"
OUT="${ROOT}/bin/k8s"
BINARIES=(kube etcd)
# The names the multi-call binary answers to (hack/tools/kube/main.go).
KUBE_LINKS=(kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy)

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

FORCE=0
case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
  *) log "unknown argument: $1 (usage: $0 [--force])"; exit 2 ;;
esac

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }

# Build the tools modules on their own: never as part of a go.work that might
# exist at the repo root, never with a toolchain download, never from vendor/.
export GOWORK=off
export GOTOOLCHAIN=local
export CGO_ENABLED=0

# modver DIR MODULE: the version of MODULE selected by the go.mod in DIR.
modver() {
  (cd "$1" && go list -mod=readonly -m -f '{{.Version}}' "$2")
}

K8S_VERSION="$(modver "${TOOLS}/kube" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "${TOOLS}/etcd" go.etcd.io/etcd/server/v3)"
GO_VERSION="$(go env GOVERSION)"

# The stamp records everything that determines the binaries: pinned versions,
# the Go toolchain, and the exact module files / etcd main package / this script.
inputs_hash() {
  cat "${TOOLS}/kube/go.mod" "${TOOLS}/kube/go.sum" "${TOOLS}/kube/main.go" \
      "${TOOLS}/etcd/go.mod" "${TOOLS}/etcd/go.sum" "${TOOLS}/etcd/main.go" \
      "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
}
STAMP="kubernetes=${K8S_VERSION} etcd=${ETCD_VERSION} go=${GO_VERSION} goos=$(go env GOOS) goarch=$(go env GOARCH) inputs=$(inputs_hash)"

up_to_date() {
  local b
  for b in "${BINARIES[@]}" "${KUBE_LINKS[@]}"; do
    [[ -x "${OUT}/${b}" ]] || return 1
  done
  [[ -f "${OUT}/.stamp" ]] && [[ "$(cat "${OUT}/.stamp")" == "${STAMP}" ]]
}

finish() {
  log "control plane ready in ${OUT} (kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION})"
  log "use it with: export KUBEBUILDER_ASSETS=${OUT}"
  printf '%s\n' "${OUT}"
}

if [[ "${FORCE}" == 0 ]] && up_to_date; then
  log "up to date: ${STAMP}"
  finish
  exit 0
fi

mkdir -p "${OUT}"
# Serialise concurrent runs (e.g. several test packages calling this at once);
# whoever waits re-checks the stamp and usually finds the work already done.
exec 9>"${OUT}/.lock"
if command -v flock >/dev/null 2>&1; then
  if ! flock -n 9; then
    log "another build holds ${OUT}/.lock; waiting for it"
    flock 9
  fi
  if [[ "${FORCE}" == 0 ]] && up_to_date; then
    log "up to date (built by a concurrent run): ${STAMP}"
    finish
    exit 0
  fi
fi

# Version stamping as upstream's hack/lib/version.sh does, so that
# `kube-apiserver --version` and `kubectl version` report the real release.
# buildDate is the release's commit time (from the module proxy), which keeps
# the build reproducible.
K8S_BUILD_DATE="$(cd "${TOOLS}/kube" && go list -mod=readonly -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
if [[ ! "${K8S_VERSION}" =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
  log "cannot parse kubernetes version ${K8S_VERSION}"
  exit 1
fi
K8S_MAJOR="${BASH_REMATCH[1]}"
K8S_MINOR="${BASH_REMATCH[2]}"
ldflags=(-s -w)
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=(
    "-X ${pkg}.gitVersion=${K8S_VERSION}"
    "-X ${pkg}.gitMajor=${K8S_MAJOR}"
    "-X ${pkg}.gitMinor=${K8S_MINOR}"
    "-X ${pkg}.gitTreeState=clean"
    "-X ${pkg}.buildDate=${K8S_BUILD_DATE}"
  )
done

# Build into a scratch directory and move into place, so an interrupted build
# never leaves a half-written binary that a later run would trust.
STAGE="$(mktemp -d "${OUT}/.stage.XXXXXX")"
trap 'rm -rf "${STAGE}"' EXIT
rm -f "${OUT}/.stamp"

start=${SECONDS}
log "building kube (kube-apiserver, kube-controller-manager, kubectl, kube-scheduler, kubelet, kube-proxy) ${K8S_VERSION} with ${GO_VERSION} (cold: ~10 min on 2 cores)"
(cd "${TOOLS}/kube" && go build -mod=readonly -ldflags "${ldflags[*]}" -o "${STAGE}/kube" .)
log "building etcd ${ETCD_VERSION}"
(cd "${TOOLS}/etcd" && go build -mod=readonly -ldflags "-s -w" -o "${STAGE}/etcd" .)

for b in "${BINARIES[@]}"; do
  mv -f "${STAGE}/${b}" "${OUT}/${b}"
done
for l in "${KUBE_LINKS[@]}"; do
  ln -sfn kube "${OUT}/${l}"
done
log "kube-apiserver: $("${OUT}/kube-apiserver" --version 2>&1)"
log "etcd: $("${OUT}/etcd" --version 2>&1 | head -n1)"
printf '%s\n' "${STAMP}" >"${OUT}/.stamp"
log "built in $((SECONDS - start))s"
finish
