#!/usr/bin/env bash
# Builds meshgate's image without a container daemon: the static binary for
# each platform (as the Dockerfile builds it), then an OCI image index with
# hack/image (go-containerregistry), written as an OCI image-layout tarball.
# The same commit gives the same digest: every timestamp is the commit time.
#
# Usage: hack/image/build.sh
#   Environment (all optional):
#     IMAGE_REPO       repository (default: the chart's image.repository)
#     VERSION          tag and version (default: the chart's appVersion)
#     PLATFORMS        default "linux/amd64 linux/arm64"
#     OUT              tarball (default dist/meshgate-$VERSION.oci.tar)
#     PREBUILT         directory with OS_ARCH/meshgate binaries to use instead of
#                      building them (make release passes its own)
#   Prints the index digest on stdout; progress on stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf '[image] %s\n' "$*" >&2; }

chart_value() { sed -n "s/^$1:[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" "$2" | head -n1; }
VERSION="${VERSION:-$(chart_value appVersion "${ROOT}/charts/meshgate/Chart.yaml")}"
IMAGE_REPO="${IMAGE_REPO:-$(sed -n '/^image:/,/^[^ ]/s/^  repository:[[:space:]]*//p' "${ROOT}/charts/meshgate/values.yaml" | head -n1)}"
PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64}"
OUT="${OUT:-${ROOT}/dist/meshgate-${VERSION}.oci.tar}"
[[ -n "${VERSION}" && -n "${IMAGE_REPO}" ]] || { log "cannot read the chart's appVersion / image.repository"; exit 1; }

# COMMIT and CREATED may be given (make release passes the ones its binaries carry).
CREATED="${CREATED:-$(git -C "${ROOT}" log -1 --format=%ct HEAD)}"
if [[ -z "${COMMIT:-}" ]]; then
  COMMIT="$(git -C "${ROOT}" rev-parse --short=12 HEAD)"
  if [[ -n "$(git -C "${ROOT}" status --porcelain --untracked-files=no -- . ':!dist' ':!bin' 2>/dev/null)" ]]; then
    COMMIT="${COMMIT}-dirty"
    log "working tree has changes: commit recorded as ${COMMIT}"
  fi
fi

export GOWORK=off GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
BUILD="${ROOT}/bin/image"
args=()
start=${SECONDS}
for p in ${PLATFORMS}; do
  os="${p%/*}" arch="${p#*/}"
  if [[ -n "${PREBUILT:-}" ]]; then
    [[ -x "${PREBUILT}/${os}_${arch}/meshgate" ]] || { log "no ${PREBUILT}/${os}_${arch}/meshgate"; exit 1; }
    args+=(-binary "${p}=${PREBUILT}/${os}_${arch}/meshgate")
    continue
  fi
  mkdir -p "${BUILD}/${os}_${arch}"
  log "building meshgate ${VERSION} (${COMMIT}) for ${p}"
  (cd "${ROOT}" && CGO_ENABLED=0 GOOS="${os}" GOARCH="${arch}" go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o "${BUILD}/${os}_${arch}/meshgate" ./cmd/meshgate)
  args+=(-binary "${p}=${BUILD}/${os}_${arch}/meshgate")
done
log "binaries built in $((SECONDS - start))s"

(cd "${ROOT}/hack/image" && go build -mod=readonly -o "${BUILD}/image" .)
digest="$("${BUILD}/image" -ref "${IMAGE_REPO}:${VERSION}" "${args[@]}" -path /meshgate \
  -label "org.opencontainers.image.title=meshgate" \
  -label "org.opencontainers.image.source=https://github.com/meshgate/meshgate" \
  -label "org.opencontainers.image.version=${VERSION}" \
  -label "org.opencontainers.image.revision=${COMMIT}" \
  -label "org.opencontainers.image.licenses=Apache-2.0" \
  -created "${CREATED}" -out "${OUT}")"
log "${IMAGE_REPO}:${VERSION} ${digest} -> ${OUT#${ROOT}/} ($((SECONDS - start))s)"
printf '%s\n' "${digest}"
