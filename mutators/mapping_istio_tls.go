package mutators

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:       policy.MappingIstioTLS,
		Summary:  "add tls and an explicit port to Mappings whose upstream is in a sidecar-mode mesh namespace",
		Mutation: true,
		Default:  policy.Warn,
		Reads: []policy.WorldKind{policy.KindNamespace, policy.KindService, policy.KindTLSContext,
			policy.KindPeerAuthentication, policy.KindModule, policy.KindResolver},
		Reviews: []policy.Review{{Kinds: []policy.Kind{policy.MappingKind}, Check: policy.ObjectFunc(MappingIstioTLS)}},
	})
}

// MappingIstioTLS implements rule mapping-istio-tls on an Emissary Mapping
// (getambassador.io v2 or v3alpha1), as docs/rules.md#mapping-istio-tls
// specifies: it reads the Mapping (readMappingTLS), decides from the World what
// the Mapping needs (decideMappingTLS) and applies that decision (apply).
func MappingIstioTLS(ctx context.Context, m *unstructured.Unstructured, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	in, ok := readMappingTLS(m, cfg)
	if !ok {
		return rep, nil
	}
	d, err := decideMappingTLS(ctx, in, t, w, cfg)
	if err != nil {
		return rep, err
	}
	d.apply(m, &rep)
	return rep, nil
}

var (
	mappingServicePath  = field.NewPath("spec", "service")
	mappingTLSPath      = field.NewPath("spec", "tls")
	mappingResolverPath = field.NewPath("spec", "resolver")
)

// mappingTLSInput is what the rule reads of a Mapping.
type mappingTLSInput struct {
	mp       emissary.Mapping
	istioCtx string
}

// readMappingTLS reads the Mapping; false means the rule has nothing to do
// with it: no service, or tls already set (to any context, v2 tls: true or
// false). A Mapping that already has a tls is never changed: the rule only
// pins the port so that the tls it adds does not move the route.
func readMappingTLS(m *unstructured.Unstructured, cfg *policy.Config) (mappingTLSInput, bool) {
	if m == nil || m.Object == nil || cfg == nil {
		return mappingTLSInput{}, false
	}
	in := mappingTLSInput{mp: emissary.ReadMapping(m.Object), istioCtx: cfg.Mappings.TLSContext}
	return in, in.mp.Spec && in.mp.HasService && in.mp.TLS.Kind == emissary.TLSUnset
}

// finding is a finding a decision reports.
type finding struct {
	mode policy.Mode
	fld  *field.Path
	msg  string
}

// mappingTLSDecision is what the rule does to a Mapping.
type mappingTLSDecision struct {
	findings []finding
	// tls, when set, is added as spec.tls, for tlsWhy.
	tls, tlsWhy string
	// service, when set, replaces spec.service, for serviceWhy.
	service, serviceWhy string
}

func (d *mappingTLSDecision) find(mode policy.Mode, fld *field.Path, format string, args ...any) {
	d.findings = append(d.findings, finding{mode: mode, fld: fld, msg: fmt.Sprintf(format, args...)})
}

func (d mappingTLSDecision) empty() bool {
	return len(d.findings) == 0 && d.tls == "" && d.service == ""
}

// apply reports the decision's findings and makes its changes to m.
func (d mappingTLSDecision) apply(m *unstructured.Unstructured, rep *policy.Report) {
	for _, f := range d.findings {
		rep.Find(policy.MappingIstioTLS, f.mode, f.fld, "%s", f.msg)
	}
	spec, ok := m.Object["spec"].(map[string]any)
	if !ok {
		return
	}
	if d.tls != "" {
		rep.Add(policy.MappingIstioTLS, mappingTLSPath, d.tls, d.tlsWhy)
		spec["tls"] = d.tls
	}
	if d.service != "" {
		rep.Replace(policy.MappingIstioTLS, mappingServicePath, d.service, d.serviceWhy)
		spec["service"] = d.service
	}
}

