# Image and local-cluster targets, included by the Makefile.
#   make image          OCI image index (linux/amd64 + linux/arm64) as dist/meshgate-<version>.oci.tar
#   make image-test     checks that tarball (user, entrypoint, no shell, version) and the builder
#   make cluster        builds (cached) and starts a single-node cluster in a network namespace (root)
#   make cluster-down   stops it and cleans up
#   make test-cluster   cluster + meshgate's chart installed with helm + the cluster tests, then down
#                       (the image for the node's architecture only; CI runs it after make test)
#   make cluster-demo   cluster + chart + examples/, shown with kubectl

CLUSTER_BIN   := $(BIN)/cluster
CLUSTER_STATE ?= $(BIN)/cluster-state
IMAGE_VERSION ?= $(shell sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' charts/meshgate/Chart.yaml)
IMAGE_TAR     ?= $(CURDIR)/dist/meshgate-$(IMAGE_VERSION).oci.tar
CLUSTER_TEST_TIMEOUT ?= 20m

.PHONY: image image-test cluster-build cluster cluster-down test-cluster cluster-demo

image: ## build meshgate's image (amd64 + arm64 index, reproducible) into dist/ and print its digest
	OUT=$(IMAGE_TAR) VERSION=$(IMAGE_VERSION) hack/image/build.sh

image-test: image ## check the image make image wrote, and the builder's reproducibility
	cd hack/image && MESHGATE_IMAGE_TAR=$(IMAGE_TAR) GOWORK=off $(GO) test -count=1 -timeout 30m ./...

cluster-build: ## build the node's binaries into bin/cluster (cached by version stamps)
	hack/cluster/build.sh

cluster: cluster-build image ## start the single-node cluster (root); prints its KUBECONFIG
	CLUSTER_STATE=$(CLUSTER_STATE) CLUSTER_IMAGES="$(IMAGE_TAR)" hack/cluster/up.sh

cluster-down: ## stop the cluster and clean up (pids, mounts, network namespace)
	CLUSTER_STATE=$(CLUSTER_STATE) hack/cluster/down.sh

test-cluster: ## cluster + helm install + the cluster tests (test/cluster), torn down afterwards
	CLUSTER_STATE=$(CLUSTER_STATE) IMAGE_VERSION=$(IMAGE_VERSION) CLUSTER_TEST_TIMEOUT=$(CLUSTER_TEST_TIMEOUT) hack/cluster/test.sh

cluster-demo: ## cluster + chart + examples/ applied with kubectl; torn down afterwards (DEMO_KEEP=1 keeps it)
	CLUSTER_STATE=$(CLUSTER_STATE) IMAGE_VERSION=$(IMAGE_VERSION) hack/cluster/test.sh demo
