package emissary

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
)

// podFromYAML decodes a pod written in YAML; tests read better that way.
func podFromYAML(t testing.TB, s string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(s), pod))
	return pod
}

func TestEdgeContainer(t *testing.T) {
	port := func(p int32) []corev1.ContainerPort { return []corev1.ContainerPort{{ContainerPort: p}} }
	probe := func(p int) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt(p)}}}
	}
	nsEnv := []corev1.EnvVar{{Name: EnvNamespace, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}
	tests := []struct {
		name       string
		containers []corev1.Container
		want       int
	}{
		{"no containers", nil, -1},
		{"single container is the edge container", []corev1.Container{{Name: "emissary"}}, 0},
		{"AMBASSADOR_NAMESPACE env wins over an earlier admin port", []corev1.Container{
			{Name: "other", Ports: port(8877)}, {Name: "emissary", Env: nsEnv}}, 1},
		{"containerPort 8877 wins over the first container", []corev1.Container{
			{Name: "statsd", Ports: port(9102)}, {Name: "emissary", Ports: port(8877)}}, 1},
		{"a probe on 8877 marks an edge container that does not declare the port", []corev1.Container{
			{Name: "statsd"}, {Name: "emissary", ReadinessProbe: probe(8877)}}, 1},
		{"a declared port wins over a probe", []corev1.Container{
			{Name: "a", LivenessProbe: probe(8877)}, {Name: "b", Ports: port(8877)}}, 1},
		{"a named probe port does not count (the declared port does)", []corev1.Container{
			{Name: "a"}, {Name: "b", ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("admin")}}}}}, 0},
		{"istio-proxy first (holdApplicationUntilProxyStarts) is skipped", []corev1.Container{
			{Name: ProxyContainerName}, {Name: "emissary"}}, 1},
		{"istio-proxy is never the edge container, even with the env", []corev1.Container{
			{Name: ProxyContainerName, Env: nsEnv, Ports: port(8877)}, {Name: "emissary"}}, 1},
		{"only istio-proxy", []corev1.Container{{Name: ProxyContainerName}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tt.containers}}
			assert.Equal(t, tt.want, EdgeContainer(pod))
		})
	}
	assert.Equal(t, -1, EdgeContainer(nil), "a nil pod has no edge container")
}

// fakeWorld answers namespace lookups from a map; nothing else is needed here.
type fakeWorld struct {
	policy.World
	ns map[string]map[string]string
}

func (w fakeWorld) Find(_ context.Context, kind policy.WorldKind, q policy.Query) (any, error) {
	l, ok := w.ns[q.Name]
	if kind != policy.KindNamespace || !ok {
		return nil, nil
	}
	return []policy.Namespace{{Name: q.Name, Labels: l}}, nil
}

