package mutators_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/mutators"
)

// mappingWorldYAML is the cluster the Mapping tests run against.
const mappingWorldYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio.io/rev: stable}}
---
apiVersion: v1
kind: Namespace
metadata: {name: relaxed, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: mixed, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ambient, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: v1
kind: Namespace
metadata: {name: injection-off, labels: {istio-injection: disabled, istio.io/rev: stable}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: relaxed}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy-off, namespace: mixed}
spec: {selector: {matchLabels: {app: legacy}}, mtls: {mode: DISABLE}}
---
apiVersion: v1
kind: Service
metadata: {name: quote, namespace: apps}
spec:
  selector: {app: quote}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: apps}
spec:
  selector: {app: multi}
  ports: [{name: tcp-a, port: 9000}, {name: metrics, port: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: split, namespace: apps}
spec:
  selector: {app: split}
  ports: [{name: tcp-web, port: 80}, {name: http-metrics, port: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: noports, namespace: apps}
spec:
  selector: {app: noports}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: apps}
spec: {type: ExternalName, externalName: api.example.com}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: mixed}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: modern, namespace: mixed}
spec:
  selector: {app: modern}
  ports: [{name: http, port: 80}]
`

func TestMappingIstioTLS(t *testing.T) {
	w := ruletest.World(t, mappingWorldYAML)
	tests := []struct {
		name        string
		mapping     string
		cfg         func(*policy.Config)
		wantService string
		wantTLS     any // nil: absent
		wantChanges []string
		wantFinding string
	}{
		{
			name: "Emissary guide quote Mapping in a STRICT sidecar namespace gets tls and port 80",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: quote-backend, namespace: default},
				spec: {hostname: "*", prefix: /backend/, service: quote}}`,
			wantService: "quote:80", wantTLS: "istio-upstream",
			wantChanges: []string{"spec.tls", "spec.service"},
		},
		{
			name: "known Service: its HTTP port named http",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: quote}}`,
			wantService: "quote:80", wantTLS: "istio-upstream",
			wantChanges: []string{"spec.tls", "spec.service"},
		},
		{
			name: "port 80 is pinned even when another port is named http: Emissary uses 80 today",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: s, namespace: apps},
				spec: {prefix: /s/, service: split}}`,
			wantService: "split:80", wantTLS: "istio-upstream",
			wantChanges: []string{"spec.tls", "spec.service"},
		},
		{
			name: "known Service without port 80: left alone, the port is the author's call",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: w, namespace: default},
				spec: {prefix: /w/, service: web.apps}}`,
			wantService: "web.apps",
			wantFinding: `meshgate leaves Mapping default/w alone: without a port Emissary sends it to port 80, which Service apps/web does not expose (its ports: 8080 "http"), and tls: istio-upstream alone would move it to port 443; write the port in spec.service (for example "web.apps:8080"), and meshgate adds tls: istio-upstream (Service apps/web is in sidecar-mode mesh namespace "apps" with mTLS PERMISSIVE, Istio's default)`,
		},
		{
			name: "cluster FQDN keeps its spelling",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: emissary},
				spec: {prefix: /q/, service: quote.apps.svc.cluster.local}}`,
			wantService: "quote.apps.svc.cluster.local:80", wantTLS: "istio-upstream",
			wantChanges: []string{"spec.tls", "spec.service"},
		},
		{
			name: "explicit port: only tls is added",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: "quote.apps:80"}}`,
			wantService: "quote.apps:80", wantTLS: "istio-upstream",
			wantChanges: []string{"spec.tls"},
		},
		{
			name: "https:// to a STRICT upstream: the application's own TLS, no tls added, a warning",
			mapping: `{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: productpage, namespace: default},
				spec: {prefix: /productpage/, service: "https://productpage:9080"}}`,
			wantService: "https://productpage:9080",
			wantFinding: `service "https://productpage:9080" makes Emissary originate its own TLS, but Service default/productpage is in sidecar-mode mesh namespace "default" with mTLS STRICT, set by PeerAuthentication default/default (namespace-wide): the sidecar refuses any TLS but Istio mTLS, so the route cannot work as written. meshgate does not add tls: istio-upstream, with which the sidecar would terminate the mTLS and hand the application plain bytes where it expects TLS; if the application serves plain HTTP there, set spec.tls: istio-upstream (or drop https://, and meshgate adds it); if the application terminates TLS itself, let its TLS through with a PeerAuthentication selecting its pods whose portLevelMtls sets the container port to PERMISSIVE or DISABLE`,
		},
		{
			name: "https:// to a PERMISSIVE upstream's TLS port: the sidecar passes the TLS through, no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: "https://quote"}}`,
			wantService: "https://quote",
		},
		{
			name: "https:// to a PERMISSIVE upstream's port named http: no change, a warning",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: "https://quote:80"}}`,
			wantService: "https://quote:80",
			wantFinding: `service "https://quote:80" makes Emissary originate its own TLS, but Istio reads port 80 of Service apps/quote as HTTP, not TLS: one of them is wrong, and meshgate does not guess which; if the application serves plain HTTP there, set spec.tls: istio-upstream (or drop https://, and meshgate adds it); if the application terminates TLS itself, name the port https or tls, or set that appProtocol`,
		},
		{
			name: "tls already the Istio context without a port: left to mapping-tls-context",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: web, tls: istio-upstream}}`,
			wantService: "web", wantTLS: "istio-upstream",
		},
		{
			name: "empty tls string counts as unset",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: "quote:80", tls: ""}}`,
			wantService: "quote:80", wantTLS: "istio-upstream",
			wantChanges: []string{"spec.tls"},
		},
		{
			name: "configured TLSContext name",
			cfg:  func(c *policy.Config) { c.Mappings.TLSContext = "mesh-mtls" },
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: quote}}`,
			wantService: "quote:80", wantTLS: "mesh-mtls",
			wantChanges: []string{"spec.tls", "spec.service"},
		},
		{
			name: "v2 tls: true is left alone",
			mapping: `{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: quote, tls: true}}`,
			wantService: "quote", wantTLS: true,
		},
		{
			name: "another TLSContext is left alone",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: quote, tls: upstream-ca}}`,
			wantService: "quote", wantTLS: "upstream-ca",
		},
		{
			name: "namespace-wide DISABLE: no TLS",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: relaxed},
				spec: {prefix: /q/, service: quote}}`,
			wantService: "quote",
		},
		{
			name: "workload DISABLE selecting the Service's pods: no TLS",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: mixed},
				spec: {prefix: /q/, service: legacy}}`,
			wantService: "legacy",
		},
		{
			name: "workload DISABLE for other pods does not apply",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: mixed},
				spec: {prefix: /q/, service: modern}}`,
			wantService: "modern:80", wantTLS: "istio-upstream",
			wantChanges: []string{"spec.tls", "spec.service"},
		},
		{
			name: "ambient upstream: ztunnel does mTLS, no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: ambient},
				spec: {prefix: /q/, service: quote}}`,
			wantService: "quote",
		},
		{
			name: "namespace without mesh labels: no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: plain},
				spec: {prefix: /q/, service: quote}}`,
			wantService: "quote",
		},
		{
			name: "istio-injection=disabled beats istio.io/rev: no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: injection-off},
				spec: {prefix: /q/, service: quote}}`,
			wantService: "quote",
		},
		{
			name: "external host httpbin.org from the AES guide: no change",
			mapping: `{apiVersion: getambassador.io/v2, kind: Mapping, metadata: {name: httpbin, namespace: default},
				spec: {prefix: /httpbin/, service: httpbin.org, host_rewrite: httpbin.org}}`,
			wantService: "httpbin.org",
		},
		{
			name: "IP upstream: no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: "10.0.0.7"}}`,
			wantService: "10.0.0.7",
		},
		{
			name: "ExternalName Service: no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: alias}}`,
			wantService: "alias",
		},
		{
			name: "service with a path: Emissary would guess, no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: quote/api}}`,
			wantService: "quote/api",
		},
		{
			name: "unknown scheme: no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: "tcp://quote"}}`,
			wantService: "tcp://quote",
		},
		{
			name: "http:// to a STRICT upstream: conflict, no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/, service: "http://quote"}}`,
			wantService: "http://quote",
			wantFinding: `service "http://quote" forces plaintext with http://, but Service default/quote is in sidecar-mode mesh namespace "default" with mTLS STRICT, set by PeerAuthentication default/default (namespace-wide): the sidecar will reset the connection; drop the http:// prefix`,
		},
		{
			name: "http:// to a PERMISSIVE upstream: plaintext works, no finding",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: "http://quote"}}`,
			wantService: "http://quote",
		},
		{
			name: "Service whose HTTP port cannot be told: conflict, no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: multi}}`,
			wantService: "multi",
			wantFinding: `which Service apps/multi does not expose (its ports: 9000 "tcp-a", 9090 "metrics"), and tls: istio-upstream alone would move it to port 443; write the port in spec.service (for example "multi:9000")`,
		},
		{
			name: "Service without ports: conflict, no change",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps},
				spec: {prefix: /q/, service: noports}}`,
			wantService: "noports",
			wantFinding: `which Service apps/noports does not expose (it has no ports)`,
		},
		{
			name: "Mapping without a service",
			mapping: `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default},
				spec: {prefix: /q/}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := policy.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			m := ruletest.Object(t, tc.mapping)
			rep := ruletest.MutationContract(t, nil, m, func() (policy.Report, error) {
				return mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, cfg)
			})

			svc, _, _ := unstructured.NestedFieldNoCopy(m.Object, "spec", "service")
			if tc.wantService == "" {
				assert.Nil(t, svc)
			} else {
				assert.Equal(t, tc.wantService, svc)
			}
			tls, _, _ := unstructured.NestedFieldNoCopy(m.Object, "spec", "tls")
			assert.Equal(t, tc.wantTLS, tls)

			var fields []string
			for _, c := range rep.Changes {
				fields = append(fields, c.Field)
				assert.Equal(t, policy.MappingIstioTLS, c.Rule)
				assert.NotEmpty(t, c.Reason)
			}
			assert.Equal(t, tc.wantChanges, fields)

			if tc.wantFinding == "" {
				assert.Empty(t, rep.Findings)
			} else {
				require.Len(t, rep.Findings, 1)
				assert.Equal(t, policy.Warn, rep.Findings[0].Mode)
				assert.Equal(t, "spec.service", rep.Findings[0].Field)
				assert.Contains(t, rep.Findings[0].Message, tc.wantFinding)
			}
		})
	}
}

