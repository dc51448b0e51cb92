#!/usr/bin/env bash
# Runs the cluster tests (or the demo) end to end: builds what is missing
# (cached), builds meshgate's image, starts the cluster with it, installs
# cert-manager, runs test/cluster (which installs meshgate's chart with helm),
# and tears everything down, also when something fails. Every step is timed.
#
# Usage: hack/cluster/test.sh [test|demo]   (make test-cluster, make cluster-demo)
#   DEMO_KEEP=1 keeps the demo cluster running (make cluster-down stops it).
#   CLUSTER_TEST_RUN passes -run to go test; CLUSTER_TEST_TIMEOUT its -timeout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ROOT}/bin/cluster"
MODE="${1:-test}"
export CLUSTER_STATE="${CLUSTER_STATE:-${ROOT}/bin/cluster-state}"
IMAGE_VERSION="${IMAGE_VERSION:-$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' "${ROOT}/charts/meshgate/Chart.yaml")}"
# The node runs one architecture: the image is built for it only, beside the
# node's binaries (make image builds both architectures into dist/ for releases).
PLATFORM="linux/$(go env GOARCH)"
IMAGE_TAR="${IMAGE_TAR:-${BIN}/meshgate-${IMAGE_VERSION}-${PLATFORM/\//-}.oci.tar}"
log() { printf '[cluster-%s] %s\n' "${MODE}" "$*" >&2; }
step() { local name="$1" t=${SECONDS}; shift; "$@"; log "${name}: $((SECONDS - t))s"; }

step "build (hack/cluster/build.sh)" "${ROOT}/hack/cluster/build.sh" >/dev/null
step "image for ${PLATFORM} (hack/image/build.sh)" env OUT="${IMAGE_TAR}" VERSION="${IMAGE_VERSION}" PLATFORMS="${PLATFORM}" "${ROOT}/hack/image/build.sh" >/dev/null

# Torn down also when a step fails or the run is interrupted; down.sh verifies
# that nothing is left and fails the run if something is.
down() {
  local rc=$?
  trap - EXIT INT TERM
  if ! step "down" "${ROOT}/hack/cluster/down.sh"; then
    log "cleanup failed"
    rc=1
  fi
  log "total: ${SECONDS}s, exit ${rc}"
  exit "${rc}"
}
if [[ "${MODE}" != demo || "${DEMO_KEEP:-0}" != 1 ]]; then
  trap down EXIT
  trap 'log "interrupted"; exit 130' INT TERM
fi
t=${SECONDS}
KUBECONFIG="$(CLUSTER_IMAGES="${IMAGE_TAR}" "${ROOT}/hack/cluster/up.sh")"
export KUBECONFIG
log "up: $((SECONDS - t))s"
step "cert-manager" "${ROOT}/hack/cluster/cert-manager.sh"

export CLUSTER_BIN="${BIN}" MESHGATE_IMAGE_REPO="$(sed -n '/^image:/,/^[^ ]/s/^  repository:[[:space:]]*//p' "${ROOT}/charts/meshgate/values.yaml" | head -n1)" \
  MESHGATE_IMAGE_TAG="${IMAGE_VERSION}" MESHGATE_CHART="${ROOT}/charts/meshgate" MESHGATE_EXAMPLES="${ROOT}/examples"
# The API server listens inside the cluster's network namespace: the tests run there.
NSENTER=(nsenter "--net=/run/netns/$(cat "${CLUSTER_STATE}/netns")")
case "${MODE}" in
  test)
    step "go test ./test/cluster" "${NSENTER[@]}" bash -c 'cd "$1/test/cluster" && GOWORK=off go test -count=1 -v -timeout "${CLUSTER_TEST_TIMEOUT:-20m}" ${CLUSTER_TEST_RUN:+-run "${CLUSTER_TEST_RUN}"} ./...' _ "${ROOT}" ;;
  demo)
    step "demo" "${NSENTER[@]}" bash -c 'cd "$1/test/cluster" && GOWORK=off MESHGATE_DEMO=1 go test -count=1 -v -timeout 10m -run TestDemo ./...' _ "${ROOT}"
    if [[ "${DEMO_KEEP:-0}" == 1 ]]; then log "cluster kept: export KUBECONFIG=${KUBECONFIG}; make cluster-down stops it"; fi ;;
  *) log "unknown mode ${MODE}"; exit 2 ;;
esac
