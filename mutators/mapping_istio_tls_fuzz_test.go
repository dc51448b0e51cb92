package mutators_test

import (
	"context"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/mutators"
)

// mappingSeeds are real Mappings: the Emissary and AES guides' examples and the
// shapes the rule distinguishes.
var mappingSeeds = []string{
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"quote-backend","namespace":"default"},"spec":{"hostname":"*","prefix":"/backend/","service":"quote"}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"quote-backend","namespace":"default"},"spec":{"hostname":"*","prefix":"/backend/","service":"quote:80","tls":"istio-upstream"}}`,
	`{"apiVersion":"getambassador.io/v2","kind":"Mapping","metadata":{"name":"productpage"},"spec":{"prefix":"/productpage/","rewrite":"/productpage","service":"https://productpage:9080","tls":"istio-upstream"}}`,
	`{"apiVersion":"getambassador.io/v2","kind":"Mapping","metadata":{"name":"httpbin"},"spec":{"prefix":"/httpbin/","service":"httpbin.org","host_rewrite":"httpbin.org"}}`,
	`{"apiVersion":"getambassador.io/v2","kind":"Mapping","metadata":{"name":"q","namespace":"apps"},"spec":{"prefix":"/q/","service":"quote","tls":true}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"q","namespace":"apps"},"spec":{"prefix":"/q/","service":"multi"}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"q","namespace":"default"},"spec":{"prefix":"/q/","service":"http://quote"}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"q","namespace":"mixed"},"spec":{"prefix":"/q/","service":"[fd00::1]"}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"s","namespace":"apps"},"spec":{"prefix":"/s/","service":"split"}}`,
	`{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"q","namespace":"apps"},"spec":{"prefix":"/q/","service":"https://quote:80"}}`,
	`{"spec":"garbage"}`,
	`[]`,
}

// FuzzMappingIstioTLS: on any object the rule does not panic, its ops apply
// cleanly to the object as submitted and give exactly the mutated object, and
// a second run changes nothing and finds the same.
func FuzzMappingIstioTLS(f *testing.F) {
	for _, s := range mappingSeeds {
		f.Add([]byte(s), "", "")
	}
	f.Add([]byte(mappingSeeds[0]), "quote.apps.svc.cluster.local", "")
	f.Add([]byte(mappingSeeds[0]), "HTTPS://Web.Apps", "istio-upstream")
	f.Add([]byte(mappingSeeds[0]), "noports.apps:0", "true")
	w := ruletest.World(f, mappingWorldYAML)
	cfg := policy.DefaultConfig()
	f.Fuzz(func(t *testing.T, doc []byte, service, tls string) {
		var obj map[string]any
		if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
			obj = map[string]any{"spec": map[string]any{}}
		}
		if spec, ok := obj["spec"].(map[string]any); ok {
			if service != "" {
				spec["service"] = service
			}
			switch tls {
			case "":
			case "true":
				spec["tls"] = true
			default:
				spec["tls"] = tls
			}
		}
		submitted, err := json.Marshal(obj)
		if err != nil {
			t.Skip("not representable as JSON")
		}
		var work map[string]any
		if err := json.Unmarshal(submitted, &work); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		m := &unstructured.Unstructured{Object: work}
		target := ruletest.Target(m)

		ruletest.MutationContract(t, submitted, m, func() (policy.Report, error) {
			return mutators.MappingIstioTLS(context.Background(), m, target, w, cfg)
		})
	})
}

func BenchmarkMappingIstioTLS(b *testing.B) {
	w := ruletest.World(b, mappingWorldYAML)
	cfg := policy.DefaultConfig()
	newMapping := func(ns, service string, tls any) *unstructured.Unstructured {
		spec := map[string]any{"hostname": "*", "prefix": "/backend/", "service": service}
		if tls != nil {
			spec["tls"] = tls
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "getambassador.io/v3alpha1", "kind": "Mapping",
			"metadata": map[string]any{"name": "quote-backend", "namespace": ns},
			"spec":     spec,
		}}
	}
	cases := []struct {
		name         string
		ns, service  string
		tls          any
		wantsChanges bool
	}{
		{"mutates guide quote", "default", "quote", nil, true},
		{"mutates known Service", "apps", "quote", nil, true},
		{"already wired", "default", "quote:80", "istio-upstream", false},
		{"external host", "default", "httpbin.org", nil, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			t := policy.Target{Namespace: c.ns}
			b.ReportAllocs()
			for b.Loop() {
				m := newMapping(c.ns, c.service, c.tls)
				rep := ruletest.Must(mutators.MappingIstioTLS(context.Background(), m, t, w, cfg))
				if (len(rep.Changes) > 0) != c.wantsChanges {
					b.Fatalf("changes: %v", rep.Changes)
				}
			}
		})
	}
}
