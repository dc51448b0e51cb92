package mutators

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
)

// goldenEdgePods returns, as JSON, the pods of the golden corpus's pod-* cases
// and the pod templates of its deploy-* cases, keyed by case name.
func goldenEdgePods(tb testing.TB) map[string][]byte {
	tb.Helper()
	dirs, err := filepath.Glob(filepath.Join("..", "test", "golden", "testdata", "*", "input.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, path := range dirs {
		name := filepath.Base(filepath.Dir(path))
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			continue // a multi-document case of another rule: not a seed here
		}
		switch obj["kind"] {
		case "Pod":
		case "Deployment", "DaemonSet", "StatefulSet":
			spec, _ := obj["spec"].(map[string]any)
			tpl, _ := spec["template"].(map[string]any)
			if tpl == nil {
				continue
			}
			obj = tpl
		default:
			continue
		}
		b, err := json.Marshal(obj)
		if err != nil {
			tb.Fatal(err)
		}
		out[name] = b
	}
	return out
}

func sortedNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var fuzzNamespaces = []string{"emissary", "rev", "ambient", "plain", "unknown"}

// FuzzEdgeProxyIstioCerts feeds arbitrary pods to the rule: it must not panic, its
// operations must apply cleanly to the pod as submitted and give the pod the rule
// made, and a second run must change nothing.
func FuzzEdgeProxyIstioCerts(f *testing.F) {
	seeds := goldenEdgePods(f)
	for i, name := range sortedNames(seeds) {
		f.Add(seeds[name], uint8(i), i%4 == 0)
	}
	f.Add([]byte(`{"metadata":{"labels":{"service":"ambassador"},"annotations":null},"spec":{"containers":[{"name":"a","env":null}],"volumes":null}}`), uint8(0), false)
	f.Add([]byte(`{"metadata":{"annotations":{"meshgate.io/edge-proxy":"true","proxy.istio.io/config":"[","sidecar.istio.io/userVolumeMount":"[{}]"}},"spec":{"containers":[{"name":"istio-proxy"},{}],"initContainers":[{"name":"istio-init","command":["-b"]}]}}`), uint8(0), false)
	w := certsWorld(f)
	f.Fuzz(func(t *testing.T, doc []byte, nsIndex uint8, legacy bool) {
		var obj map[string]any
		if json.Unmarshal(doc, &obj) != nil || obj == nil {
			return
		}
		pod := &corev1.Pod{}
		if runtime.DefaultUnstructuredConverter.FromUnstructured(obj, pod) != nil {
			return
		}
		input, err := json.Marshal(obj)
		if err != nil {
			return
		}
		cfg := policy.DefaultConfig()
		if legacy {
			cfg.EdgeProxy.CertMode = policy.CertModeSecret
		}
		ns := fuzzNamespaces[int(nsIndex)%len(fuzzNamespaces)]
		target := policy.Target{Object: policy.ObjectRef{Kind: "Pod", Namespace: ns}, Namespace: ns}

		ruletest.MutationContract(t, input, pod, func() (policy.Report, error) {
			return EdgeProxyIstioCerts(context.Background(), pod, target, w, cfg)
		})
	})
}

// BenchmarkEdgeProxyIstioCerts measures the rule on the Helm chart's pod and on a
// pod Istio already injected. Each iteration deep-copies the pod first (the rule
// changes it in place); that copy is part of the numbers.
func BenchmarkEdgeProxyIstioCerts(b *testing.B) {
	seeds := goldenEdgePods(b)
	w := certsWorld(b)
	cfg := policy.DefaultConfig()
	for _, bc := range []struct{ name, seed string }{
		{"sidecar", "pod-emissary-helm-sidecar"},
		{"injected", "pod-already-injected"},
		{"already-wired", "pod-emissary-guide-wired"},
	} {
		pod := &corev1.Pod{}
		if err := json.Unmarshal(seeds[bc.seed], pod); err != nil {
			b.Fatalf("%s: %v", bc.seed, err)
		}
		target := policy.Target{Object: policy.ObjectRef{Kind: "Pod", Namespace: "emissary", Name: pod.Name}, Namespace: "emissary"}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rep := ruletest.Must(EdgeProxyIstioCerts(context.Background(), pod.DeepCopy(), target, w, cfg))
				if bc.name != "already-wired" && len(rep.Changes) == 0 {
					b.Fatal("no change")
				}
			}
		})
	}
}
