package emissary

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshgate/meshgate/policy"
	"github.com/meshgate/meshgate/protocol"
)

// MTLSMode is an effective Istio mTLS mode.
type MTLSMode string

// Effective mTLS modes (UNSET never is one: it inherits).
const (
	Strict     MTLSMode = "STRICT"
	Permissive MTLSMode = "PERMISSIVE"
	Disable    MTLSMode = "DISABLE"
)

// MTLS is the effective mTLS mode of a workload and where it comes from.
type MTLS struct {
	Mode MTLSMode
	// From is the PeerAuthentication that decided the mode; nil means Istio's
	// built-in default (PERMISSIVE).
	From *policy.PeerAuthentication
	// Level is "workload", "namespace", "mesh" or "default".
	Level string
}

// Explain renders the mode with its source, for messages: `STRICT, set by
// PeerAuthentication apps/default (namespace-wide)` or `PERMISSIVE, Istio's
// default`.
func (m MTLS) Explain() string {
	if m.From == nil {
		return string(m.Mode) + ", Istio's default"
	}
	return string(m.Mode) + ", set by " + m.Source()
}

// Source describes where the mode comes from, for messages:
// `PeerAuthentication apps/default (namespace-wide)`, `PeerAuthentication
// istio-system/default (mesh-wide)`, `PeerAuthentication apps/quote (workload
// selector)` or `Istio's default`.
func (m MTLS) Source() string {
	if m.From == nil {
		return "Istio's default"
	}
	suffix := " (" + m.Level + "-wide)"
	if m.Level == "workload" {
		suffix = " (workload selector)"
	}
	return "PeerAuthentication " + m.From.Namespace + "/" + m.From.Name + suffix
}

// EffectiveMTLS resolves the mTLS mode Istio applies to a workload in namespace
// whose pods carry (at least) workloadLabels, from the PeerAuthentications the
// World knows, as istiod does:
//
//   - a workload-level PeerAuthentication in namespace (non-empty
//     selector.matchLabels) applies when every label of its selector is in
//     workloadLabels. meshgate passes a Service's spec.selector, which every
//     backing pod carries, so a match is certain; a selector naming labels the
//     Service does not select on may or may not match the pods and is ignored.
//   - else the namespace-wide one (no selector) in namespace;
//   - else the mesh-wide one (no selector) in rootNamespace;
//   - else PERMISSIVE, Istio's default.
//
// A mode of UNSET (or empty, or a value Istio's schema would reject) inherits
// from the next level. When several PeerAuthentications compete at one level,
// istiod takes the oldest; the World carries no creation times, so the first
// by name wins, which is deterministic. Port-level mTLS is not considered: a
// Mapping reaches one Service port, and meshgate only needs the mode that
// decides whether to originate TLS at all.
func EffectiveMTLS(ctx context.Context, w policy.World, rootNamespace, namespace string, workloadLabels map[string]string) (MTLS, error) {
	if w == nil {
		return MTLS{Mode: Permissive, Level: "default"}, nil
	}
	pas, err := w.PeerAuthentications(ctx, namespace)
	if err != nil {
		return MTLS{}, fmt.Errorf("list PeerAuthentications in %q: %w", namespace, err)
	}
	if len(workloadLabels) > 0 {
		if pa := first(pas, func(pa *policy.PeerAuthentication) bool {
			return len(pa.Selector) > 0 && selects(pa.Selector, workloadLabels)
		}); pa != nil {
			if mode, ok := modeOf(pa.Mode); ok {
				return MTLS{Mode: mode, From: pa, Level: "workload"}, nil
			}
		}
	}
	namespaceWide := func(pa *policy.PeerAuthentication) bool { return len(pa.Selector) == 0 }
	if pa := first(pas, namespaceWide); pa != nil {
		if mode, ok := modeOf(pa.Mode); ok {
			level := "namespace"
			if namespace == rootNamespace {
				level = "mesh"
			}
			return MTLS{Mode: mode, From: pa, Level: level}, nil
		}
	}
	if namespace != rootNamespace && rootNamespace != "" {
		root, err := w.PeerAuthentications(ctx, rootNamespace)
		if err != nil {
			return MTLS{}, fmt.Errorf("list PeerAuthentications in %q: %w", rootNamespace, err)
		}
		if pa := first(root, namespaceWide); pa != nil {
			if mode, ok := modeOf(pa.Mode); ok {
				return MTLS{Mode: mode, From: pa, Level: "mesh"}, nil
			}
		}
	}
	return MTLS{Mode: Permissive, Level: "default"}, nil
}

