#!/usr/bin/env bash
# Builds everything make cluster runs into bin/cluster/, from the Go module
# proxy, each part cached by a stamp keyed on its pinned versions, the Go
# toolchain and its inputs (like hack/build-control-plane.sh):
#
#   kube (+ symlinks kube-apiserver, kube-controller-manager, kube-scheduler,
#         kubelet, kube-proxy, kubectl), etcd
#                                        the local control plane's own binaries
#                                        (hack/build-control-plane.sh, bin/k8s),
#                                        linked: a machine builds Kubernetes once
#   containerd, containerd-shim-runc-v2, ctr   containerd 2.x (hack/cluster/containerd)
#   runc                                 opencontainers/runc, cgo + libseccomp (hack/cluster/runc)
#   helm                                 helm.sh/helm/v4 (hack/cluster/helm)
#   cert-manager-controller, cert-manager-cainjector
#                                        our mains over cert-manager's packages
#                                        (hack/cluster/certmanager)
#   pause                                pod sandbox (hack/cluster/pause)
#   image                                image builder (hack/image)
#
# Debian packages the build needs (libseccomp-dev) are installed when missing.
# Usage: hack/cluster/build.sh [--force] [PART...]   (default: every part)
#   Prints the output directory on stdout; progress and timings on stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HC="${ROOT}/hack/cluster"
OUT="${ROOT}/bin/cluster"
log() { printf '[cluster-build] %s\n' "$*" >&2; }

FORCE=0
PARTS=()
for a in "$@"; do
  case "${a}" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) PARTS+=("${a}") ;;
  esac
