package validators_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/validators"
)

// mappingTLSWorldYAML is the cluster the mapping-tls-context tests run against.
const mappingTLSWorldYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: emissary, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: mesh-ambient, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: relaxed, labels: {istio-injection: enabled}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: relaxed}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: v1
kind: Service
metadata: {name: quote, namespace: default}
spec:
  selector: {app: quote}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: quote-tls, namespace: default}
spec:
  selector: {app: quote}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: mesh-ambient}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: quote, namespace: relaxed}
spec:
  selector: {app: quote}
  ports: [{name: http, port: 80}]
---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: {name: istio-upstream, namespace: emissary}
spec: {secret: istio-certs, alpn_protocols: istio}
---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: {name: upstream-ca, namespace: apps}
spec: {secret: upstream-ca}
`

type mtcFinding struct {
	field, contains string
}

func mtcCheck(t *testing.T, rep policy.Report, mode policy.Mode, want []mtcFinding) {
	t.Helper()
	require.Len(t, rep.Findings, len(want), "findings: %v", rep.Findings)
	for i, w := range want {
		f := rep.Findings[i]
		assert.Equal(t, policy.MappingTLSContext, f.Rule)
		assert.Equal(t, mode, f.Mode)
		assert.Equal(t, w.field, f.Field)
		assert.Contains(t, f.Message, w.contains)
	}
}

// live marks w as a live cluster's World: it holds every TLSContext, so an
// absence is proven.
func live(w *world.Memory) *world.Memory {
	w.MarkKnown(policy.KindTLSContext)
	return w
}

func TestMappingTLSContext(t *testing.T) {
	w := live(ruletest.World(t, mappingTLSWorldYAML))
	tests := []struct {
		name    string
		mapping string
		world   *world.Memory
		want    []mtcFinding
	}{
		{
			name:    "good: Istio context, explicit port",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote:80", tls: istio-upstream}}`,
		},
		{
			name:    "good: another existing context in another namespace (names are cluster-global)",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote", tls: upstream-ca}}`,
		},
		{
			name:    "good: no port, but the Service exposes 443",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: quote-tls, tls: istio-upstream}}`,
		},
		{
			name:    "good: no port to a Service the World does not know",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: unknown, tls: istio-upstream}}`,
		},
		{
			name:    "v2 tls: true names no context",
			mapping: `{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: quote, tls: true}}`,
		},
		{
			name:    "no tls",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: quote}}`,
		},
		{
			name:    "missing TLSContext",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote:80", tls: upstream-cert}}`,
			want:    []mtcFinding{{"spec.tls", `TLSContext "upstream-cert" does not exist in any namespace: Emissary reports "Originate-TLS context upstream-cert is not defined" and connects without it; create TLSContext "upstream-cert", or set spec.tls to an existing TLSContext`}},
		},
		{
			name:    "missing Istio TLSContext: the message says how to create it",
			world:   live(ruletest.World(t, "apiVersion: getambassador.io/v3alpha1\nkind: TLSContext\nmetadata: {name: other, namespace: emissary}\n")),
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote:80", tls: istio-upstream}}`,
			want:    []mtcFinding{{"spec.tls", `create TLSContext "istio-upstream" in Emissary's namespace (ambassador or emissary) with secret: istio-certs and alpn_protocols: istio`}},
		},
		{
			name:    "World without any TLSContext: existence is not checked",
			world:   ruletest.World(t, ""),
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote:80", tls: nowhere}}`,
		},
		{
			name:    "Istio context, no port, Service without 443: it would hang",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: quote-backend, namespace: default}, spec: {prefix: /backend/, service: quote, tls: istio-upstream}}`,
			want:    []mtcFinding{{"spec.service", `service "quote" has no port: with tls: istio-upstream Emissary originates TLS to port 443, which Service default/quote does not expose, and the connection hangs; write the port the application serves plain HTTP on (the sidecar hands it the decrypted bytes) in spec.service, for example "quote:80"`}},
		},
		{
			name:    "the suggested port is the Service's HTTP port, spelled like the original",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: emissary}, spec: {prefix: /q/, service: "https://web.mesh-ambient", tls: istio-upstream}}`,
			want: []mtcFinding{
				{"spec.tls", `Service mesh-ambient/web is in ambient namespace "mesh-ambient"`},
				{"spec.service", `for example "https://web.mesh-ambient:8080"`},
			},
		},
		{
			name:    "Istio context to an ambient upstream",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "web.mesh-ambient:8080", tls: istio-upstream}}`,
			want:    []mtcFinding{{"spec.tls", `tls: istio-upstream originates Istio mTLS from Emissary, but Service mesh-ambient/web is in ambient namespace "mesh-ambient", where ztunnel carries the traffic over mTLS itself and the application would receive TLS it cannot read: remove spec.tls`}},
		},
		{
			name:    "Istio context to an upstream whose mTLS is DISABLEd",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote.relaxed:80", tls: istio-upstream}}`,
			want:    []mtcFinding{{"spec.tls", `tls: istio-upstream originates Istio mTLS, but PeerAuthentication relaxed/default (namespace-wide) DISABLEs mTLS for Service relaxed/quote`}},
		},
		{
			name:    "another context to an ambient upstream is the author's business",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "web.mesh-ambient", tls: upstream-ca}}`,
		},
		{
			name:    "external host with the Istio context",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "api.example.com", tls: istio-upstream}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ww := w
			if tc.world != nil {
				ww = tc.world
			}
			m := ruletest.Object(t, tc.mapping)
			rep := ruletest.Must(validators.MappingTLSContext(context.Background(), m, ruletest.Target(m), ww, policy.DefaultConfig()))
			mtcCheck(t, rep, policy.Enforce, tc.want)
		})
	}
}

func TestMappingTLSContextUsesRuleMode(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.Rules[policy.MappingTLSContext] = policy.Warn
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote:80", tls: missing}}`)
	rep := ruletest.Must(validators.MappingTLSContext(context.Background(), m, ruletest.Target(m), live(ruletest.World(t, mappingTLSWorldYAML)), cfg))
	mtcCheck(t, rep, policy.Warn, []mtcFinding{{"spec.tls", `TLSContext "missing" does not exist`}})
}

