package istio

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/internal/policy"
)

// SystemNamespaces are never checked by the Service port rules: the
// Kubernetes control plane's own Services live there, and Istio's analyzer
// skips them too.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Label and values Istio puts on the objects its gateway controllers generate
// for Gateway API Gateways (label gateway.istio.io/managed): istiod's deployment
// controller sets it to the controller's name with "/" replaced by "-". Their
// ports are named by istiod (e.g. "status-port", or "mesh" on 15008 with
// appProtocol "all" for waypoints), not by users.
const labelGatewayManaged = "gateway.istio.io/managed"

// ManagedGatewayValues are the values of gateway.istio.io/managed for every
// gateway controller Istio defines (istio pkg/config/constants): the default
// gateway class, waypoints, east-west gateways, agentgateway and agentgateway
// waypoints. istio.io/unmanaged-gateway (class istio-remote) deploys nothing.
var ManagedGatewayValues = []string{
	"istio.io-gateway-controller",
	"istio.io-mesh-controller",
	"istio.io-eastwest-controller",
	"istio.io-agentgateway-controller",
	"istio.io-agentgateway-waypoint-controller",
}

// Managed reports whether Service labels say one of Istio's gateway
// controllers generated it.
func Managed(labels map[string]string) bool {
	return slices.Contains(ManagedGatewayValues, labels[labelGatewayManaged])
}

// InScope reports whether the Service port rules (service-port-protocol and
// service-port-name) look at svc, which lives in namespace:
//   - never in kube-system, kube-public or kube-node-lease;
//   - never a Service of Istio's own control plane (label istio, any value, or
//     release=istio) or one an Istio gateway controller generated (label
//     gateway.istio.io/managed, ManagedGatewayValues), as Istio's port name
//     analyzer skips them;
//   - with servicePorts.scope "all", every other Service;
//   - otherwise only Services in a namespace the World knows and that is in the
//     mesh (sidecar injection or ambient). A namespace the World does not know
//     is not checked: meshgate cannot tell whether Istio reads it.
func InScope(ctx context.Context, svc *corev1.Service, namespace string, w policy.World, cfg *policy.Config) (bool, error) {
	if svc == nil || cfg == nil || slices.Contains(SystemNamespaces, namespace) {
		return false, nil
	}
	labels := svc.Labels
	if _, ok := labels["istio"]; ok {
		return false, nil
	}
	if labels["release"] == "istio" || Managed(labels) {
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
	return ok && NamespaceDataPlane(ns.Labels) != NoMesh, nil
}