func TestMappingIstioTLSReasons(t *testing.T) {
	w := ruletest.World(t, mappingWorldYAML)
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: apps}, spec: {prefix: /q/, service: quote}}`)
	rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, policy.DefaultConfig()))
	require.Len(t, rep.Changes, 2)
	assert.Equal(t, `Service apps/quote is in sidecar-mode mesh namespace "apps" with mTLS PERMISSIVE, Istio's default: originate Istio mTLS with TLSContext "istio-upstream"`, rep.Changes[0].Reason)
	assert.Equal(t, `"quote" -> "quote:80": without a port Emissary connects to port 80, and to port 443 once it originates TLS; the explicit port keeps the route where it is`, rep.Changes[1].Reason)
	assert.Equal(t, []jsonpatch.Operation{{Operation: "add", Path: "/spec/tls", Value: "istio-upstream"}}, rep.Changes[0].Ops)
	assert.Equal(t, []jsonpatch.Operation{{Operation: "replace", Path: "/spec/service", Value: "quote:80"}}, rep.Changes[1].Ops)
}

func TestMappingIstioTLSConflictUsesRuleMode(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.Rules[policy.MappingIstioTLS] = policy.Enforce
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: "http://quote"}}`)
	rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), ruletest.World(t, mappingWorldYAML), cfg))
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, policy.Enforce, rep.Findings[0].Mode)
}

func TestMappingIstioTLSUnknownWorldChangesNothing(t *testing.T) {
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: quote}}`)
	rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), world.NewMemory("default"), policy.DefaultConfig()))
	assert.Empty(t, rep.Changes, "a namespace the World does not know is not known to be meshed")
	rep = ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), nil, policy.DefaultConfig()))
	assert.Empty(t, rep.Changes)
}