// A World read from files (meshgate check without a cluster) holds some
// TLSContexts, not necessarily the cluster's: a missing one is a warning, never
// a denial. A live World (the admission server, or check with --kubeconfig)
// proves the absence, and the rule denies.
func TestMappingTLSContextPartialWorld(t *testing.T) {
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "quote.apps:80", tls: istio-upstream}}`)
	files := ruletest.World(t, "apiVersion: getambassador.io/v3alpha1\nkind: TLSContext\nmetadata: {name: ledger-client-cert, namespace: default}\nspec: {secret: ledger-client-cert}\n")
	rep := ruletest.Must(validators.MappingTLSContext(context.Background(), m, ruletest.Target(m), files, policy.DefaultConfig()))
	mtcCheck(t, rep, policy.Warn, []mtcFinding{{"spec.tls", `TLSContext "istio-upstream" is not among the objects meshgate was given (the cluster may have it`}})

	rep = ruletest.Must(validators.MappingTLSContext(context.Background(), m, ruletest.Target(m), live(files), policy.DefaultConfig()))
	mtcCheck(t, rep, policy.Enforce, []mtcFinding{{"spec.tls", `TLSContext "istio-upstream" does not exist in any namespace`}})
}

// The Service checks follow Emissary's resolution: only a Kubernetes resolver
// reaches a Service, and the ambassador Module can move unqualified services to
// Emissary's namespace.
func TestMappingTLSContextResolution(t *testing.T) {
	base := mappingTLSWorldYAML + `
---
apiVersion: getambassador.io/v3alpha1
kind: ConsulResolver
metadata: {name: consul-dc1, namespace: emissary}
---
apiVersion: v1
kind: Service
metadata: {name: quote, namespace: emissary}
spec: {selector: {app: quote}, ports: [{name: http, port: 8080}]}
`
	module := "\n---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador, namespace: emissary}\nspec: {config: {use_ambassador_namespace_for_service_resolution: true}}\n"
	for _, tt := range []struct {
		name, world, spec string
		want              []mtcFinding
	}{
		{name: "Kubernetes resolution: the Service in the Mapping's namespace has no 443", world: base, spec: `{prefix: /q/, service: quote, tls: istio-upstream}`,
			want: []mtcFinding{{"spec.service", `which Service default/quote does not expose`}}},
		{name: "Consul resolution: no Kubernetes Service to judge", world: base, spec: `{prefix: /q/, service: quote, tls: istio-upstream, resolver: consul-dc1}`},
		{name: "unknown resolver: meshgate cannot tell", world: base, spec: `{prefix: /q/, service: quote, tls: istio-upstream, resolver: nowhere}`},
		{name: "the Module moves an unqualified service to Emissary's namespace", world: base + module, spec: `{prefix: /q/, service: quote, tls: istio-upstream}`,
			want: []mtcFinding{{"spec.service", `which Service emissary/quote does not expose, and the connection hangs; write the port the application serves plain HTTP on (the sidecar hands it the decrypted bytes) in spec.service, for example "quote:8080"`}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: `+tt.spec+`}`)
			rep := ruletest.Must(validators.MappingTLSContext(context.Background(), m, ruletest.Target(m), live(ruletest.World(t, tt.world)), policy.DefaultConfig()))
			mtcCheck(t, rep, policy.Enforce, tt.want)
		})
	}
}

