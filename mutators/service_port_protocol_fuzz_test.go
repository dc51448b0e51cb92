package mutators_test

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/mutators"
)

var sppSeeds = []string{
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"mesh"},"spec":{"ports":[{"port":80}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"mesh"},"spec":{"ports":[{"name":"http","port":9000},{"port":80,"targetPort":8080},{"port":8080,"protocol":"TCP"}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"mesh"},"spec":{"ports":[{"name":"web","port":80},{"name":"db","port":3306},{"port":9000,"appProtocol":"kubernetes.io/h2c"}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","namespace":"amb"},"spec":{"ports":[{"port":53,"protocol":"UDP"},{"port":53,"name":"","protocol":"TCP"}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"ext","namespace":"mesh"},"spec":{"type":"ExternalName","externalName":"example.com","ports":[{"port":443}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"mesh","labels":{"istio":"pilot"}},"spec":{"ports":[{"port":80}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"mesh"},"spec":{"ports":[{"name":"http","port":80},{"name":"http-80","port":81},{"port":80},{"port":80,"appProtocol":"http_proxy"}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"mesh"},"spec":{"selector":{"app":"x"},"ports":[{"port":80,"targetPort":"grpc"},{"name":"api","port":443,"targetPort":"http-api"},{"port":9090,"targetPort":"udp-x"},{"port":8080,"targetPort":"web"}]}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"mesh"},"spec":{"ports":null}}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"mesh"}}`,
}

// FuzzServicePortProtocol: on any Service the engine could decode, the mutator
// does not panic, its ops apply cleanly to the Service as submitted and give the
// mutated Service, and a second run changes nothing.
func FuzzServicePortProtocol(f *testing.F) {
	for _, s := range sppSeeds {
		f.Add([]byte(s), "mesh", false)
	}
	f.Add([]byte(sppSeeds[1]), "plain", true)
	w := sppWorld(f)
	f.Fuzz(func(t *testing.T, doc []byte, ns string, scopeAll bool) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(doc); err != nil {
			return
		}
		svc := &corev1.Service{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, svc); err != nil {
			return
		}
		cfg := policy.DefaultConfig()
		if scopeAll {
			cfg.ServicePorts.Scope = policy.ScopeAll
		}
		tgt := sppTarget(ns)
		submitted, err := json.Marshal(u.Object)
		if err != nil {
			t.Fatalf("encode input: %v", err)
		}
		ruletest.MutationContract(t, submitted, svc, func() (policy.Report, error) {
			return mutators.ServicePortProtocol(context.Background(), svc, tgt, w, cfg)
		})
	})
}

func BenchmarkServicePortProtocol(b *testing.B) {
	w := sppWorld(b)
	cfg := policy.DefaultConfig()
	svc := sppService("mesh",
		corev1.ServicePort{Name: "http", Port: 9000},
		corev1.ServicePort{Port: 80},
		corev1.ServicePort{Name: "web", Port: 8080},
		corev1.ServicePort{Name: "grpc-api", Port: 9090},
		corev1.ServicePort{Port: 9999},
	)
	tgt := sppTarget("mesh")
	b.ReportAllocs()
	for b.Loop() {
		s := svc.DeepCopy()
		ruletest.Must(mutators.ServicePortProtocol(context.Background(), s, tgt, w, cfg))
	}
}
