package validators

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:      policy.MappingTLSContext,
		Summary: "a Mapping's TLSContext must exist and the Istio TLSContext must be wired correctly",
		Default: policy.Enforce,
		Reads: []policy.WorldKind{policy.KindNamespace, policy.KindService, policy.KindTLSContext,
			policy.KindPeerAuthentication, policy.KindModule, policy.KindResolver},
		Reviews: []policy.Review{
			{Kinds: []policy.Kind{policy.MappingKind}, Check: policy.ObjectFunc(MappingTLSContext)},
			{Kinds: []policy.Kind{policy.TLSContextKind}, Check: policy.ObjectFunc(TLSContextWiring)},
		},
	})
}

// MappingTLSContext implements the Mapping half of rule mapping-tls-context
// (docs/rules.md#mapping-tls-context), after mutation. How the Istio TLSContext
// itself is wired is checked on the TLSContext object (TLSContextWiring), not on
// every Mapping that names it.
func MappingTLSContext(ctx context.Context, obj *unstructured.Unstructured, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if obj == nil || obj.Object == nil || cfg == nil {
		return rep, nil
	}
	mode := cfg.Mode(policy.MappingTLSContext)
	mp := emissary.ReadMapping(obj.Object)
	if mp.TLS.Kind != emissary.TLSName {
		return rep, nil
	}
	name := mp.TLS.Name
	istioCtx := cfg.Mappings.TLSContext
	tlsPath := field.NewPath("spec", "tls")
	servicePath := field.NewPath("spec", "service")

	missing, proven, err := emissary.TLSContextMissing(ctx, w, name)
	if err != nil {
		return rep, err
	}
	if missing {
		how := ""
		if name == istioCtx {
			how = fmt.Sprintf(" in Emissary's namespace (%s) with secret: %s and alpn_protocols: istio",
				strings.Join(cfg.EdgeProxy.Namespaces, " or "), cfg.Mappings.IstioSecret)
		}
		if proven {
			rep.Find(policy.MappingTLSContext, mode, tlsPath,
				"TLSContext %q does not exist in any namespace: Emissary reports \"Originate-TLS context %s is not defined\" and connects without it; create TLSContext %q%s, or set spec.tls to an existing TLSContext",
				name, name, name, how)
		} else {
			// Files hold some TLSContexts, not necessarily the cluster's: an
			// absence meshgate cannot prove is never a denial.
			rep.Find(policy.MappingTLSContext, policy.Warn, tlsPath,
				"TLSContext %q is not among the objects meshgate was given (the cluster may have it; without it Emissary reports \"Originate-TLS context %s is not defined\" and connects without it): make sure TLSContext %q exists%s, or check with --kubeconfig to verify against the cluster",
				name, name, name, how)
		}
	}
	if name != istioCtx || !mp.HasService {
		return rep, nil
	}
	resolution, err := emissary.ResolveMapping(ctx, w, mp, t.Namespace)
	if err != nil {
		return rep, err
	}
	if !resolution.ToService() {
		return rep, nil // not a Kubernetes Service, or meshgate cannot tell (mapping-istio-tls says so)
	}
	up, err := emissary.ParseUpstream(mp.Service, resolution.Namespace)
	if err != nil || up.Kind != emissary.HostService {
		return rep, nil
	}
	res, err := emissary.Resolve(ctx, up, w, cfg.Istio.RootNamespace)
	if err != nil {
		return rep, err
	}
	switch {
	case res.DataPlane == istio.Ambient:
		rep.Find(policy.MappingTLSContext, mode, tlsPath,
			"tls: %s originates Istio mTLS from Emissary, but Service %s is in ambient namespace %q, where ztunnel carries the traffic over mTLS itself and the application would receive TLS it cannot read: remove spec.tls",
			name, up.ServiceKey(), up.Namespace)
	case res.DataPlane == istio.Sidecar && res.MTLS.Mode == istio.Disable:
		rep.Find(policy.MappingTLSContext, mode, tlsPath,
			"tls: %s originates Istio mTLS, but %s DISABLEs mTLS for Service %s: the sidecar passes Emissary's TLS through and the application cannot read it; remove spec.tls, or enable mTLS (PERMISSIVE or STRICT) for the Service",
			name, res.MTLS.Source(), up.ServiceKey())
	}
	if !up.HasPort() && res.Service != nil && !emissary.IsExternalName(res.Service) && !emissary.HasPort(res.Service, 443) {
		suggest := 80
		if choice, ok := emissary.HTTPPort(res.Service); ok {
			suggest = int(choice.Port)
		} else if len(res.Service.Spec.Ports) > 0 && res.Service.Spec.Ports[0].Port > 0 {
			suggest = int(res.Service.Spec.Ports[0].Port)
		}
		rep.Find(policy.MappingTLSContext, mode, servicePath,
			"service %q has no port: with tls: %s Emissary originates TLS to port 443, which Service %s does not expose, and the connection hangs; write %q",
			mp.Service, name, up.ServiceKey(), up.WithPort(suggest))
	}
	return rep, nil
}