func TestTLSContextWiring(t *testing.T) {
	tests := []struct {
		name   string
		tlsctx string
		cfg    func(*policy.Config)
		want   []mtcFinding
	}{
		{
			name:   "Emissary guide's TLSContext",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {secret: istio-certs, secret_namespacing: false, sni: some-sni-hostname, alpn_protocols: istio}}`,
		},
		{
			name:   "namespaced secret spelling of the same Secret, ALPN list with istio",
			tlsctx: `{apiVersion: getambassador.io/v2, kind: TLSContext, metadata: {name: istio-upstream, namespace: ambassador}, spec: {secret: istio-certs.ambassador, alpn_protocols: "h2,istio"}}`,
		},
		{
			name:   "other TLSContexts are not checked",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: upstream-ca, namespace: apps}, spec: {secret: upstream-ca}}`,
		},
		{
			name:   "wrong namespace",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: default}, spec: {secret: istio-certs, alpn_protocols: istio}}`,
			want:   []mtcFinding{{"metadata.namespace", `the Istio TLSContext "istio-upstream" is in namespace "default", but Emissary creates the Secret "istio-certs" in its own namespace (ambassador or emissary) and a TLSContext reads secrets from its own: move it to ambassador or emissary`}},
		},
		{
			name:   "secret in another namespace is not the Istio Secret",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {secret: istio-certs.default, alpn_protocols: istio}}`,
			want:   []mtcFinding{{"spec.secret", `uses secret "istio-certs.default"`}},
		},
		{
			name:   "wrong secret",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {secret: istio.default, alpn_protocols: istio}}`,
			want:   []mtcFinding{{"spec.secret", `the Istio TLSContext "istio-upstream" uses secret "istio.default", but Istio's certificates are in the Secret "istio-certs" that Emissary creates from AMBASSADOR_ISTIO_SECRET_DIR: set secret: istio-certs`}},
		},
		{
			name:   "no secret",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {alpn_protocols: istio}}`,
			want:   []mtcFinding{{"spec.secret", `sets no secret`}},
		},
		{
			name:   "no alpn_protocols",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {secret: istio-certs}}`,
			want:   []mtcFinding{{"spec.alpn_protocols", `alpn_protocols of the Istio TLSContext "istio-upstream" is not set: an Istio sidecar in PERMISSIVE mode only takes a connection as mTLS when the client offers ALPN "istio"; set alpn_protocols: istio`}},
		},
		{
			name:   "alpn_protocols without istio",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {secret: istio-certs, alpn_protocols: "h2,http/1.1"}}`,
			want:   []mtcFinding{{"spec.alpn_protocols", `is "h2,http/1.1"`}},
		},
		{
			name:   "everything wrong at once",
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: apps}, spec: {secret: mine}}`,
			want: []mtcFinding{
				{"metadata.namespace", `is in namespace "apps"`},
				{"spec.secret", `uses secret "mine"`},
				{"spec.alpn_protocols", `is not set`},
			},
		},
		{
			name:   "AES 1.x file form with cert mode auto",
			tlsctx: `{apiVersion: getambassador.io/v2, kind: TLSContext, metadata: {name: istio-upstream, namespace: ambassador}, spec: {cert_chain_file: /etc/istiocerts/cert-chain.pem, private_key_file: /etc/istiocerts/key.pem, cacert_chain_file: /etc/istiocerts/root-cert.pem, alpn_protocols: istio}}`,
			want:   []mtcFinding{{"spec.secret", `uses certificate files (the Ambassador 1.x form), which meshgate only wires with cert mode "secret"`}},
		},
		{
			name:   "AES 1.x file form with cert mode secret",
			cfg:    func(c *policy.Config) { c.EdgeProxy.CertMode = policy.CertModeSecret },
			tlsctx: `{apiVersion: getambassador.io/v2, kind: TLSContext, metadata: {name: istio-upstream, namespace: ambassador}, spec: {cert_chain_file: /etc/istiocerts/cert-chain.pem, private_key_file: /etc/istiocerts/key.pem, cacert_chain_file: /etc/istiocerts/root-cert.pem, alpn_protocols: istio}}`,
		},
		{
			name:   "cert mode secret still accepts the secret form",
			cfg:    func(c *policy.Config) { c.EdgeProxy.CertMode = policy.CertModeSecret },
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {secret: istio-certs, alpn_protocols: istio}}`,
		},
		{
			name:   "cert mode secret: files outside /etc/istiocerts/ and a missing key",
			cfg:    func(c *policy.Config) { c.EdgeProxy.CertMode = policy.CertModeSecret },
			tlsctx: `{apiVersion: getambassador.io/v2, kind: TLSContext, metadata: {name: istio-upstream, namespace: ambassador}, spec: {cert_chain_file: /etc/certs/cert-chain.pem, alpn_protocols: istio}}`,
			want: []mtcFinding{
				{"spec.cert_chain_file", `cert_chain_file of the Istio TLSContext "istio-upstream" is "/etc/certs/cert-chain.pem", but with cert mode "secret" the Istio certificates are mounted at /etc/istiocerts/: set cert_chain_file: /etc/istiocerts/cert-chain.pem`},
				{"spec.private_key_file", `sets neither secret nor private_key_file`},
			},
		},
		{
			name: "configured names and namespaces",
			cfg: func(c *policy.Config) {
				c.Mappings.TLSContext = "mesh"
				c.Mappings.IstioSecret = "mesh-certs"
				c.EdgeProxy.Namespaces = []string{"edge"}
			},
			tlsctx: `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: mesh, namespace: edge}, spec: {secret: mesh-certs, alpn_protocols: istio}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := policy.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			obj := ruletest.Object(t, tc.tlsctx)
			rep := ruletest.Must(validators.TLSContextWiring(context.Background(), obj, ruletest.Target(obj), world.NewMemory("default"), cfg))
			mtcCheck(t, rep, policy.Enforce, tc.want)
		})
	}
}

