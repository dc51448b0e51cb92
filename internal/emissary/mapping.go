package emissary

import (
	"path"
	"strings"
)

// TLSKind tells what a Mapping's `tls` attribute holds.
type TLSKind int

const (
	// TLSUnset means no `tls`, or `tls: ""` (Emissary treats both as no context).
	TLSUnset TLSKind = iota
	// TLSName means `tls: <TLSContext name>` (v2 and v3alpha1).
	TLSName
	// TLSBool means `tls: true|false` (getambassador.io v2 only: originate TLS with no
	// client certificate).
	TLSBool
	// TLSInvalid means any other type.
	TLSInvalid
)

// TLS is a Mapping's `tls` attribute.
type TLS struct {
	Kind TLSKind
	// Name is the TLSContext name when Kind is TLSName.
	Name string
	// Bool is the value when Kind is TLSBool.
	Bool bool
}

// Mapping is the part of a getambassador.io Mapping (v2 or v3alpha1) the rules
// read. Both versions spell `service` and `tls` the same way; v2 also allows a
// boolean `tls`.
type Mapping struct {
	// Spec is false when the object has no `spec` map.
	Spec bool
	// Service is spec.service; HasService is false when it is absent or not a
	// string.
	Service    string
	HasService bool
	// TLS is spec.tls.
	TLS TLS
	// Resolver is spec.resolver ("" when absent or not a string).
	Resolver string
}

// ReadMapping reads a Mapping from its unstructured content. It tolerates any
// shape: fields of the wrong type read as absent (or TLSInvalid).
func ReadMapping(obj map[string]any) Mapping {
	var m Mapping
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return m
	}
	m.Spec = true
	m.Service, m.HasService = spec["service"].(string)
	m.Resolver, _ = spec["resolver"].(string)
	switch v := spec["tls"].(type) {
	case nil:
	case string:
		if v != "" {
			m.TLS = TLS{Kind: TLSName, Name: v}
		}
	case bool:
		m.TLS = TLS{Kind: TLSBool, Bool: v}
	default:
		m.TLS = TLS{Kind: TLSInvalid}
	}
	return m
}

// TLSContextSpec is the part of a TLSContext (v2 or v3alpha1) the rules read.
type TLSContextSpec struct {
	// Secret is spec.secret.
	Secret string
	// ALPN is spec.alpn_protocols split at commas (Emissary's schema has a
	// comma-separated string; a list is accepted too).
	ALPN []string
	// CertChainFile, PrivateKeyFile and CACertChainFile are the legacy
	// (Ambassador 1.x) file form.
	CertChainFile, PrivateKeyFile, CACertChainFile string
}

// ReadTLSContext reads a TLSContext from its unstructured content, tolerating
// any shape.
func ReadTLSContext(obj map[string]any) TLSContextSpec {
	var tc TLSContextSpec
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		return tc
	}
	tc.Secret, _ = spec["secret"].(string)
	tc.CertChainFile, _ = spec["cert_chain_file"].(string)
	tc.PrivateKeyFile, _ = spec["private_key_file"].(string)
	tc.CACertChainFile, _ = spec["cacert_chain_file"].(string)
	switch v := spec["alpn_protocols"].(type) {
	case string:
		tc.ALPN = SplitALPN(v)
	case []any:
		for _, p := range v {
			if s, ok := p.(string); ok {
				tc.ALPN = append(tc.ALPN, SplitALPN(s)...)
			}
		}
	}
	return tc
}

// SplitALPN splits a comma-separated alpn_protocols value, dropping blanks.
func SplitALPN(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ALPNIstio is the ALPN protocol that makes an Istio sidecar in PERMISSIVE mode
// treat a TLS connection as Istio mTLS.
const ALPNIstio = "istio"

// OffersIstioALPN reports whether the ALPN list includes "istio".
func OffersIstioALPN(alpn []string) bool {
	for _, p := range alpn {
		if p == ALPNIstio {
			return true
		}
	}
	return false
}

// LegacyCertDir is where Ambassador 1.x mounts the Istio secret
// istio.<serviceAccountName> (cert mode "secret"), with the trailing slash the
// guide uses: edge-proxy-istio-certs mounts it there and the legacy TLSContext
// names its files under it.
const LegacyCertDir = "/etc/istiocerts/"

// UsesLegacyFiles reports whether the TLSContext uses the cert-file form at all.
func (tc TLSContextSpec) UsesLegacyFiles() bool {
	return tc.CertChainFile != "" || tc.PrivateKeyFile != "" || tc.CACertChainFile != ""
}

// InLegacyCertDir reports whether file is a path under LegacyCertDir.
func InLegacyCertDir(file string) bool {
	if !strings.HasPrefix(file, "/") {
		return false
	}
	clean := path.Clean(file)
	return strings.HasPrefix(clean, LegacyCertDir) && len(clean) > len(LegacyCertDir)
}

// SecretRef splits a TLSContext secret reference the way Emissary does with
// secret_namespacing on (the default): "name.namespace" names a Secret in
// another namespace; the last dot separates them. With no dot the namespace
// is "" (the TLSContext's own).
func SecretRef(secret string) (name, namespace string) {
	i := strings.LastIndexByte(secret, '.')
	if i < 0 {
		return secret, ""
	}
	return secret[:i], secret[i+1:]
}