// decideMappingTLS decides what the Mapping in namespace ns needs. Only a
// service Emissary resolves through Kubernetes (emissary.ResolveMapping) is a
// Kubernetes Service: any other resolver's Mapping is left alone, and one whose
// resolution meshgate cannot tell is left alone with a warning when it would
// otherwise have been changed.
func decideMappingTLS(ctx context.Context, in mappingTLSInput, t policy.Target, w policy.World, cfg *policy.Config) (mappingTLSDecision, error) {
	res, err := emissary.ResolveMapping(ctx, w, in.mp, t.Namespace)
	if err != nil {
		return mappingTLSDecision{}, err
	}
	if res.Unknown == "" && !res.ToService() {
		return mappingTLSDecision{}, nil // Consul's catalog, not a Kubernetes Service
	}
	d, err := decideForService(ctx, in, res, t, w, cfg)
	if err != nil || res.Unknown == "" || d.empty() {
		return d, err
	}
	fld := mappingServicePath
	if in.mp.Resolver != "" {
		fld = mappingResolverPath
	}
	var unknown mappingTLSDecision
	unknown.find(policy.Warn, fld,
		"meshgate leaves this Mapping alone (no tls: %s, no explicit port): %s. If Emissary resolves it to a Kubernetes Service, set spec.tls: %s and write the port in spec.service yourself",
		in.istioCtx, res.Unknown, in.istioCtx)
	return unknown, nil
}

// decideForService decides for a Mapping whose service is a Kubernetes Service
// (unqualified names in res.Namespace). t names the Mapping in messages.
func decideForService(ctx context.Context, in mappingTLSInput, res emissary.Resolution, t policy.Target, w policy.World, cfg *policy.Config) (mappingTLSDecision, error) {
	var d mappingTLSDecision
	mp, istioCtx := in.mp, in.istioCtx
	up, err := emissary.ParseUpstream(mp.Service, res.Namespace)
	if err != nil || up.Kind != emissary.HostService {
		return d, nil
	}
	switch up.Scheme {
	case emissary.SchemeNone, emissary.SchemeHTTPS, emissary.SchemeHTTP:
	default:
		return d, nil
	}
	svc, err := emissary.Resolve(ctx, up, w, cfg.Istio.RootNamespace)
	if err != nil {
		return d, err
	}
	if svc.DataPlane != istio.Sidecar || emissary.IsExternalName(svc.Service) || svc.MTLS.Mode == istio.Disable {
		return d, nil
	}
	mode := cfg.Mode(policy.MappingIstioTLS)
	where := fmt.Sprintf("Service %s is in sidecar-mode mesh namespace %q with mTLS %s",
		up.ServiceKey(), up.Namespace, svc.MTLS.Explain())
	if res.NamespaceFrom != "" && !up.Qualified {
		where = fmt.Sprintf("Service %s (unqualified, and %s) is in sidecar-mode mesh namespace %q with mTLS %s",
			up.ServiceKey(), res.NamespaceFrom, up.Namespace, svc.MTLS.Explain())
	}

	switch up.Scheme {
	case emissary.SchemeHTTP:
		// The author asked for plaintext. PERMISSIVE accepts it (without mTLS);
		// STRICT refuses it.
		if svc.MTLS.Mode == istio.Strict {
			fix := fmt.Sprintf("drop the http:// prefix so meshgate adds tls: %s, or set spec.tls: %s yourself", istioCtx, istioCtx)
			if !up.HasPort() {
				fix = fmt.Sprintf("drop the http:// prefix so meshgate adds tls: %s and the port, or set spec.tls: %s and write the port yourself", istioCtx, istioCtx)
			}
			d.find(mode, mappingServicePath,
				"service %q forces plaintext with http://, but %s: the sidecar will reset the connection; %s",
				mp.Service, where, fix)
		}
		return d, nil
	case emissary.SchemeHTTPS:
		// Emissary originates its own TLS, for an application that terminates
		// TLS itself. With the Istio TLSContext the sidecar would terminate
		// the mTLS and hand the application plain bytes on its TLS port, so
		// tls is never added here. PERMISSIVE passes Emissary's TLS through;
		// STRICT refuses it.
		fix := fmt.Sprintf("if the application serves plain HTTP there, set spec.tls: %s (or drop https://, and meshgate adds it)", istioCtx)
		if svc.MTLS.Mode == istio.Strict {
			d.find(mode, mappingServicePath,
				"service %q makes Emissary originate its own TLS, but %s: the sidecar refuses any TLS but Istio mTLS, so the route cannot work as written. meshgate does not add tls: %s, with which the sidecar would terminate the mTLS and hand the application plain bytes where it expects TLS; %s; if the application terminates TLS itself, let its TLS through with a PeerAuthentication selecting its pods whose portLevelMtls sets the container port to PERMISSIVE or DISABLE",
				mp.Service, where, istioCtx, fix)
		} else if port, proto, ok := plainTextPort(svc.Service, up); ok {
			d.find(policy.Warn, mappingServicePath,
				"service %q makes Emissary originate its own TLS, but Istio reads port %d of Service %s as %s, not TLS: one of them is wrong, and meshgate does not guess which; %s; if the application terminates TLS itself, name the port https or tls, or set that appProtocol",
				mp.Service, port, up.ServiceKey(), proto, fix)
		}
		return d, nil
	}

	missing, proven, err := emissary.TLSContextMissing(ctx, w, istioCtx)
	if err != nil {
		return d, err
	}
	if missing {
		// Naming a TLSContext that does not exist would make the Mapping
		// worse (and mapping-tls-context would deny it). Say so instead.
		meanwhile := "Emissary connects in plaintext, without mTLS"
		if svc.MTLS.Mode == istio.Strict {
			meanwhile = "Emissary connects in plaintext, which the STRICT sidecar refuses"
		}
		if proven {
			d.find(mode, mappingTLSPath,
				"%s, but TLSContext %q does not exist, so meshgate does not add tls: %s (%s): create TLSContext %q in Emissary's namespace with secret: %s and alpn_protocols: istio, and meshgate adds tls and the port on the next apply",
				where, istioCtx, istioCtx, meanwhile, istioCtx, cfg.Mappings.IstioSecret)
		} else {
			d.find(policy.Warn, mappingTLSPath,
				"%s, but TLSContext %q is not among the objects meshgate was given (the cluster may have it), so meshgate does not add tls: %s here; at admission, meshgate adds tls and the port when the cluster has the TLSContext (without it, %s)",
				where, istioCtx, istioCtx, meanwhile)
		}
		return d, nil
	}

	if !up.HasPort() {
		// Without a port Emissary connects to 80, and to 443 once it
		// originates TLS: pin 80 so that adding tls keeps the route where
		// it is. A Service without port 80 is not reached today either;
		// which of its ports was meant is the author's call.
		if svc.Service != nil && !emissary.HasPort(svc.Service, emissary.PlainPort) {
			d.find(mode, mappingServicePath,
				"meshgate leaves Mapping %s/%s alone: without a port Emissary sends it to port %d, which Service %s does not expose (%s), and tls: %s alone would move it to port %d; write the port in spec.service (for example %q), and meshgate adds tls: %s (%s)",
				t.Namespace, t.Object.Name, emissary.PlainPort, up.ServiceKey(), portList(svc.Service),
				istioCtx, emissary.TLSPort, up.WithPort(examplePort(svc.Service)), istioCtx, where)
			return d, nil
		}
		d.service = up.WithPort(emissary.PlainPort)
		d.serviceWhy = fmt.Sprintf("%q -> %q: without a port Emissary connects to port %d, and to port %d once it originates TLS; the explicit port keeps the route where it is",
			mp.Service, d.service, emissary.PlainPort, emissary.TLSPort)
	}
	d.tls = istioCtx
	d.tlsWhy = fmt.Sprintf("%s: originate Istio mTLS with TLSContext %q", where, istioCtx)
	return d, nil
}

