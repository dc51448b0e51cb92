# meshgate. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin

# The local control plane (kube-apiserver, etcd, kubectl) and the real CRDs that
# the end-to-end tests use, built by hack/ from the Go module proxy.
export KUBEBUILDER_ASSETS ?= $(BIN)/k8s
export MESHGATE_CRDS      ?= $(BIN)/crds

PKGS := ./...

.PHONY: all build test unit lint bench fuzz golden control-plane crds demo clean

all: build

build: ## build bin/meshgate
	$(GO) build -o $(BIN)/meshgate ./cmd/meshgate

control-plane: ## build kube-apiserver, etcd and kubectl into bin/k8s (skipped when present)
	hack/build-control-plane.sh

crds: ## copy the Gateway API, Istio and cert-manager CRDs into bin/crds (skipped when present)
	hack/fetch-crds.sh

test: lint control-plane crds ## everything CI runs
	$(GO) test -count=1 $(PKGS)

unit: ## the tests that need no control plane
	$(GO) test -short $(PKGS)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

golden: ## regenerate the golden corpus's want.yaml files
	UPDATE_GOLDEN=1 $(GO) test -count=1 -run 'Golden' ./test/golden/

bench: ## benchmarks of every rule, the engine, the admission handlers and the CLI
	$(GO) test -run '^$$' -bench . -benchmem ./mutators/ ./validators/ ./engine/ ./webhook/ ./manifest/ ./check/

.PHONY: bench-check
bench-check: ## time `meshgate check` on a generated 10,000-object corpus (wall, CPU, peak memory)
	hack/bench-check.sh

FUZZTIME ?= 10s
fuzz: ## run every fuzz target for FUZZTIME each (bounded)
	hack/fuzz.sh $(FUZZTIME)

demo: control-plane crds ## local control plane + meshgate, apply examples/ and show what meshgate did; runs until Ctrl-C (DEMO_ONESHOT=1: exit after the show)
	$(GO) run ./hack/demo

.PHONY: loadgen
LOADGEN_REQUESTS ?= 20000
LOADGEN_SECONDS  ?= 20
loadgen: ## bounded TLS load test of the mutating handler on 127.0.0.1: engine ops vs PatchResponseFromRaw vs no-op
	$(GO) run ./hack/loadgen -requests $(LOADGEN_REQUESTS) -max-seconds $(LOADGEN_SECONDS)

clean:
	rm -rf $(BIN)/meshgate