func TestMappingTLSContextGarbage(t *testing.T) {
	w := ruletest.World(t, mappingTLSWorldYAML)
	cfg := policy.DefaultConfig()
	for name, obj := range map[string]map[string]any{
		"nil object":          nil,
		"spec is a list":      {"spec": []any{1}},
		"tls is a number":     {"spec": map[string]any{"service": "quote", "tls": int64(1)}},
		"service is a number": {"spec": map[string]any{"service": int64(80), "tls": "istio-upstream"}},
		"metadata is garbage": {"metadata": "x", "spec": map[string]any{"service": "quote:80", "tls": "istio-upstream"}},
	} {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: obj}
			assert.Empty(t, ruletest.Must(validators.MappingTLSContext(context.Background(), u, policy.Target{Namespace: "default"}, w, cfg)).Findings)
			assert.Empty(t, ruletest.Must(validators.TLSContextWiring(context.Background(), u, policy.Target{Namespace: "emissary"}, w, cfg)).Findings)
		})
	}
	assert.Empty(t, ruletest.Must(validators.MappingTLSContext(context.Background(), nil, policy.Target{}, w, cfg)).Findings)
	assert.Empty(t, ruletest.Must(validators.TLSContextWiring(context.Background(), nil, policy.Target{}, w, cfg)).Findings)
}
