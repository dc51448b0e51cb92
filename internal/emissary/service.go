package emissary

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

// Resolved is what the World knows about a Service upstream.
type Resolved struct {
	// Namespace is the upstream's namespace as the World knows it.
	Namespace policy.Namespace
	// NamespaceKnown is false when the World does not know the namespace.
	NamespaceKnown bool
	// DataPlane is the namespace's data plane (NoMesh when unknown).
	DataPlane istio.DataPlane
	// Service is the upstream Service, nil when the World does not know it.
	Service *corev1.Service
	// MTLS is the effective mTLS mode of the Service's workloads; only set when
	// DataPlane is Sidecar.
	MTLS istio.MTLS
}

// Resolve looks a Service upstream up in the World. u must be a HostService
// upstream; others resolve to nothing. The Service is looked up even when the
// World does not know its namespace (the data plane is then NoMesh).
func Resolve(ctx context.Context, u Upstream, w policy.World, rootNamespace string) (Resolved, error) {
	var r Resolved
	if w == nil || u.Kind != HostService {
		return r, nil
	}
	svc, ok, err := policy.Get(ctx, w, policy.Services, u.Namespace, u.Name)
	if err != nil {
		return r, fmt.Errorf("look up Service %s/%s: %w", u.Namespace, u.Name, err)
	}
	if ok && svc != nil {
		r.Service = svc
	}
	r.Namespace, r.NamespaceKnown, err = policy.Get(ctx, w, policy.Namespaces, "", u.Namespace)
	if err != nil {
		return r, fmt.Errorf("look up namespace %q: %w", u.Namespace, err)
	}
	if !r.NamespaceKnown {
		return r, nil
	}
	r.DataPlane = istio.NamespaceDataPlane(r.Namespace.Labels)
	if r.DataPlane == istio.Sidecar {
		var selector map[string]string
		if r.Service != nil {
			selector = r.Service.Spec.Selector
		}
		r.MTLS, err = istio.EffectiveMTLS(ctx, w, rootNamespace, u.Namespace, selector)
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// IsExternalName reports whether svc is an ExternalName Service (a DNS alias to
// a host outside the mesh).
func IsExternalName(svc *corev1.Service) bool {
	return svc != nil && svc.Spec.Type == corev1.ServiceTypeExternalName
}

// PortChoice is the port Emissary should use for plain HTTP to a meshed
// Service, and why.
type PortChoice struct {
	Port int32
	// Why is "the Service's HTTP port \"http\"", "port 80 of the Service", ...
	Why string
}

// HTTPPort picks the Service port that serves HTTP, for a Mapping that must
// name one: the first port Istio reads as http or http2 (from appProtocol, else
// the name), preferring port 80 among several; else port 80; else the only
// port. false when the Service does not make it clear.
func HTTPPort(svc *corev1.Service) (PortChoice, bool) {
	if svc == nil {
		return PortChoice{}, false
	}
	ports := svc.Spec.Ports
	var httpPort *corev1.ServicePort
	for i := range ports {
		p := &ports[i]
		if !isHTTP(p) {
			continue
		}
		if httpPort == nil || (p.Port == 80 && httpPort.Port != 80) {
			httpPort = p
		}
	}
	if httpPort != nil {
		return PortChoice{Port: httpPort.Port, Why: "the Service's HTTP port " + describePort(httpPort)}, true
	}
	for i := range ports {
		if ports[i].Port == 80 {
			return PortChoice{Port: 80, Why: "the Service's port 80"}, true
		}
	}
	if len(ports) == 1 && ports[0].Port > 0 {
		return PortChoice{Port: ports[0].Port, Why: "the Service's only port"}, true
	}
	return PortChoice{}, false
}

func describePort(p *corev1.ServicePort) string {
	if p.Name == "" {
		return "(appProtocol " + deref(p.AppProtocol) + ")"
	}
	return "\"" + p.Name + "\""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The ports Emissary connects to when a Mapping's service has none: 443 when
// it originates TLS (an https:// service, or a tls context without http://),
// else 80 (ambassador/ir/ircluster.py).
const (
	PlainPort = 80
	TLSPort   = 443
)

// HasPort reports whether svc exposes port over TCP, the only L4 protocol
// Emissary proxies a Mapping over.
func HasPort(svc *corev1.Service, port int32) bool {
	if svc == nil {
		return false
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			return true
		}
	}
	return false
}

// isHTTP reports whether Istio reads the port as http or http2, by the same
// reading the Service port rules use (istio.ForServicePort).
func isHTTP(p *corev1.ServicePort) bool {
	if p.Protocol == corev1.ProtocolSCTP {
		return false // Emissary proxies HTTP over TCP only
	}
	proto, _ := istio.ForServicePort(*p)
	return proto == istio.HTTP || proto == istio.HTTP2
}