func TestMappingIstioTLSGarbage(t *testing.T) {
	w := ruletest.World(t, mappingWorldYAML)
	cfg := policy.DefaultConfig()
	for name, obj := range map[string]map[string]any{
		"nil object":       nil,
		"spec is a string": {"spec": "quote"},
		"spec is nil":      {"spec": nil},
		"service is a map": {"spec": map[string]any{"service": map[string]any{"a": 1}}},
		"tls is a list":    {"spec": map[string]any{"service": "quote", "tls": []any{"x"}}},
	} {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: obj}
			rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), u, policy.Target{Namespace: "default"}, w, cfg))
			assert.Empty(t, rep.Changes)
			assert.Empty(t, rep.Findings)
		})
	}
	assert.Empty(t, ruletest.Must(mutators.MappingIstioTLS(context.Background(), nil, policy.Target{}, w, cfg)).Changes)
}

// A cluster that has TLSContexts but not the Istio one: adding tls would name a
// missing context (and mapping-tls-context would then deny every Mapping to the
// mesh), so the rule changes nothing and says what to create. A World read from
// files only (meshgate check without a cluster) cannot prove the context absent:
// the rule still adds nothing, and says the cluster may have it.
func TestMappingIstioTLSWaitsForTheIstioTLSContext(t *testing.T) {
	w := ruletest.World(t, mappingWorldYAML)
	other := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: other-upstream, namespace: emissary}, spec: {secret: other}}`)
	_, err := w.Add(other)
	require.NoError(t, err)
	for _, live := range []bool{false, true} {
		if live {
			w.MarkKnown(policy.KindTLSContext) // the cluster was listed: the World holds every TLSContext
		}
		for _, tt := range []struct{ name, ns, meanwhile string }{
			{"STRICT namespace", "default", "which the STRICT sidecar refuses"},
			{"PERMISSIVE namespace", "apps", "without mTLS"},
		} {
			t.Run(fmt.Sprintf("%s, live World %v", tt.name, live), func(t *testing.T) {
				m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: `+tt.ns+`}, spec: {prefix: /q/, service: quote}}`)
				rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, policy.DefaultConfig()))
				assert.Empty(t, rep.Changes)
				require.Len(t, rep.Findings, 1)
				f := rep.Findings[0]
				assert.Equal(t, policy.Warn, f.Mode)
				assert.Equal(t, "spec.tls", f.Field)
				assert.Contains(t, f.Message, tt.meanwhile)
				if live {
					assert.Contains(t, f.Message, `TLSContext "istio-upstream" does not exist`)
					assert.Contains(t, f.Message, "create TLSContext \"istio-upstream\"")
				} else {
					assert.Contains(t, f.Message, `TLSContext "istio-upstream" is not among the objects meshgate was given (the cluster may have it)`)
				}
				_, hasTLS := m.Object["spec"].(map[string]any)["tls"]
				assert.False(t, hasTLS)
			})
		}
	}

	// Once it exists, the Mapping is wired.
	istio := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: TLSContext, metadata: {name: istio-upstream, namespace: emissary}, spec: {secret: istio-certs, alpn_protocols: istio}}`)
	_, err = w.Add(istio)
	require.NoError(t, err)
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: quote}}`)
	rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, policy.DefaultConfig()))
	assert.Len(t, rep.Changes, 2)
	assert.Empty(t, rep.Findings)
}