func TestModeOf(t *testing.T) {
	w := fakeWorld{ns: map[string]map[string]string{
		"injected":    {"istio-injection": "enabled"},
		"rev":         {"istio.io/rev": "1-26-2"},
		"ambient":     {"istio.io/dataplane-mode": "ambient"},
		"disabled":    {"istio-injection": "disabled", "istio.io/rev": "1-26-2"},
		"kube-system": {"istio-injection": "enabled"},
		"plain":       {},
		"other":       {"istio-injection": "true", "istio.io/rev": "1-26-2"},
	}}
	secretCfg := policy.DefaultConfig()
	secretCfg.EdgeProxy.CertMode = policy.CertModeSecret
	tests := []struct {
		name        string
		ns          string
		labels      map[string]string
		annotations map[string]string
		cfg         *policy.Config
		want        Mode
	}{
		{"istio-injection=enabled is sidecar", "injected", nil, nil, nil, ModeSidecar},
		{"istio.io/rev is sidecar", "rev", nil, nil, nil, ModeSidecar},
		{"istio-injection=disabled beats istio.io/rev", "disabled", nil, nil, nil, ModeNone},
		{"ambient namespace", "ambient", nil, nil, nil, ModeAmbient},
		{"plain namespace is not in the mesh", "plain", nil, nil, nil, ModeNone},
		{"unknown namespace is not in the mesh", "nowhere", nil, nil, nil, ModeNone},
		{"pod label inject=true opts into sidecar in a plain namespace", "plain", map[string]string{"sidecar.istio.io/inject": "true"}, nil, nil, ModeSidecar},
		{"pod annotation cert-mode=secret is legacy, whatever the namespace", "ambient", nil, map[string]string{policy.AnnotationCertMode: "secret"}, nil, ModeLegacySecret},
		{"config certMode secret is legacy", "injected", nil, nil, secretCfg, ModeLegacySecret},
		{"cert-mode auto annotation leaves it to the namespace", "injected", nil, map[string]string{policy.AnnotationCertMode: "auto"}, nil, ModeSidecar},
		{"unknown cert-mode value reads as auto", "injected", nil, map[string]string{policy.AnnotationCertMode: "Secret"}, nil, ModeSidecar},
		{"istio-injection with a value other than enabled matches no injector webhook", "other", nil, nil, nil, ModeNone},
		{"revision label on the pod in a plain namespace is sidecar", "plain", map[string]string{"istio.io/rev": "canary"}, nil, nil, ModeSidecar},
		{"vendor annotation inject=false is lifted: the namespace decides", "injected", nil, map[string]string{"sidecar.istio.io/inject": "false"}, nil, ModeSidecar},
		{"label inject=false is lifted: the pod's revision decides", "plain", map[string]string{"sidecar.istio.io/inject": "false", "istio.io/rev": "canary"}, nil, nil, ModeSidecar},
		{"label inject=false is lifted, not flipped: a plain namespace stays out of the mesh", "plain", map[string]string{"sidecar.istio.io/inject": "false"}, nil, nil, ModeNone},
		{"annotation inject=true alone selects no injector webhook", "plain", nil, map[string]string{"sidecar.istio.io/inject": "true"}, nil, ModeNone},
		{"kube-system is never injected", "kube-system", nil, nil, nil, ModeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg == nil {
				cfg = policy.DefaultConfig()
			}
			pod := &corev1.Pod{}
			pod.Labels, pod.Annotations = tt.labels, tt.annotations
			assert.Equal(t, tt.want, ruletest.Must(ModeOf(context.Background(), pod, tt.ns, w, cfg)))
		})
	}
	ctx := context.Background()
	assert.Equal(t, ModeNone, ruletest.Must(ModeOf(ctx, &corev1.Pod{}, "injected", nil, policy.DefaultConfig())), "no World: not in the mesh")
	assert.Equal(t, ModeNone, ruletest.Must(ModeOf(ctx, nil, "injected", w, policy.DefaultConfig())))

	hostNet := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true}}
	assert.Equal(t, ModeNone, ruletest.Must(ModeOf(ctx, hostNet, "injected", w, policy.DefaultConfig())), "Istio never injects a hostNetwork pod")
	assert.True(t, ruletest.Must(HostNetworkBlocksSidecar(ctx, hostNet, "injected", w, policy.DefaultConfig())))
	assert.False(t, ruletest.Must(HostNetworkBlocksSidecar(ctx, hostNet, "plain", w, policy.DefaultConfig())), "not in the mesh anyway")
	assert.False(t, ruletest.Must(HostNetworkBlocksSidecar(ctx, &corev1.Pod{}, "injected", w, policy.DefaultConfig())))
}

func TestUnknownCertMode(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ann     map[string]string
		unknown bool
	}{
		{"absent", nil, false},
		{"auto", map[string]string{policy.AnnotationCertMode: "auto"}, false},
		{"secret", map[string]string{policy.AnnotationCertMode: "secret"}, false},
		{"capitalised is unknown", map[string]string{policy.AnnotationCertMode: "Secret"}, true},
		{"empty is unknown", map[string]string{policy.AnnotationCertMode: ""}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			pod.Annotations = tt.ann
			_, unknown := UnknownCertMode(pod)
			assert.Equal(t, tt.unknown, unknown)
		})
	}
}

