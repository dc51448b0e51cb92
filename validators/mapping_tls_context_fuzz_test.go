package validators_test

import (
	"context"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/validators"
)

// mtcSeeds are real Mappings and TLSContexts from the Emissary and AES guides,
// and the shapes the rule distinguishes.
var mtcSeeds = []string{
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"quote-backend","namespace":"default"},"spec":{"hostname":"*","prefix":"/backend/","service":"quote:80","tls":"istio-upstream"}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"quote-backend","namespace":"default"},"spec":{"prefix":"/backend/","service":"quote","tls":"istio-upstream"}}`,
	`{"apiVersion":"getambassador.io/v2","kind":"Mapping","metadata":{"name":"productpage"},"spec":{"prefix":"/productpage/","service":"https://productpage:9080","tls":"istio-upstream"}}`,
	`{"apiVersion":"getambassador.io/v2","kind":"Mapping","metadata":{"name":"q"},"spec":{"service":"quote","tls":true}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"q"},"spec":{"service":"web.mesh-ambient","tls":"istio-upstream"}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"TLSContext","metadata":{"name":"istio-upstream","namespace":"emissary"},"spec":{"secret":"istio-certs","alpn_protocols":"istio"}}`,
	`{"apiVersion":"getambassador.io/v2","kind":"TLSContext","metadata":{"name":"istio-upstream"},"spec":{"cert_chain_file":"/etc/istiocerts/cert-chain.pem","private_key_file":"/etc/istiocerts/key.pem","cacert_chain_file":"/etc/istiocerts/root-cert.pem","alpn_protocols":["istio"]}}`,
	`{"metadata":{"name":"istio-upstream"},"spec":{"secret":7}}`,
	`null`,
}

// FuzzMappingTLSContext: on any Mapping or TLSContext content, with either
// cert mode, both halves of the rule return without panicking, and every
// finding names a field and says something.
func FuzzMappingTLSContext(f *testing.F) {
	for _, s := range mtcSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	w := ruletest.World(f, mappingTLSWorldYAML)
	auto := policy.DefaultConfig()
	legacy := policy.DefaultConfig()
	legacy.EdgeProxy.CertMode = policy.CertModeSecret
	f.Fuzz(func(t *testing.T, doc []byte, legacyMode bool) {
		var obj map[string]any
		_ = json.Unmarshal(doc, &obj)
		u := &unstructured.Unstructured{Object: obj}
		cfg := auto
		if legacyMode {
			cfg = legacy
		}
		target := ruletest.Target(u)
		for _, rep := range []policy.Report{
			ruletest.Must(validators.MappingTLSContext(context.Background(), u, target, w, cfg)),
			ruletest.Must(validators.TLSContextWiring(context.Background(), u, target, w, cfg)),
		} {
			for _, f := range rep.Findings {
				if f.Field == "" || f.Message == "" || f.Rule != policy.MappingTLSContext {
					t.Fatalf("incomplete finding %+v", f)
				}
			}
		}
	})
}

func BenchmarkMappingTLSContext(b *testing.B) {
	w := ruletest.World(b, mappingTLSWorldYAML)
	cfg := policy.DefaultConfig()
	cases := []struct {
		name  string
		doc   string
		wire  bool
		finds int
	}{
		{"mapping good", mtcSeeds[0], false, 0},
		{"mapping no port hangs", mtcSeeds[1], false, 1},
		{"mapping ambient without port", mtcSeeds[4], false, 2},
		{"tlscontext good", mtcSeeds[5], true, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			u := ruletest.Object(b, c.doc)
			t := ruletest.Target(u)
			b.ReportAllocs()
			for b.Loop() {
				var rep policy.Report
				if c.wire {
					rep = ruletest.Must(validators.TLSContextWiring(context.Background(), u, t, w, cfg))
				} else {
					rep = ruletest.Must(validators.MappingTLSContext(context.Background(), u, t, w, cfg))
				}
				if len(rep.Findings) != c.finds {
					b.Fatalf("findings: %v", rep.Findings)
				}
			}
		})
	}
}
