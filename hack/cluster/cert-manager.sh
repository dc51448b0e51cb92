#!/usr/bin/env bash
# Installs cert-manager on the cluster hack/cluster/up.sh started: its own
# chart (deploy/charts/cert-manager of github.com/cert-manager/cert-manager,
# from the module cache) rendered with helm, with the controller and cainjector
# images built from our mains (hack/cluster/certmanager). cert-manager's
# webhook is left out: its server lives in cert-manager's internal packages,
# which a main outside cert-manager's module cannot import, so it cannot be
# built here; without it, cert-manager works but does not validate its own
# resources. Waits until both Deployments are available.
#
# Usage: KUBECONFIG=... hack/cluster/cert-manager.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${ROOT}/bin/cluster"
: "${KUBECONFIG:?set KUBECONFIG to the admin kubeconfig of the cluster}"
log() { printf '[cert-manager] %s (%ss)\n' "$*" "${SECONDS}" >&2; }
# The API server listens inside the cluster's network namespace.
NETNS="$(cat "${CLUSTER_STATE:-${ROOT}/bin/cluster-state}/netns")"
kubectl() { nsenter "--net=/run/netns/${NETNS}" "${BIN}/kubectl" "$@"; }

export GOWORK=off GOTOOLCHAIN=local
CM_VERSION="$(cd "${ROOT}/hack/cluster/certmanager" && go list -mod=readonly -m -f '{{.Version}}' github.com/cert-manager/cert-manager)"
CM_DIR="$(cd "${ROOT}/hack/cluster/certmanager" && go mod download -json github.com/cert-manager/cert-manager | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
CHART="${CM_DIR}/deploy/charts/cert-manager"
[[ -f "${CHART}/Chart.yaml" ]] || { log "cert-manager's chart not found at ${CHART}"; exit 1; }

rendered="$("${BIN}/helm" template cert-manager "${CHART}" --namespace cert-manager \
  --set crds.enabled=true \
  --set image.repository=localhost/cert-manager/controller --set image.tag="${CM_VERSION}" --set image.pullPolicy=Never \
  --set cainjector.image.repository=localhost/cert-manager/cainjector --set cainjector.image.tag="${CM_VERSION}" --set cainjector.image.pullPolicy=Never \
  --set startupapicheck.enabled=false)"
# Drop the webhook objects (documents rendered from templates/webhook-*).
drop_webhook() {
  awk '/^---/ { if (keep) printf "%s", doc; doc = $0 "\n"; keep = 1; next }
       /^# Source: cert-manager\/templates\/webhook-/ { keep = 0 }
       { doc = doc $0 "\n" }
       END { if (keep) printf "%s", doc }'
}
manifest="$(drop_webhook <<<"${rendered}")"

kubectl create namespace cert-manager --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply --server-side --force-conflicts -f - >/dev/null <<<"${manifest}"
log "applied cert-manager ${CM_VERSION} (controller, cainjector, CRDs; no webhook)"
kubectl -n cert-manager rollout status deployment/cert-manager deployment/cert-manager-cainjector --timeout=180s >&2
log "cert-manager ready"