func TestInjectionBlocked(t *testing.T) {
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		blocked     bool
	}{
		{"nothing set: the namespace decides", nil, nil, false},
		{"annotation false", nil, map[string]string{"sidecar.istio.io/inject": "false"}, true},
		{"annotation n (YAML bool) blocks too", nil, map[string]string{"sidecar.istio.io/inject": "n"}, true},
		{"annotation garbage blocks (istiod injects only on y/yes/true/on)", nil, map[string]string{"sidecar.istio.io/inject": "maybe"}, true},
		{"annotation TRUE (any case) injects", nil, map[string]string{"sidecar.istio.io/inject": "TRUE"}, false},
		{"annotation empty means default", nil, map[string]string{"sidecar.istio.io/inject": ""}, false},
		{"label false blocks", map[string]string{"sidecar.istio.io/inject": "false"}, nil, true},
		{"label wins over annotation: label true, annotation false", map[string]string{"sidecar.istio.io/inject": "true"}, map[string]string{"sidecar.istio.io/inject": "false"}, false},
		{"label wins over annotation: empty label, annotation false", map[string]string{"sidecar.istio.io/inject": ""}, map[string]string{"sidecar.istio.io/inject": "false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			pod.Labels, pod.Annotations = tt.labels, tt.annotations
			assert.Equal(t, tt.blocked, istio.InjectionBlocked(pod))
		})
	}
}

func TestSameDir(t *testing.T) {
	assert.True(t, SameDir("/etc/istio-certs/", "/etc/istio-certs"))
	assert.True(t, SameDir("/etc/istio-certs//", "/etc/istio-certs"))
	assert.False(t, SameDir("/etc/istio-certs2", "/etc/istio-certs"))
	assert.False(t, SameDir("", ""), "an empty path is no directory")
	assert.False(t, SameDir("etc/istio-certs", "/etc/istio-certs"))
}

func TestServiceAccountAndLegacySecret(t *testing.T) {
	tests := []struct {
		name, sa, deprecated, wantSA, wantSecret string
	}{
		{"serviceAccountName", "ambassador", "", "ambassador", "istio.ambassador"},
		{"deprecated serviceAccount is honoured", "", "ambassador", "ambassador", "istio.ambassador"},
		{"serviceAccountName wins", "emissary", "ambassador", "emissary", "istio.emissary"},
		{"unset is the default account", "", "", "", "istio.default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: tt.sa, DeprecatedServiceAccount: tt.deprecated}}
			assert.Equal(t, tt.wantSA, ServiceAccount(pod))
			assert.Equal(t, tt.wantSecret, LegacySecretName(ServiceAccount(pod)))
		})
	}
}

func TestIstioProxyFindsNativeSidecar(t *testing.T) {
	pod := podFromYAML(t, `
spec:
  initContainers:
  - name: istio-init
  - name: istio-proxy
    restartPolicy: Always
  containers:
  - name: emissary
`)
	ref, ok := IstioProxy(pod)
	require.True(t, ok)
	assert.Equal(t, ContainerRef{List: "initContainers", Index: 1}, ref)
	assert.Equal(t, "istio-proxy", ref.Get(pod).Name)
	assert.Equal(t, 0, IstioInit(pod))

	_, ok = IstioProxy(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "emissary"}}}})
	assert.False(t, ok, "a pod Istio has not injected has no istio-proxy")
}

func TestFindEnvLastWins(t *testing.T) {
	c := &corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B"}, {Name: "A", Value: "2"}}}
	assert.Equal(t, 2, FindEnv(c, "A"), "the kubelet uses the last of repeated names")
	assert.Equal(t, -1, FindEnv(c, "C"))
}

func TestEnvoyBaseIDWired(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "7": true, "0": false, "": false, "-1": false, "one": false} {
		assert.Equal(t, want, EnvoyBaseIDWired(v), "value %q", v)
	}
}