// plainTextPort returns the port of svc that upstream u reaches (its port, else
// Emissary's TLS port), and its protocol, when Istio reads that port as a
// plain-text one (HTTP, HTTP2, gRPC, gRPC-Web).
func plainTextPort(svc *corev1.Service, u emissary.Upstream) (int32, istio.Instance, bool) {
	if svc == nil {
		return 0, "", false
	}
	port := int32(emissary.TLSPort)
	if u.HasPort() {
		port = int32(u.Port)
	}
	for _, p := range svc.Spec.Ports {
		if p.Port != port || (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) {
			continue
		}
		switch proto, _ := istio.ForServicePort(p); proto {
		case istio.HTTP, istio.HTTP2, istio.GRPC, istio.GRPCWeb:
			return port, proto, true
		}
	}
	return 0, "", false
}

// portList describes svc's ports for a message: "its ports: 8080 \"http\", 9090"
// or "it has no ports".
func portList(svc *corev1.Service) string {
	if len(svc.Spec.Ports) == 0 {
		return "it has no ports"
	}
	ports := make([]string, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		s := strconv.Itoa(int(p.Port))
		if p.Name != "" {
			s += fmt.Sprintf(" %q", p.Name)
		}
		ports = append(ports, s)
	}
	return "its ports: " + strings.Join(ports, ", ")
}

// examplePort is a port of svc to show in a message: its HTTP port
// (emissary.HTTPPort), else its first port, else 80.
func examplePort(svc *corev1.Service) int {
	if choice, ok := emissary.HTTPPort(svc); ok {
		return int(choice.Port)
	}
	if len(svc.Spec.Ports) > 0 && svc.Spec.Ports[0].Port > 0 {
		return int(svc.Spec.Ports[0].Port)
	}
	return emissary.PlainPort
}