// TLSContextWiring implements the TLSContext half of rule mapping-tls-context
// (docs/rules.md#mapping-tls-context): the Istio TLSContext's namespace, secret
// and ALPN. Other TLSContexts are not checked.
func TLSContextWiring(ctx context.Context, obj *unstructured.Unstructured, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if obj == nil || obj.Object == nil || cfg == nil {
		return rep, nil
	}
	name := obj.GetName()
	if name == "" || name != cfg.Mappings.TLSContext {
		return rep, nil
	}
	mode := cfg.Mode(policy.MappingTLSContext)
	ns := t.Namespace
	secretName := cfg.Mappings.IstioSecret
	edgeNamespaces := strings.Join(cfg.EdgeProxy.Namespaces, " or ")

	if !slices.Contains(cfg.EdgeProxy.Namespaces, ns) {
		rep.Find(policy.MappingTLSContext, mode, field.NewPath("metadata", "namespace"),
			"the Istio TLSContext %q is in namespace %q, but Emissary creates the Secret %q in its own namespace (%s) and a TLSContext reads secrets from its own: move it to %s (edgeProxy.namespaces in meshgate's config lists Emissary's namespaces)",
			name, ns, secretName, edgeNamespaces, edgeNamespaces)
	}

	tc := emissary.ReadTLSContext(obj.Object)
	legacy := cfg.EdgeProxy.CertMode == policy.CertModeSecret
	secretOK := tc.Secret != "" && istioSecretRef(tc.Secret, secretName, ns)
	switch {
	case secretOK:
	case legacy && tc.Secret == "":
		checkLegacyFiles(&rep, mode, name, tc)
	case tc.Secret == "" && tc.UsesLegacyFiles():
		rep.Find(policy.MappingTLSContext, mode, field.NewPath("spec", "secret"),
			"the Istio TLSContext %q uses certificate files (the Ambassador 1.x form), which meshgate only wires with cert mode \"secret\" (edgeProxy.certMode in its config): set secret: %s, the Secret Emissary creates from AMBASSADOR_ISTIO_SECRET_DIR",
			name, secretName)
	case tc.Secret == "":
		rep.Find(policy.MappingTLSContext, mode, field.NewPath("spec", "secret"),
			"the Istio TLSContext %q sets no secret, so Emissary originates TLS without Istio's certificates: set secret: %s, the Secret Emissary creates from AMBASSADOR_ISTIO_SECRET_DIR",
			name, secretName)
	default:
		rep.Find(policy.MappingTLSContext, mode, field.NewPath("spec", "secret"),
			"the Istio TLSContext %q uses secret %q, but Istio's certificates are in the Secret %q that Emissary creates from AMBASSADOR_ISTIO_SECRET_DIR: set secret: %s",
			name, tc.Secret, secretName, secretName)
	}

	if !emissary.OffersIstioALPN(tc.ALPN) {
		got := "is not set"
		if len(tc.ALPN) > 0 {
			got = fmt.Sprintf("is %q", strings.Join(tc.ALPN, ","))
		}
		rep.Find(policy.MappingTLSContext, mode, field.NewPath("spec", "alpn_protocols"),
			"alpn_protocols of the Istio TLSContext %q %s: an Istio sidecar in PERMISSIVE mode only takes a connection as mTLS when the client offers ALPN \"istio\"; set alpn_protocols: istio",
			name, got)
	}
	return rep, nil
}

// istioSecretRef reports whether secret names the Istio Secret as seen from a
// TLSContext in namespace ns: "istio-certs", or "istio-certs.<ns>" (Emissary's
// secret_namespacing spelling of the same Secret).
func istioSecretRef(secret, want, ns string) bool {
	if secret == want {
		return true
	}
	n, namespace := emissary.SecretRef(secret)
	return n == want && namespace == ns
}

// checkLegacyFiles checks the Ambassador 1.x cert-file form.
func checkLegacyFiles(rep *policy.Report, mode policy.Mode, name string, tc emissary.TLSContextSpec) {
	files := []struct {
		key, value, example string
		required            bool
	}{
		{"cert_chain_file", tc.CertChainFile, "cert-chain.pem", true},
		{"private_key_file", tc.PrivateKeyFile, "key.pem", true},
		{"cacert_chain_file", tc.CACertChainFile, "root-cert.pem", false},
	}
	for _, f := range files {
		switch {
		case f.value == "" && f.required:
			rep.Find(policy.MappingTLSContext, mode, field.NewPath("spec", f.key),
				"the Istio TLSContext %q sets neither secret nor %s: with cert mode \"secret\" the Istio certificates are mounted at %s; set %s: %s%s",
				name, f.key, emissary.LegacyCertDir, f.key, emissary.LegacyCertDir, f.example)
		case f.value != "" && !emissary.InLegacyCertDir(f.value):
			rep.Find(policy.MappingTLSContext, mode, field.NewPath("spec", f.key),
				"%s of the Istio TLSContext %q is %q, but with cert mode \"secret\" the Istio certificates are mounted at %s: set %s: %s%s",
				f.key, name, f.value, emissary.LegacyCertDir, f.key, emissary.LegacyCertDir, f.example)
		}
	}
}

// tlsContextMissing reports whether the World knows TLSContexts and holds none
