package protocol

import (
	"context"
	"fmt"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/policy"
)

// systemNamespaces are never checked: the Kubernetes control plane's own
// Services live there, and Istio's analyzer skips them too.
var systemNamespaces = map[string]bool{
	"kube-system":     true,
	"kube-public":     true,
	"kube-node-lease": true,
}

// Label and values Istio puts on the Services it generates for Gateway API
// Gateways (label gateway.istio.io/managed). Their ports are named by istiod
// (for example "status-port"), not by users; Istio's analyzer skips them.
const labelGatewayManaged = "gateway.istio.io/managed"

var managedGatewayValues = map[string]bool{
	"istio.io-gateway-controller":  true,
	"istio.io-mesh-controller":     true,
	"istio.io-eastwest-controller": true,
}

// InScope reports whether the Service port rules (service-port-protocol and
// service-port-name) look at svc, which lives in namespace:
//   - never in kube-system, kube-public or kube-node-lease;
//   - never a Service of Istio's own control plane (label istio, any value, or
//     release=istio) or one istiod generated for a Gateway (label
//     gateway.istio.io/managed), as Istio's port name analyzer skips them;
//   - with servicePorts.scope "all", every other Service;
//   - otherwise only Services in a namespace the World knows and that is in the
//     mesh (sidecar injection or ambient). A namespace the World does not know
//     is not checked: meshgate cannot tell whether Istio reads it.
func InScope(ctx context.Context, svc *corev1.Service, namespace string, w policy.World, cfg *policy.Config) (bool, error) {
	if svc == nil || cfg == nil || systemNamespaces[namespace] {
		return false, nil
	}
	labels := svc.Labels
	if _, ok := labels["istio"]; ok {
		return false, nil
	}
	if labels["release"] == "istio" || managedGatewayValues[labels[labelGatewayManaged]] {
		return false, nil
	}
	if cfg.ServicePorts.Scope == policy.ScopeAll {
		return true, nil
	}
	if w == nil {
		return false, nil
	}
	ns, ok, err := w.Namespace(ctx, namespace)
	if err != nil {
		return false, fmt.Errorf("look up namespace %q: %w", namespace, err)
	}
	return ok && policy.NamespaceDataPlane(ns.Labels) != policy.NoMesh, nil
}
