# meshgate. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin

# The local control plane (kube-apiserver, etcd, kubectl) and the real CRDs that
# the end-to-end tests use, built by hack/ from the Go module proxy.
export KUBEBUILDER_ASSETS ?= $(BIN)/k8s
export MESHGATE_CRDS      ?= $(BIN)/crds

PKGS := ./...

# golangci-lint, pinned; installed from the Go module proxy into bin/tools.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

# cyclonedx-gomod, pinned; installed from the Go module proxy into bin/tools
# (make release writes the SBOM of the binary with it).
CYCLONEDX_GOMOD_VERSION := v1.10.0
CYCLONEDX_GOMOD := $(BIN)/tools/cyclonedx-gomod-$(CYCLONEDX_GOMOD_VERSION)/cyclonedx-gomod

# Modules of their own: the chart's tests (they need the Helm SDK, the product
# does not).
TEST_MODULES := test/chart

.PHONY: all build test unit lint bench fuzz golden generate control-plane crds demo clean

all: build

build: ## build bin/meshgate
	$(GO) build -o $(BIN)/meshgate ./cmd/meshgate

control-plane: ## build kube-apiserver, etcd and kubectl into bin/k8s (skipped when present)
	hack/build-control-plane.sh

crds: ## copy the Gateway API, Istio and cert-manager CRDs into bin/crds (skipped when present)
	hack/fetch-crds.sh

test: lint control-plane crds ## everything CI runs
	$(GO) test -count=1 $(PKGS)
	for m in $(TEST_MODULES); do (cd $$m && $(GO) test -count=1 ./...) || exit 1; done

unit: ## the tests that need no control plane
	$(GO) test -short $(PKGS)
	for m in $(TEST_MODULES); do (cd $$m && $(GO) test -short ./...) || exit 1; done

lint: $(GOLANGCI_LINT) ## golangci-lint (.golangci.yml: gofmt, go vet, staticcheck, ...) on every module
	$(GOLANGCI_LINT) run --allow-serial-runners ./...
	for m in $(TEST_MODULES); do (cd $$m && $(GOLANGCI_LINT) run --allow-serial-runners --config $(CURDIR)/.golangci.yml ./...) || exit 1; done

$(GOLANGCI_LINT):
	GOBIN=$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: release
release: $(CYCLONEDX_GOMOD) ## VERSION=x.y.z: CLI archives (linux, darwin, windows; amd64, arm64), image tarball, chart, SBOM and SHA256SUMS into dist/, reproducibly
	@[[ -n "$(VERSION)" ]] || { echo "usage: make release VERSION=x.y.z" >&2; exit 2; }
	$(GO) run ./hack/release -version $(VERSION) -out $(CURDIR)/dist -cyclonedx-gomod $(CYCLONEDX_GOMOD)

$(CYCLONEDX_GOMOD):
	GOBIN=$(dir $(CYCLONEDX_GOMOD)) $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

golden: ## regenerate the golden corpus's want.yaml files
	UPDATE_GOLDEN=1 $(GO) test -count=1 -run 'Golden' ./test/golden/

generate: ## rewrite what is derived from the Go code: charts/meshgate/generated/ and docs/in-tree.md's coverage table (hack/generate)
	$(GO) run ./hack/generate -chart charts/meshgate -docs docs

bench: ## benchmarks of every rule, the engine, the admission handlers and the CLI
	$(GO) test -run '^$$' -bench . -benchmem ./mutators/ ./validators/ ./internal/engine/ ./webhook/ ./internal/manifest/ ./internal/check/

.PHONY: bench-check
bench-check: ## time `meshgate check` on generated 1k/10k/100k-object corpora (wall, CPU, peak memory; BENCH_CHECK_ARGS="-b main" compares)
	hack/bench-check.sh $(BENCH_CHECK_ARGS)

FUZZTIME ?= 10s
fuzz: ## run every fuzz target for FUZZTIME each (bounded)
	hack/fuzz.sh $(FUZZTIME)

demo: control-plane crds ## local control plane + meshgate, apply examples/ and show what meshgate did; runs until Ctrl-C (DEMO_ONESHOT=1: exit after the show)
	$(GO) run ./hack/demo

.PHONY: bench-scale
BENCH_SCALE_SIZES ?= 10000,20000,100000
BENCH_SCALE_ARGS  ?=
bench-scale: control-plane crds ## meshgate serve against a real API server holding BENCH_SCALE_SIZES Services (+ Mappings, VirtualServices, Gateways): ready time, RSS, heap, review latency (bounded, minutes)
	$(GO) build -o $(BIN)/meshgate ./cmd/meshgate
	$(GO) run ./hack/bench-scale -meshgate $(BIN)/meshgate -sizes $(BENCH_SCALE_SIZES) $(BENCH_SCALE_ARGS)

.PHONY: loadgen
LOADGEN_REQUESTS ?= 10000
LOADGEN_SECONDS  ?= 10
LOADGEN_FLAGS    ?=
loadgen: ## bounded TLS load test of the admission handlers on 127.0.0.1, per kind, each against a no-op webhook on the same review
	$(GO) run ./hack/loadgen -requests $(LOADGEN_REQUESTS) -max-seconds $(LOADGEN_SECONDS) $(LOADGEN_FLAGS)

.PHONY: bench-apiserver
BENCH_APISERVER_FLAGS ?=
bench-apiserver: control-plane crds ## creates through a real kube-apiserver (envtest, 127.0.0.1): 1,000 each of ordinary pods, Emissary pods, Services, Mappings with meshgate vs no webhook vs a no-op webhook registered the same way; p50/p99/p99.9 and meshgate's received requests
	$(GO) run ./hack/bench-apiserver $(BENCH_APISERVER_FLAGS)

.PHONY: bench-intree
BENCH_INTREE_CREATES ?= 1000
bench-intree: control-plane ## Service and edge-proxy pod create latency and API server CPU: no admission vs meshgate's webhook vs its in-tree policies (bounded, local control plane)
	$(GO) run ./hack/intreebench -creates $(BENCH_INTREE_CREATES) -max-seconds 600

include hack/cluster.mk

clean:
	rm -rf $(BIN)/meshgate