// first returns the PeerAuthentication with the smallest name among those that
// match, or nil. It returns a pointer into a copy so callers cannot alias the
// World's slice.
func first(pas []policy.PeerAuthentication, match func(*policy.PeerAuthentication) bool) *policy.PeerAuthentication {
	var best *policy.PeerAuthentication
	for i := range pas {
		pa := &pas[i]
		if !match(pa) {
			continue
		}
		if best == nil || pa.Name < best.Name {
			best = pa
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	return &c
}

func selects(selector, workloadLabels map[string]string) bool {
	return labels.SelectorFromSet(selector).Matches(labels.Set(workloadLabels))
}

// modeOf maps a spec.mtls.mode to an effective mode; false means inherit.
func modeOf(s string) (MTLSMode, bool) {
	switch MTLSMode(strings.ToUpper(strings.TrimSpace(s))) {
	case Strict:
		return Strict, true
	case Permissive:
		return Permissive, true
	case Disable:
		return Disable, true
	}
	return "", false
}

// Resolved is what the World knows about a Service upstream.
type Resolved struct {
	// Namespace is the upstream's namespace as the World knows it.
	Namespace policy.Namespace
	// NamespaceKnown is false when the World does not know the namespace.
	NamespaceKnown bool
	// DataPlane is the namespace's data plane (NoMesh when unknown).
	DataPlane policy.DataPlane
	// Service is the upstream Service, nil when the World does not know it.
	Service *corev1.Service
	// MTLS is the effective mTLS mode of the Service's workloads; only set when
	// DataPlane is Sidecar.
	MTLS MTLS
}

// Resolve looks a Service upstream up in the World. u must be a HostService
// upstream; others resolve to nothing. The Service is looked up even when the
// World does not know its namespace (the data plane is then NoMesh).
func Resolve(ctx context.Context, u Upstream, w policy.World, rootNamespace string) (Resolved, error) {
	var r Resolved
	if w == nil || u.Kind != HostService {
		return r, nil
	}
	svc, ok, err := w.Service(ctx, u.Namespace, u.Name)
	if err != nil {
		return r, fmt.Errorf("look up Service %s/%s: %w", u.Namespace, u.Name, err)
	}
	if ok && svc != nil {
		r.Service = svc
	}
	r.Namespace, r.NamespaceKnown, err = w.Namespace(ctx, u.Namespace)
	if err != nil {
		return r, fmt.Errorf("look up namespace %q: %w", u.Namespace, err)
	}
	if !r.NamespaceKnown {
		return r, nil
	}
	r.DataPlane = policy.NamespaceDataPlane(r.Namespace.Labels)
	if r.DataPlane == policy.Sidecar {
		var selector map[string]string
		if r.Service != nil {
			selector = r.Service.Spec.Selector
		}
		r.MTLS, err = EffectiveMTLS(ctx, w, rootNamespace, u.Namespace, selector)
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

// HasPort reports whether svc exposes port.
func HasPort(svc *corev1.Service, port int32) bool {
	if svc == nil {
		return false
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

// isHTTP reports whether Istio reads the port as http or http2, by the same
// reading the Service port rules use (protocol.ForServicePort).
func isHTTP(p *corev1.ServicePort) bool {
	if p.Protocol == corev1.ProtocolSCTP {
		return false // Emissary proxies HTTP over TCP only
	}
	proto, _ := protocol.ForServicePort(*p)
	return proto == protocol.HTTP || proto == protocol.HTTP2
}