// Only Kubernetes service or endpoint resolution points a Mapping at a
// Kubernetes Service; a Consul resolver's Mapping is left alone, and one whose
// resolver meshgate does not know is left alone with a warning.
func TestMappingIstioTLSResolvers(t *testing.T) {
	w := ruletest.World(t, mappingWorldYAML+`
---
apiVersion: getambassador.io/v3alpha1
kind: ConsulResolver
metadata: {name: consul-dc1, namespace: emissary}
spec: {address: consul-server.consul:8500, datacenter: dc1}
---
apiVersion: getambassador.io/v3alpha1
kind: KubernetesEndpointResolver
metadata: {name: endpoint, namespace: emissary}
---
apiVersion: getambassador.io/v3alpha1
kind: KubernetesServiceResolver
metadata: {name: same-name, namespace: emissary}
---
apiVersion: getambassador.io/v3alpha1
kind: ConsulResolver
metadata: {name: same-name, namespace: other}
`)
	for _, tt := range []struct {
		name     string
		resolver string
		wired    bool
		warn     string
	}{
		{name: "no resolver: Emissary's kubernetes-service", wired: true},
		{name: "KubernetesEndpointResolver from the World", resolver: "endpoint", wired: true},
		{name: "built-in kubernetes-service", resolver: "kubernetes-service", wired: true},
		{name: "built-in kubernetes-endpoint", resolver: "kubernetes-endpoint", wired: true},
		{name: "ConsulResolver from the World", resolver: "consul-dc1"},
		{name: "built-in consul", resolver: "consul"},
		{name: "built-in consul-endpoint", resolver: "consul-endpoint"},
		{name: "unknown resolver: warn, never guess", resolver: "my-resolver", warn: `resolver "my-resolver" is not among the objects meshgate knows`},
		{name: "resolvers of one name with different kinds", resolver: "same-name", warn: `resolvers called "same-name" have different kinds (ConsulResolver, KubernetesServiceResolver)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := `{prefix: /q/, service: quote.apps}`
			if tt.resolver != "" {
				spec = `{prefix: /q/, service: quote.apps, resolver: ` + tt.resolver + `}`
			}
			m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: `+spec+`}`)
			rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, policy.DefaultConfig()))
			if tt.wired {
				assert.Len(t, rep.Changes, 2)
				assert.Empty(t, rep.Findings)
				return
			}
			assert.Empty(t, rep.Changes)
			assert.Equal(t, map[string]any{"prefix": "/q/", "service": "quote.apps", "resolver": tt.resolver}, m.Object["spec"])
			if tt.warn == "" {
				assert.Empty(t, rep.Findings)
				return
			}
			require.Len(t, rep.Findings, 1)
			assert.Equal(t, policy.Warn, rep.Findings[0].Mode)
			assert.Equal(t, "spec.resolver", rep.Findings[0].Field)
			assert.Contains(t, rep.Findings[0].Message, tt.warn)
		})
	}

	// An unknown resolver on a Mapping meshgate would not touch anyway is not
	// worth a warning.
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: web.plain, resolver: my-resolver}}`)
	rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, policy.DefaultConfig()))
	assert.Empty(t, rep.Changes)
	assert.Empty(t, rep.Findings)
}

// The ambassador Module's use_ambassador_namespace_for_service_resolution: an
// unqualified service resolves in Emissary's namespace (the Module's), a
// qualified one where it says; the Module's resolver is every Mapping's default.
func TestMappingIstioTLSAmbassadorModule(t *testing.T) {
	module := func(config string) string {
		return "\n---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador, namespace: apps}\nspec: {config: " + config + "}\n"
	}
	for _, tt := range []struct {
		name, world, mappingNS, service string
		wantService                     string // "" means unchanged
		warn                            string
	}{
		{name: "unqualified service in the Mapping's namespace without the Module", world: mappingWorldYAML, mappingNS: "plain", service: "quote"},
		{name: "unqualified service in Emissary's namespace with the Module", world: mappingWorldYAML + module("{use_ambassador_namespace_for_service_resolution: true}"), mappingNS: "plain", service: "quote", wantService: "quote:80"},
		{name: "the Module's flag off: the Mapping's namespace", world: mappingWorldYAML + module("{use_ambassador_namespace_for_service_resolution: false}"), mappingNS: "plain", service: "quote"},
		{name: "a qualified service ignores the Module", world: mappingWorldYAML + module("{use_ambassador_namespace_for_service_resolution: true}"), mappingNS: "default", service: "web.plain"},
		{name: "unqualified service in a meshed Mapping namespace moves to Emissary's", world: mappingWorldYAML + module("{use_ambassador_namespace_for_service_resolution: true}"), mappingNS: "default", service: "split", wantService: "split:80"},
		{name: "the Module's namespace names the Service in the warning", world: mappingWorldYAML + module("{use_ambassador_namespace_for_service_resolution: true}"), mappingNS: "default", service: "web", warn: "Service apps/web (unqualified, and Module apps/ambassador sets use_ambassador_namespace_for_service_resolution"},
		{name: "the Module's default resolver is Consul", world: mappingWorldYAML + module("{resolver: consul}"), mappingNS: "default", service: "quote.apps"},
		{name: "Modules that disagree: warn, never guess", world: mappingWorldYAML + module("{use_ambassador_namespace_for_service_resolution: true}") + "\n---\napiVersion: getambassador.io/v3alpha1\nkind: Module\nmetadata: {name: ambassador, namespace: emissary}\nspec: {config: {}}\n", mappingNS: "default", service: "quote.apps", warn: "the ambassador Modules apps/ambassador, emissary/ambassador disagree"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := ruletest.World(t, tt.world)
			m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: `+tt.mappingNS+`}, spec: {prefix: /q/, service: `+tt.service+`}}`)
			rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, policy.DefaultConfig()))
			spec := m.Object["spec"].(map[string]any)
			if tt.wantService == "" {
				assert.Empty(t, rep.Changes)
				assert.Equal(t, tt.service, spec["service"])
			} else {
				assert.Equal(t, tt.wantService, spec["service"])
				assert.Equal(t, "istio-upstream", spec["tls"])
				require.NotEmpty(t, rep.Changes)
				assert.Contains(t, rep.Changes[0].Reason, "Module apps/ambassador sets use_ambassador_namespace_for_service_resolution")
			}
			if tt.warn == "" {
				assert.Empty(t, rep.Findings)
				return
			}
			require.Len(t, rep.Findings, 1)
			assert.Contains(t, rep.Findings[0].Message, tt.warn)
		})
	}
}

// A resolver the cluster defines wins over Emissary's built-in of that name, as
// in Emissary (built-ins are only created when the name is free).
func TestMappingIstioTLSDefinedResolverWinsOverBuiltin(t *testing.T) {
	w := ruletest.World(t, mappingWorldYAML+`
---
apiVersion: getambassador.io/v3alpha1
kind: ConsulResolver
metadata: {name: endpoint, namespace: emissary}
`)
	m := ruletest.Object(t, `{apiVersion: getambassador.io/v3alpha1, kind: Mapping, metadata: {name: q, namespace: default}, spec: {prefix: /q/, service: quote.apps, resolver: endpoint}}`)
	rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, ruletest.Target(m), w, policy.DefaultConfig()))
	assert.Empty(t, rep.Changes)
	assert.Empty(t, rep.Findings)
}
