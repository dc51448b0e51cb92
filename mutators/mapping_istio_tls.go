package mutators

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/emissary"
	"github.com/meshgate/meshgate/policy"
)

// MappingIstioTLS implements rule mapping-istio-tls on an Emissary Mapping
// (getambassador.io v2 or v3alpha1). When the Mapping's upstream Service is in a
// sidecar-mode mesh namespace whose effective mTLS (PeerAuthentication) is
// STRICT or PERMISSIVE, it sets spec.tls to the Istio TLSContext
// (cfg.Mappings.TLSContext) when no tls is set, and makes the port in
// spec.service explicit: without a port Emissary originates TLS to 443, which
// the Service usually does not expose, and the connection hangs.
//
// The port is the Service's HTTP port when the World knows the Service (see
// emissary.HTTPPort), else 80. Host, namespace and scheme keep their spelling:
// "quote.apps" becomes "quote.apps:80", "https://productpage" becomes
// "https://productpage:80" (Emissary originates TLS for https:// and uses the
// tls context's certificates for it).
//
// Left alone: a tls naming another TLSContext, a v2 boolean tls, an upstream
// outside the mesh, in an ambient namespace (ztunnel does the mTLS), in a
// namespace the World does not know, in a namespace (or behind a workload
// PeerAuthentication) that DISABLEs mTLS, an ExternalName Service, IPs and
// external hosts, unknown schemes, and services Emissary itself would have to
// guess about (paths, bad ports).
//
// Conflicts, reported with the rule's mode and no change: an explicit http://
// scheme (the author asked for plaintext) to a STRICT upstream, which the
// sidecar will refuse; and a known Service whose HTTP port meshgate cannot
// tell (no http/http2 port, no port 80, several ports).
//
// When the World holds TLSContexts but not the Istio one, nothing is added (a
// tls naming a missing context breaks the Mapping): a finding says to create it.
//
// When tls already names the Istio TLSContext, only the port is made explicit,
// so the rule also repairs the guide's Mapping that forgot ":80".
func MappingIstioTLS(ctx context.Context, m *unstructured.Unstructured, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if m == nil || m.Object == nil || cfg == nil {
		return rep, nil
	}
	mp := emissary.ReadMapping(m.Object)
	if !mp.Spec || !mp.HasService {
		return rep, nil
	}
	istioCtx := cfg.Mappings.TLSContext
	addTLS := false
	switch mp.TLS.Kind {
	case emissary.TLSUnset:
		addTLS = true
	case emissary.TLSName:
		if mp.TLS.Name != istioCtx {
			return rep, nil
		}
	default:
		return rep, nil
	}
	up, err := emissary.ParseUpstream(mp.Service, t.Namespace)
	if err != nil || up.Kind != emissary.HostService {
		return rep, nil
	}
	switch up.Scheme {
	case emissary.SchemeNone, emissary.SchemeHTTPS, emissary.SchemeHTTP:
	default:
		return rep, nil
	}
	if !addTLS && up.HasPort() {
		return rep, nil // already wired
	}
	res, err := emissary.Resolve(ctx, up, w, cfg.Istio.RootNamespace)
	if err != nil {
		return rep, err
	}
	if res.DataPlane != policy.Sidecar || emissary.IsExternalName(res.Service) || res.MTLS.Mode == emissary.Disable {
		return rep, nil
	}
	mode := cfg.Mode(policy.MappingIstioTLS)
	servicePath := field.NewPath("spec", "service")
	tlsPath := field.NewPath("spec", "tls")
	where := fmt.Sprintf("Service %s is in sidecar-mode mesh namespace %q with mTLS %s",
		up.ServiceKey(), up.Namespace, res.MTLS.Explain())

	if up.Scheme == emissary.SchemeHTTP && addTLS {
		// The author asked for plaintext. PERMISSIVE accepts it (without mTLS);
		// STRICT refuses it.
		if res.MTLS.Mode == emissary.Strict {
			fix := fmt.Sprintf("drop the http:// prefix so meshgate adds tls: %s, or set spec.tls: %s yourself", istioCtx, istioCtx)
			if !up.HasPort() {
				fix = fmt.Sprintf("drop the http:// prefix so meshgate adds tls: %s and the port, or set spec.tls: %s and write the port yourself", istioCtx, istioCtx)
			}
			rep.Find(policy.MappingIstioTLS, mode, servicePath,
				"service %q forces plaintext with http://, but %s: the sidecar will reset the connection; %s",
				mp.Service, where, fix)
		}
		return rep, nil
	}

	missing, err := tlsContextMissing(ctx, w, istioCtx)
	if err != nil {
		return rep, err
	}
	if addTLS && missing {
		// Naming a TLSContext that does not exist would make the Mapping worse
		// (and mapping-tls-context would deny it): every Mapping to the mesh
		// would be rejected until someone creates the context. Say so instead.
		meanwhile := "Emissary connects in plaintext, without mTLS"
		if res.MTLS.Mode == emissary.Strict {
			meanwhile = "Emissary connects in plaintext, which the STRICT sidecar refuses"
		}
		rep.Find(policy.MappingIstioTLS, mode, tlsPath,
			"%s, but TLSContext %q does not exist, so meshgate does not add tls: %s (%s): create TLSContext %q in Emissary's namespace with secret: %s and alpn_protocols: istio, and meshgate adds tls and the port on the next apply",
			where, istioCtx, istioCtx, meanwhile, istioCtx, cfg.Mappings.IstioSecret)
		return rep, nil
	}

	port := up.Port
	var why string
	if port == 0 {
		if res.Service != nil {
			choice, ok := emissary.HTTPPort(res.Service)
			if !ok {
				also := "; without one Emissary originates TLS to port 443 and the connection hangs"
				if addTLS {
					also = " and set spec.tls: " + istioCtx + " for Istio mTLS"
				}
				if len(res.Service.Spec.Ports) == 0 {
					rep.Find(policy.MappingIstioTLS, mode, servicePath,
						"%s, but the Service has no ports, so meshgate cannot make the port explicit: add the HTTP port to the Service and write it in spec.service (for example %q)%s",
						where, up.WithPort(80), also)
					return rep, nil
				}
				rep.Find(policy.MappingIstioTLS, mode, servicePath,
					"%s, but meshgate cannot tell which of its %d ports serves HTTP (none is named http or http2 or has that appProtocol, and none is 80): write the port in spec.service (for example %q)%s",
					where, len(res.Service.Spec.Ports), up.WithPort(firstPort(res)), also)
				return rep, nil
			}
			port, why = int(choice.Port), choice.Why
		} else {
			port, why = 80, "Service not known: Emissary's plain HTTP port 80"
		}
	}

	spec, ok := m.Object["spec"].(map[string]any)
	if !ok {
		return rep, nil
	}
	if addTLS {
		spec["tls"] = istioCtx
		rep.Change(policy.MappingIstioTLS, tlsPath,
			fmt.Sprintf("%s: originate Istio mTLS with TLSContext %q", where, istioCtx),
			policy.Add("/spec/tls", istioCtx))
	}
	if up.Port == 0 {
		newService := up.WithPort(port)
		spec["service"] = newService
		rep.Change(policy.MappingIstioTLS, servicePath,
			fmt.Sprintf("%q -> %q (%s): with TLS and no port Emissary connects to port 443, and the connection hangs when the Service does not serve it", mp.Service, newService, why),
			policy.Replace("/spec/service", newService))
	}
	return rep, nil
}

// firstPort returns the resolved Service's first port, for an example in a
// message (80 when it has none).
func firstPort(res emissary.Resolved) int {
	if res.Service != nil && len(res.Service.Spec.Ports) > 0 && res.Service.Spec.Ports[0].Port > 0 {
		return int(res.Service.Spec.Ports[0].Port)
	}
	return 80
}

// tlsContextMissing reports whether the World knows TLSContexts and holds none
// called name.
func tlsContextMissing(ctx context.Context, w policy.World, name string) (bool, error) {
	if w == nil || !w.Has(policy.KindTLSContext) {
		return false, nil
	}
	found, err := w.TLSContexts(ctx, name)
	if err != nil {
		return false, fmt.Errorf("look up TLSContext %q: %w", name, err)
	}
	return len(found) == 0, nil
}
