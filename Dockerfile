# syntax=docker/dockerfile:1
# meshgate's admission webhook and CLI: a static binary on an empty base, run
# as the nonroot user 65532, no shell, no package manager, nothing written to
# the root filesystem (run it with readOnlyRootFilesystem: true).
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse --short HEAD) \
#     -t ghcr.io/meshgate/meshgate:0.1.0 .
#
# `make image` builds the same image (same files, user, entrypoint and labels)
# without a daemon; see hack/image/.

# The Go release make release builds with (hack/release: Toolchain).
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static, trimmed and stamped; -buildvcs=false so the binary does not depend on
# whether .git was part of the build context (make image builds it the same way).
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/meshgate ./cmd/meshgate \
 && mkdir -p /out/etc \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/out/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' >/out/etc/group

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="meshgate" \
      org.opencontainers.image.description="Admission webhook and offline checker that make Emissary-ingress and Istio work together" \
      org.opencontainers.image.source="https://github.com/meshgate/meshgate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build /out/meshgate /meshgate
USER 65532:65532
ENTRYPOINT ["/meshgate"]
