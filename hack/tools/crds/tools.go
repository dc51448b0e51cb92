//go:build tools

// Package crds only exists so `go mod tidy` keeps the CRD source modules pinned
// in go.mod. hack/fetch-crds.sh copies their CustomResourceDefinition YAML out
// of the module cache into bin/crds/; nothing here is ever compiled.
package crds

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	_ "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	_ "istio.io/api/networking/v1"
	_ "sigs.k8s.io/gateway-api/apis/v1"
)