done
[[ ${#PARTS[@]} -gt 0 ]] || PARTS=(kube etcd containerd runc helm certmanager pause image)

export GOWORK=off GOTOOLCHAIN=local
GO_VERSION="$(go env GOVERSION)"
GOARCH="$(go env GOARCH)"
modver() { (cd "$1" && go list -mod=readonly -m -f '{{.Version}}' "$2"); }
hash_files() { cat "$@" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1; }

# apt_need PKG...: installs the Debian packages that are missing.
apt_need() {
  local missing=() p
  for p in "$@"; do dpkg -s "${p}" >/dev/null 2>&1 || missing+=("${p}"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

mkdir -p "${OUT}"
exec 9>"${OUT}/.lock"
if ! flock -n 9; then log "another build holds ${OUT}/.lock; waiting"; flock 9; fi

# part NAME STAMP BINARIES... -- COMMAND...: runs COMMAND (which writes into
# $STAGE) unless every binary exists and the stamp matches.
part() {
  local name="$1" stamp="$2"; shift 2
  local bins=() b
  while [[ "$1" != "--" ]]; do bins+=("$1"); shift; done
  shift
  local ok=1
  for b in "${bins[@]}"; do [[ -x "${OUT}/${b}" ]] || ok=0; done
  if [[ "${FORCE}" == 0 && "${ok}" == 1 && -f "${OUT}/.stamp-${name}" && "$(cat "${OUT}/.stamp-${name}")" == "${stamp}" ]]; then
    log "${name}: up to date"
    return 0
  fi
  STAGE="$(mktemp -d "${OUT}/.stage-${name}.XXXXXX")"
  rm -f "${OUT}/.stamp-${name}"
  local start=${SECONDS}
  log "${name}: building (${stamp%% inputs=*})"
  local cmd=() x
  for x in "$@"; do [[ "${x}" == "@STAGE@" ]] && x="${STAGE}"; cmd+=("${x}"); done
  if ! "${cmd[@]}"; then rm -rf "${STAGE}"; log "${name}: build failed"; return 1; fi
  for b in "${bins[@]}"; do mv -f "${STAGE}/${b}" "${OUT}/${b}"; done
  rm -rf "${STAGE}"
  printf '%s\n' "${stamp}" >"${OUT}/.stamp-${name}"
  log "${name}: built in $((SECONDS - start))s"
}

for p in "${PARTS[@]}"; do
  case "${p}" in
    kube|etcd)
      # The local control plane's binaries (built, or found up to date, once
      # for both parts), linked so a machine builds Kubernetes once.
      if [[ -z "${K8S_DIR:-}" ]]; then
        t=${SECONDS}
        K8S_DIR="$("${ROOT}/hack/build-control-plane.sh" $([[ "${FORCE}" == 1 ]] && echo --force))"
        log "kube, etcd: bin/k8s ready in $((SECONDS - t))s"
      fi
      if [[ "${p}" == kube ]]; then
        for s in kube kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
          ln -sfn "${K8S_DIR}/${s}" "${OUT}/${s}"
        done
      else
        ln -sfn "${K8S_DIR}/etcd" "${OUT}/etcd"
      fi ;;
    containerd)
      v="$(modver "${HC}/containerd" github.com/containerd/containerd/v2)"
      part containerd "containerd=${v} go=${GO_VERSION} arch=${GOARCH} inputs=$(hash_files "${HC}/containerd/go.mod" "${HC}/containerd/go.sum")" \
        containerd containerd-shim-runc-v2 ctr -- \
        bash -c 'cd "$1" && CGO_ENABLED=0 go build -mod=readonly -tags "no_btrfs no_devmapper no_zfs" -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$2" -o "$3/" github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr' _ "${HC}/containerd" "${v}" "@STAGE@" ;;
    runc)
      apt_need libseccomp-dev pkg-config
      v="$(modver "${HC}/runc" github.com/opencontainers/runc)"
      part runc "runc=${v} go=${GO_VERSION} arch=${GOARCH} inputs=$(hash_files "${HC}/runc/go.mod" "${HC}/runc/go.sum")" \
        runc -- bash -c 'cd "$1" && CGO_ENABLED=1 go build -mod=readonly -tags seccomp -ldflags "-s -w -X main.version=${2#v}" -o "$3/runc" github.com/opencontainers/runc' _ "${HC}/runc" "${v}" "@STAGE@" ;;
    helm)
      v="$(modver "${HC}/helm" helm.sh/helm/v4)"
      part helm "helm=${v} go=${GO_VERSION} arch=${GOARCH} inputs=$(hash_files "${HC}/helm/go.mod" "${HC}/helm/go.sum")" \
        helm -- bash -c 'cd "$1" && CGO_ENABLED=0 go build -mod=readonly -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$2" -o "$3/helm" helm.sh/helm/v4/cmd/helm' _ "${HC}/helm" "${v}" "@STAGE@" ;;
    certmanager)
      v="$(modver "${HC}/certmanager" github.com/cert-manager/cert-manager)"
      part certmanager "cert-manager=${v} go=${GO_VERSION} arch=${GOARCH} inputs=$(hash_files "${HC}/certmanager/go.mod" "${HC}/certmanager/go.sum" "${HC}/certmanager/controller/main.go" "${HC}/certmanager/cainjector/main.go")" \
        cert-manager-controller cert-manager-cainjector -- \
        bash -c 'cd "$1" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$2" -o "$3/cert-manager-controller" ./controller && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$2" -o "$3/cert-manager-cainjector" ./cainjector' _ "${HC}/certmanager" "${v}" "@STAGE@" ;;
    pause)
      part pause "pause go=${GO_VERSION} arch=${GOARCH} inputs=$(hash_files "${HC}/pause/go.mod" "${HC}/pause/main.go")" \
        pause -- bash -c 'cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$2/pause" .' _ "${HC}/pause" "@STAGE@" ;;
    image)
      part image "image go=${GO_VERSION} arch=${GOARCH} inputs=$(hash_files "${ROOT}/hack/image/go.mod" "${ROOT}/hack/image/go.sum" "${ROOT}/hack/image/main.go" "${ROOT}/hack/image/build.go")" \
        image -- bash -c 'cd "$1" && CGO_ENABLED=0 go build -mod=readonly -o "$2/image" .' _ "${ROOT}/hack/image" "@STAGE@" ;;
    *) log "unknown part ${p}"; exit 2 ;;
  esac
done
printf '%s\n' "${OUT}"
