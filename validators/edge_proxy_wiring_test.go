package validators

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/mutators"
)

// wiringEdgePod is the Emissary Helm chart's pod, trimmed to what the rule reads.
const wiringEdgePod = `
metadata:
  name: emissary-ingress-0
  labels:
    product: aes
    profile: main
spec:
  serviceAccountName: emissary-ingress
  containers:
  - name: emissary-ingress
    ports:
    - name: admin
      containerPort: 8877
`

func wiringWorld(t testing.TB) policy.World {
	t.Helper()
	w := world.NewMemory("default")
	for name, labels := range map[string]map[string]any{
		"emissary": {"istio-injection": "enabled"},
		"ambient":  {"istio.io/dataplane-mode": "ambient"},
		"plain":    {},
	} {
		_, err := w.Add(&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels},
		}})
		require.NoError(t, err)
	}
	return w
}

func wiringPod(t testing.TB) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(wiringEdgePod), pod))
	return pod
}

func wiringTarget(ns string) policy.Target {
	return policy.Target{Object: policy.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "emissary-ingress-0"}, Namespace: ns}
}

// wired returns the pod after edge-proxy-istio-certs wired it.
func wired(t testing.TB, pod *corev1.Pod, ns string) *corev1.Pod {
	t.Helper()
	out := pod.DeepCopy()
	ruletest.Must(mutators.EdgeProxyIstioCerts(context.Background(), out, wiringTarget(ns), wiringWorld(t), policy.DefaultConfig()))
	return out
}

