package validators

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/intree"
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
		InTree: mappingTLSContextInTree,
	})
}

// The messages of the TLSContext half, shared by the rule and its in-tree
// form.
const (
	msgTLSNamespace     = "the Istio TLSContext %q is in namespace %q, but Emissary creates the Secret %q in its own namespace (%s) and a TLSContext reads secrets from its own: move it to %s (edgeProxy.namespaces in meshgate's config lists Emissary's namespaces)"
	msgTLSFiles         = "the Istio TLSContext %q uses certificate files (the Ambassador 1.x form), which meshgate only wires with cert mode \"secret\" (edgeProxy.certMode in its config): set secret: %s, the Secret Emissary creates from AMBASSADOR_ISTIO_SECRET_DIR"
	msgTLSNoSecret      = "the Istio TLSContext %q sets no secret, so Emissary originates TLS without Istio's certificates: set secret: %s, the Secret Emissary creates from AMBASSADOR_ISTIO_SECRET_DIR"
	msgTLSOtherSecret   = "the Istio TLSContext %q uses secret %q, but Istio's certificates are in the Secret %q that Emissary creates from AMBASSADOR_ISTIO_SECRET_DIR: set secret: %s"
	msgTLSALPN          = "alpn_protocols of the Istio TLSContext %q %s: an Istio sidecar in PERMISSIVE mode only takes a connection as mTLS when the client offers ALPN \"istio\"; set alpn_protocols: istio"
	msgTLSFileMissing   = "the Istio TLSContext %q sets neither secret nor %s: with cert mode \"secret\" the Istio certificates are mounted at %s; set %s: %s%s"
	msgTLSFileElsewhere = "%s of the Istio TLSContext %q is %q, but with cert mode \"secret\" the Istio certificates are mounted at %s: set %s: %s%s"
)

// legacyFiles are the TLSContext's certificate file fields of the Ambassador
// 1.x form, with the file the guide names in each.
var legacyFiles = []struct {
	key, example string
	required     bool
}{
	{"cert_chain_file", "cert-chain.pem", true},
	{"private_key_file", "key.pem", true},
	{"cacert_chain_file", "root-cert.pem", false},
}

var (
	plainText   = regexp.MustCompile(intree.PlainText)
	uncleanPath = regexp.MustCompile(intree.UncleanPath)
)

// tlsContextPlain reports whether the TLSContext's secret, alpn_protocols
// and certificate files are strings the in-tree policy reads as
// TLSContextWiring does: plain text (intree.PlainText, so that %q quotes
// them as CEL can), and file paths that path.Clean only trims.
func tlsContextPlain(obj map[string]any) bool {
	spec, _ := obj["spec"].(map[string]any)
	for _, key := range []string{"secret", "alpn_protocols", "cert_chain_file", "private_key_file", "cacert_chain_file"} {
		v, present := spec[key]
		s, ok := v.(string)
		if present && !ok {
			return false
		}
		if !plainText.MatchString(s) || (strings.HasSuffix(key, "_file") && uncleanPath.MatchString(s)) {
			return false
		}
	}
	return true
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
	if !up.HasPort() && res.Service != nil && !emissary.IsExternalName(res.Service) && !emissary.HasPort(res.Service, emissary.TLSPort) {
		suggest := 80
		if choice, ok := emissary.HTTPPort(res.Service); ok {
			suggest = int(choice.Port)
		} else if len(res.Service.Spec.Ports) > 0 && res.Service.Spec.Ports[0].Port > 0 {
			suggest = int(res.Service.Spec.Ports[0].Port)
		}
		rep.Find(policy.MappingTLSContext, mode, servicePath,
			"service %q has no port: with tls: %s Emissary originates TLS to port %d, which Service %s does not expose, and the connection hangs; write the port the application serves plain HTTP on (the sidecar hands it the decrypted bytes) in spec.service, for example %q",
			mp.Service, name, emissary.TLSPort, up.ServiceKey(), up.WithPort(suggest))
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
	// The in-tree policy reports exactly these findings on a TLSContext
	// whose values it can read as this code does (tlsContextPlain).
	report := rep.Find
	if tlsContextPlain(obj.Object) {
		report = rep.FindInTree
	}
	find := func(fld *field.Path, format string, args ...any) {
		report(policy.MappingTLSContext, mode, fld, format, args...)
	}
	ns := t.Namespace
	secretName := cfg.Mappings.IstioSecret
	edgeNamespaces := strings.Join(cfg.EdgeProxy.Namespaces, " or ")

	if !slices.Contains(cfg.EdgeProxy.Namespaces, ns) {
		find(field.NewPath("metadata", "namespace"), msgTLSNamespace, name, ns, secretName, edgeNamespaces, edgeNamespaces)
	}

	tc := emissary.ReadTLSContext(obj.Object)
	legacy := cfg.EdgeProxy.CertMode == policy.CertModeSecret
	secretOK := tc.Secret != "" && istioSecretRef(tc.Secret, secretName, ns)
	switch {
	case secretOK:
	case legacy && tc.Secret == "":
		checkLegacyFiles(find, name, tc)
	case tc.Secret == "" && tc.UsesLegacyFiles():
		find(field.NewPath("spec", "secret"), msgTLSFiles, name, secretName)
	case tc.Secret == "":
		find(field.NewPath("spec", "secret"), msgTLSNoSecret, name, secretName)
	default:
		find(field.NewPath("spec", "secret"), msgTLSOtherSecret, name, tc.Secret, secretName, secretName)
	}

	if !emissary.OffersIstioALPN(tc.ALPN) {
		got := "is not set"
		if len(tc.ALPN) > 0 {
			got = fmt.Sprintf("is %q", strings.Join(tc.ALPN, ","))
		}
		find(field.NewPath("spec", "alpn_protocols"), msgTLSALPN, name, got)
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
func checkLegacyFiles(find func(*field.Path, string, ...any), name string, tc emissary.TLSContextSpec) {
	values := map[string]string{"cert_chain_file": tc.CertChainFile, "private_key_file": tc.PrivateKeyFile, "cacert_chain_file": tc.CACertChainFile}
	for _, f := range legacyFiles {
		switch v := values[f.key]; {
		case v == "" && f.required:
			find(field.NewPath("spec", f.key), msgTLSFileMissing, name, f.key, emissary.LegacyCertDir, f.key, emissary.LegacyCertDir, f.example)
		case v != "" && !emissary.InLegacyCertDir(v):
			find(field.NewPath("spec", f.key), msgTLSFileElsewhere, f.key, name, v, emissary.LegacyCertDir, f.key, emissary.LegacyCertDir, f.example)
		}
	}
}

// tlsContextMissing reports whether the World knows TLSContexts and holds none
