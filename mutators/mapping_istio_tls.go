package mutators

import (
	"context"
	"fmt"

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
	d, err := decideMappingTLS(ctx, in, t.Namespace, w, cfg)
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
	mp emissary.Mapping
	// addTLS: no tls is set, so the Istio TLSContext may be added; false means
	// tls already names the Istio TLSContext and only the port may change.
	addTLS   bool
	istioCtx string
}

// readMappingTLS reads the Mapping; false means the rule has nothing to do
// with it (no service, a tls naming another context, v2 tls: true|false).
func readMappingTLS(m *unstructured.Unstructured, cfg *policy.Config) (mappingTLSInput, bool) {
	if m == nil || m.Object == nil || cfg == nil {
		return mappingTLSInput{}, false
	}
	in := mappingTLSInput{mp: emissary.ReadMapping(m.Object), istioCtx: cfg.Mappings.TLSContext}
	if !in.mp.Spec || !in.mp.HasService {
		return in, false
	}
	switch in.mp.TLS.Kind {
	case emissary.TLSUnset:
		in.addTLS = true
	case emissary.TLSName:
		if in.mp.TLS.Name != in.istioCtx {
			return in, false
		}
	default:
		return in, false
	}
	return in, true
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
func decideMappingTLS(ctx context.Context, in mappingTLSInput, ns string, w policy.World, cfg *policy.Config) (mappingTLSDecision, error) {
	res, err := emissary.ResolveMapping(ctx, w, in.mp, ns)
	if err != nil {
		return mappingTLSDecision{}, err
	}
	if res.Unknown == "" && !res.ToService() {
		return mappingTLSDecision{}, nil // Consul's catalog, not a Kubernetes Service
	}
	d, err := decideForService(ctx, in, res, w, cfg)
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
// (unqualified names in res.Namespace).
func decideForService(ctx context.Context, in mappingTLSInput, res emissary.Resolution, w policy.World, cfg *policy.Config) (mappingTLSDecision, error) {
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
	if !in.addTLS && up.HasPort() {
		return d, nil // already wired
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

	if up.Scheme == emissary.SchemeHTTP && in.addTLS {
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
	}

	if in.addTLS {
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
	}

	port := up.Port
	var why string
	if port == 0 {
		if svc.Service != nil {
			choice, ok := emissary.HTTPPort(svc.Service)
			if !ok {
				also := "; without one Emissary originates TLS to port 443 and the connection hangs"
				if in.addTLS {
					also = " and set spec.tls: " + istioCtx + " for Istio mTLS"
				}
				if len(svc.Service.Spec.Ports) == 0 {
					d.find(mode, mappingServicePath,
						"%s, but the Service has no ports, so meshgate cannot make the port explicit: add the HTTP port to the Service and write it in spec.service (for example %q)%s",
						where, up.WithPort(80), also)
					return d, nil
				}
				d.find(mode, mappingServicePath,
					"%s, but meshgate cannot tell which of its %d ports serves HTTP (none is named http or http2 or has that appProtocol, and none is 80): write the port in spec.service (for example %q)%s",
					where, len(svc.Service.Spec.Ports), up.WithPort(firstPort(svc)), also)
				return d, nil
			}
			port, why = int(choice.Port), choice.Why
		} else {
			port, why = 80, "Service not known: Emissary's plain HTTP port 80"
		}
	}
	if in.addTLS {
		d.tls = istioCtx
		d.tlsWhy = fmt.Sprintf("%s: originate Istio mTLS with TLSContext %q", where, istioCtx)
	}
	if up.Port == 0 {
		d.service = up.WithPort(port)
		d.serviceWhy = fmt.Sprintf("%q -> %q (%s): with TLS and no port Emissary connects to port 443, and the connection hangs when the Service does not serve it", mp.Service, d.service, why)
	}
	return d, nil
}

// firstPort returns the resolved Service's first port, for an example in a
// message (80 when it has none).
func firstPort(res emissary.Resolved) int {
	if res.Service != nil && len(res.Service.Spec.Ports) > 0 && res.Service.Spec.Ports[0].Port > 0 {
		return int(res.Service.Spec.Ports[0].Port)
	}
	return 80
}