func TestEdgeProxyWiring(t *testing.T) {
	mutatorOff := policy.DefaultConfig()
	mutatorOff.Rules[policy.EdgeProxyIstioCerts] = policy.Off
	ruleOff := policy.DefaultConfig()
	ruleOff.Rules[policy.EdgeProxyWiring] = policy.Off
	enforce := policy.DefaultConfig()
	enforce.Rules[policy.EdgeProxyWiring] = policy.Enforce
	secret := policy.DefaultConfig()
	secret.EdgeProxy.CertMode = policy.CertModeSecret

	tests := []struct {
		name  string
		ns    string
		cfg   *policy.Config
		pod   func(t *testing.T) *corev1.Pod
		field string   // of the one finding; "" means no finding
		want  []string // substrings of its message
		mode  policy.Mode
	}{
		{name: "pod wired by edge-proxy-istio-certs passes", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod { return wired(t, wiringPod(t), "emissary") }},
		{name: "bare edge pod in a sidecar namespace", ns: "emissary",
			pod:   func(t *testing.T) *corev1.Pod { return wiringPod(t) },
			field: "spec.containers[0]",
			want: []string{`sidecar mode (namespace "emissary")`, "volume istio-certs", "env AMBASSADOR_ISTIO_SECRET_DIR",
				"proxyMetadata.OUTPUT_CERTS", "sidecar.istio.io/userVolumeMount", "Fix: resolve the conflicts edge-proxy-istio-certs reported"}},
		{name: "opted-out pod: the finding points at the opt-out", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod {
				p := wiringPod(t)
				p.Annotations = map[string]string{"meshgate.io/inject": "false"}
				return p
			},
			field: "metadata.annotations[meshgate.io/inject]",
			want:  []string{`Fix: remove the annotation meshgate.io/inject: "false"`}},
		{name: "opted-out pod wired by hand passes", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod {
				p := wired(t, wiringPod(t), "emissary")
				p.Annotations["meshgate.io/inject"] = "false"
				return p
			}},
		{name: "mutation off: the fix says to turn it on", ns: "emissary", cfg: mutatorOff,
			pod:   func(t *testing.T) *corev1.Pod { return wiringPod(t) },
			field: "spec.containers[0]",
			want:  []string{"turn rule edge-proxy-istio-certs on"}},
		{name: "vendor inject false left in place", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod {
				p := wired(t, wiringPod(t), "emissary")
				p.Annotations["sidecar.istio.io/inject"] = "false"
				return p
			},
			field: "spec.containers[0]",
			want:  []string{`Missing: Istio sidecar injection (sidecar.istio.io/inject must not be "false").`}},
		{name: "hostNetwork edge pod: Istio never injects it, so the wiring cannot work", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod {
				p := wiringPod(t)
				p.Spec.HostNetwork = true
				return wired(t, p, "emissary")
			},
			field: "spec.hostNetwork",
			want:  []string{"Istio never injects a pod with spec.hostNetwork: true", "Fix: run the edge proxy without hostNetwork: true"}},
		{name: "the rule's mode is used", ns: "emissary", cfg: enforce, mode: policy.Enforce,
			pod:   func(t *testing.T) *corev1.Pod { return wiringPod(t) },
			field: "spec.containers[0]", want: []string{"lacks the Istio certificate wiring"}},
		{name: "rule off", ns: "emissary", cfg: ruleOff, pod: func(t *testing.T) *corev1.Pod { return wiringPod(t) }},
		{name: "wired pod running Emissary before 4.1.0: certificates stop rotating", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod {
				return wired(t, withImage(wiringPod(t), "docker.io/emissaryingress/emissary:3.10.0"), "emissary")
			},
			field: "spec.containers[0].image",
			want:  []string{"Emissary 3.10.0 keeps the Istio certificates it loaded at start", `"certificate expired"`, "upgrade to Emissary 4.1.0 or later, or restart the edge-proxy pods daily"}},
		{name: "the stale-certificate finding is a warning even when the rule enforces", ns: "emissary", cfg: enforce,
			pod: func(t *testing.T) *corev1.Pod {
				return wired(t, withImage(wiringPod(t), "ghcr.io/emissary-ingress/emissary:4.0.1"), "emissary")
			},
			field: "spec.containers[0].image", want: []string{"Emissary 4.0.1"}},
		{name: "wired pod running Emissary 4.1.0 passes", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod {
				return wired(t, withImage(wiringPod(t), "ghcr.io/emissary-ingress/emissary:4.1.0"), "emissary")
			}},
		{name: "an image by digest is not read", ns: "emissary",
			pod: func(t *testing.T) *corev1.Pod {
				return wired(t, withImage(wiringPod(t), "ghcr.io/emissary-ingress/emissary@sha256:7d0c2b5c1b9e4f1e8a3f5d6c7b8a9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"), "emissary")
			}},
		{name: "old Emissary outside the mesh is not reported", ns: "plain",
			pod: func(t *testing.T) *corev1.Pod {
				return withImage(wiringPod(t), "docker.io/emissaryingress/emissary:3.10.0")
			}},
		{name: "old Emissary with the rule off is not reported", ns: "emissary", cfg: ruleOff,
			pod: func(t *testing.T) *corev1.Pod {
				return wired(t, withImage(wiringPod(t), "docker.io/emissaryingress/emissary:3.10.0"), "emissary")
			}},
		{name: "ambient namespace needs no wiring", ns: "ambient", pod: func(t *testing.T) *corev1.Pod { return wiringPod(t) }},
		{name: "namespace outside the mesh", ns: "plain", pod: func(t *testing.T) *corev1.Pod { return wiringPod(t) }},
		{name: "legacy secret mode is not sidecar mode", ns: "emissary", cfg: secret, pod: func(t *testing.T) *corev1.Pod { return wiringPod(t) }},
		{name: "not an edge proxy", ns: "emissary", pod: func(t *testing.T) *corev1.Pod {
			p := wiringPod(t)
			p.Labels = map[string]string{"app": "quote"}
			return p
		}},
		{name: "pod label inject=true puts a pod in a plain namespace in sidecar mode", ns: "plain",
			pod: func(t *testing.T) *corev1.Pod {
				p := wiringPod(t)
				p.Labels["sidecar.istio.io/inject"] = "true"
				return p
			},
			field: "spec.containers[0]", want: []string{`namespace "plain"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg == nil {
				cfg = policy.DefaultConfig()
			}
			rep := ruletest.Must(EdgeProxyWiring(context.Background(), tt.pod(t), wiringTarget(tt.ns), wiringWorld(t), cfg))
			assert.Empty(t, rep.Changes, "a validation changes nothing")
			if tt.field == "" {
				assert.Empty(t, rep.Findings)
				return
			}
			require.Len(t, rep.Findings, 1, "one warning per pod, listing everything")
			f := rep.Findings[0]
			assert.Equal(t, policy.EdgeProxyWiring, f.Rule)
			assert.Equal(t, tt.field, f.Field)
			mode := tt.mode
			if mode == "" || strings.HasSuffix(tt.field, ".image") {
				mode = policy.Warn
			}
			assert.Equal(t, mode, f.Mode)
			for _, w := range tt.want {
				assert.Contains(t, f.Message, w)
			}
		})
	}
}

func withImage(pod *corev1.Pod, image string) *corev1.Pod {
	pod.Spec.Containers[0].Image = image
	return pod
}

func TestEdgeProxyWiringSurvivesNilInputs(t *testing.T) {
	assert.Empty(t, ruletest.Must(EdgeProxyWiring(context.Background(), nil, wiringTarget("emissary"), wiringWorld(t), policy.DefaultConfig())).Findings)
	assert.Empty(t, ruletest.Must(EdgeProxyWiring(context.Background(), wiringPod(t), wiringTarget("emissary"), wiringWorld(t), nil)).Findings)
	assert.Empty(t, ruletest.Must(EdgeProxyWiring(context.Background(), wiringPod(t), wiringTarget("emissary"), nil, policy.DefaultConfig())).Findings,
		"no World: the namespace is unknown, so not in the mesh")
	noContainers := wiringPod(t)
	noContainers.Spec.Containers = nil
	assert.Empty(t, ruletest.Must(EdgeProxyWiring(context.Background(), noContainers, wiringTarget("emissary"), wiringWorld(t), policy.DefaultConfig())).Findings)
}

// goldenPodSeeds returns, as JSON, the pods of the golden corpus's pod-* cases.
func goldenPodSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "test", "golden", "testdata", "pod-*", "input.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(paths)
	var out [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(data)
		if err != nil || !strings.HasPrefix(string(j), "{") {
			continue
		}
		out = append(out, j)
	}
	return out
}

// FuzzEdgeProxyWiring feeds arbitrary pods to the rule: it must not panic, must
// never change anything, and reports at most one finding.
func FuzzEdgeProxyWiring(f *testing.F) {
	for i, seed := range goldenPodSeeds(f) {
		f.Add(seed, i%2 == 0)
	}
	f.Add([]byte(`{"metadata":{"labels":{"product":"aes","profile":"main","sidecar.istio.io/inject":"true"},"annotations":{"proxy.istio.io/config":"{","sidecar.istio.io/userVolumeMount":"[1]"}},"spec":{"initContainers":[{"name":"istio-proxy","volumeMounts":[{"name":"istio-certs"}]}],"containers":[{"name":"istio-proxy"},{"env":[{"name":"AMBASSADOR_ENVOY_BASE_ID","value":"x"}]}]}}`), true)
	w := wiringWorld(f)
	f.Fuzz(func(t *testing.T, doc []byte, sidecarNS bool) {
		var obj map[string]any
		if json.Unmarshal(doc, &obj) != nil || obj == nil {
			return
		}
		pod := &corev1.Pod{}
		if runtime.DefaultUnstructuredConverter.FromUnstructured(obj, pod) != nil {
			return
		}
		ns := "plain"
		if sidecarNS {
			ns = "emissary"
		}
		before, _ := json.Marshal(pod)
		rep := ruletest.Must(EdgeProxyWiring(context.Background(), pod, wiringTarget(ns), w, policy.DefaultConfig()))
		after, _ := json.Marshal(pod)
		if string(before) != string(after) {
			t.Fatal("the validation changed the pod")
		}
		if len(rep.Findings) > 1 {
			t.Fatalf("%d findings, want at most one", len(rep.Findings))
		}
	})
}

// BenchmarkEdgeProxyWiring measures the check on a wired pod (the common case:
// no finding) and on a bare one (every item missing, one message built).
func BenchmarkEdgeProxyWiring(b *testing.B) {
	w := wiringWorld(b)
	cfg := policy.DefaultConfig()
	target := wiringTarget("emissary")
	bare := wiringPod(b)
	for _, bc := range []struct {
		name     string
		pod      *corev1.Pod
		findings int
	}{
		{"wired", wired(b, bare, "emissary"), 0},
		{"bare", bare, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rep := ruletest.Must(EdgeProxyWiring(context.Background(), bc.pod, target, w, cfg)); len(rep.Findings) != bc.findings {
					b.Fatalf("%d findings", len(rep.Findings))
				}
			}
		})
	}
}

// TestSidecarNeedsAreSharedByBothPodRules: every entry of the shared wiring
// table, taken away from a wired (and injected) pod, is what edge-proxy-wiring
// reports missing and what edge-proxy-istio-certs puts back.
func TestSidecarNeedsAreSharedByBothPodRules(t *testing.T) {
	injected := func(t *testing.T) *corev1.Pod {
		p := wiringPod(t)
		p.Annotations = map[string]string{istio.AnnotationSidecarStatus: "{}"}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: emissary.ProxyContainerName})
		return wired(t, p, "emissary")
	}
	require.Empty(t, emissary.MissingSidecarWiring(injected(t), 0))
	for i, need := range emissary.SidecarNeeds {
		var in emissary.In
		var what string
		if need.Env != nil {
			in, what = need.Env.In, "env "+need.Env.Name
		} else {
			in, what = need.Mount.In, "mount of volume "+emissary.VolumeName
		}
		t.Run(fmt.Sprintf("%d %s", i, what), func(t *testing.T) {
			pod := injected(t)
			ref, ok := in.Container(pod, 0)
			require.True(t, ok)
			c := ref.Get(pod)
			if need.Env != nil {
				c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == need.Env.Name })
			} else {
				c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == emissary.VolumeName })
			}
			missing := emissary.MissingSidecarWiring(pod, 0)
			require.Len(t, missing, 1)
			assert.Contains(t, missing[0], what)
			assert.Contains(t, missing[0], fmt.Sprintf("container %q", c.Name))
			assert.Empty(t, emissary.MissingSidecarWiring(wired(t, pod, "emissary"), 0), "edge-proxy-istio-certs puts it back")
		})
	}
}
