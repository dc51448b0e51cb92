package emissary

import (
	"context"
	"github.com/meshgate/meshgate/internal/ruletest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/policy"
	"github.com/meshgate/meshgate/world"
)

func peerAuth(ns, name, mode string, selector map[string]string) *unstructured.Unstructured {
	spec := map[string]any{}
	if mode != "" {
		spec["mtls"] = map[string]any{"mode": mode}
	}
	if selector != nil {
		ml := map[string]any{}
		for k, v := range selector {
			ml[k] = v
		}
		spec["selector"] = map[string]any{"matchLabels": ml}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1",
		"kind":       "PeerAuthentication",
		"metadata":   map[string]any{"namespace": ns, "name": name},
		"spec":       spec,
	}}
}

func memoryWorld(t *testing.T, objs ...*unstructured.Unstructured) *world.Memory {
	t.Helper()
	w := world.NewMemory("default")
	for _, o := range objs {
		_, err := w.Add(o)
		require.NoError(t, err)
	}
	return w
}

func TestEffectiveMTLS(t *testing.T) {
	quote := map[string]string{"app": "quote"}
	tests := []struct {
		name      string
		objs      []*unstructured.Unstructured
		labels    map[string]string
		want      MTLSMode
		wantFrom  string
		wantLevel string
	}{
		{name: "no PeerAuthentication is PERMISSIVE", want: Permissive, wantLevel: "default"},
		{name: "namespace-wide STRICT", objs: []*unstructured.Unstructured{peerAuth("apps", "default", "STRICT", nil)},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "mesh-wide STRICT in the root namespace", objs: []*unstructured.Unstructured{peerAuth("istio-system", "default", "STRICT", nil)},
			want: Strict, wantFrom: "default", wantLevel: "mesh"},
		{name: "namespace-wide beats mesh-wide", objs: []*unstructured.Unstructured{
			peerAuth("istio-system", "default", "STRICT", nil), peerAuth("apps", "relaxed", "PERMISSIVE", nil)},
			want: Permissive, wantFrom: "relaxed", wantLevel: "namespace"},
		{name: "namespace UNSET inherits the mesh mode", objs: []*unstructured.Unstructured{
			peerAuth("istio-system", "default", "STRICT", nil), peerAuth("apps", "unset", "UNSET", nil)},
			want: Strict, wantFrom: "default", wantLevel: "mesh"},
		{name: "namespace without mode inherits the mesh mode", objs: []*unstructured.Unstructured{
			peerAuth("istio-system", "default", "DISABLE", nil), peerAuth("apps", "nomode", "", nil)},
			want: Disable, wantFrom: "default", wantLevel: "mesh"},
		{name: "mesh UNSET is PERMISSIVE", objs: []*unstructured.Unstructured{peerAuth("istio-system", "default", "UNSET", nil)},
			want: Permissive, wantLevel: "default"},
		{name: "mode is read case-insensitively", objs: []*unstructured.Unstructured{peerAuth("apps", "default", "strict", nil)},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "workload PeerAuthentication selecting the Service's pods wins", labels: quote, objs: []*unstructured.Unstructured{
			peerAuth("apps", "default", "STRICT", nil), peerAuth("apps", "quote-off", "DISABLE", quote)},
			want: Disable, wantFrom: "quote-off", wantLevel: "workload"},
		{name: "workload PeerAuthentication with a subset of the selector matches", labels: map[string]string{"app": "quote", "tier": "web"}, objs: []*unstructured.Unstructured{
			peerAuth("apps", "quote-off", "DISABLE", quote)},
			want: Disable, wantFrom: "quote-off", wantLevel: "workload"},
		{name: "workload PeerAuthentication selecting other pods is ignored", labels: quote, objs: []*unstructured.Unstructured{
			peerAuth("apps", "default", "STRICT", nil), peerAuth("apps", "other-off", "DISABLE", map[string]string{"app": "other"})},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "workload PeerAuthentication needing labels the Service does not select on is ignored", labels: quote, objs: []*unstructured.Unstructured{
			peerAuth("apps", "v2-off", "DISABLE", map[string]string{"app": "quote", "version": "v2"})},
			want: Permissive, wantLevel: "default"},
		{name: "workload PeerAuthentication is ignored when the Service is unknown", labels: nil, objs: []*unstructured.Unstructured{
			peerAuth("apps", "quote-off", "DISABLE", quote)},
			want: Permissive, wantLevel: "default"},
		{name: "workload UNSET inherits the namespace mode", labels: quote, objs: []*unstructured.Unstructured{
			peerAuth("apps", "default", "STRICT", nil), peerAuth("apps", "quote", "UNSET", quote)},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "competing namespace-wide PeerAuthentications: first by name wins", objs: []*unstructured.Unstructured{
			peerAuth("apps", "zz", "DISABLE", nil), peerAuth("apps", "aa", "STRICT", nil)},
			want: Strict, wantFrom: "aa", wantLevel: "namespace"},
		{name: "PeerAuthentications in other namespaces do not apply", objs: []*unstructured.Unstructured{
			peerAuth("other", "default", "DISABLE", nil)},
			want: Permissive, wantLevel: "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := memoryWorld(t, tc.objs...)
			got := ruletest.Must(EffectiveMTLS(context.Background(), w, "istio-system", "apps", tc.labels))
			assert.Equal(t, tc.want, got.Mode)
			assert.Equal(t, tc.wantLevel, got.Level)
			if tc.wantFrom == "" {
				assert.Nil(t, got.From)
				assert.Equal(t, "Istio's default", got.Source())
			} else {
				require.NotNil(t, got.From)
				assert.Equal(t, tc.wantFrom, got.From.Name)
			}
		})
	}
}

func TestEffectiveMTLSInRootNamespace(t *testing.T) {
	w := memoryWorld(t, peerAuth("istio-system", "default", "STRICT", nil))
	got := ruletest.Must(EffectiveMTLS(context.Background(), w, "istio-system", "istio-system", nil))
	assert.Equal(t, Strict, got.Mode)
	assert.Equal(t, "PeerAuthentication istio-system/default (mesh-wide)", got.Source())
}

func TestEffectiveMTLSNilWorld(t *testing.T) {
	assert.Equal(t, Permissive, ruletest.Must(EffectiveMTLS(context.Background(), nil, "istio-system", "apps", nil)).Mode)
}

func svc(ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "quote", Namespace: "apps"}, Spec: corev1.ServiceSpec{Ports: ports}}
}

func TestHTTPPort(t *testing.T) {
	tests := []struct {
		name    string
		svc     *corev1.Service
		want    int32
		wantOK  bool
		wantWhy string
	}{
		{name: "the guide's quote Service: http 80 and https 443", svc: svc(
			corev1.ServicePort{Name: "http", Port: 80}, corev1.ServicePort{Name: "https", Port: 443}),
			want: 80, wantOK: true, wantWhy: `the Service's HTTP port "http"`},
		{name: "only port 8080 named http", svc: svc(corev1.ServicePort{Name: "http", Port: 8080}),
			want: 8080, wantOK: true, wantWhy: `the Service's HTTP port "http"`},
		{name: "http2-prefixed name", svc: svc(corev1.ServicePort{Name: "grpc", Port: 9000}, corev1.ServicePort{Name: "http2-api", Port: 9090}),
			want: 9090, wantOK: true},
		{name: "name is case-insensitive", svc: svc(corev1.ServicePort{Name: "tcp", Port: 1}, corev1.ServicePort{Name: "HTTP-web", Port: 8000}),
			want: 8000, wantOK: true},
		{name: "appProtocol replaces the name", svc: svc(corev1.ServicePort{Name: "http", Port: 8080, AppProtocol: ptr.To("tcp")}, corev1.ServicePort{Name: "web", Port: 9000, AppProtocol: ptr.To("kubernetes.io/h2c")}),
			want: 9000, wantOK: true},
		{name: "unnamed port with appProtocol http", svc: svc(corev1.ServicePort{Port: 7000, AppProtocol: ptr.To("HTTP")}, corev1.ServicePort{Port: 7001}),
			want: 7000, wantOK: true, wantWhy: "the Service's HTTP port (appProtocol HTTP)"},
		{name: "several HTTP ports: 80 preferred", svc: svc(corev1.ServicePort{Name: "http-admin", Port: 9901}, corev1.ServicePort{Name: "http", Port: 80}),
			want: 80, wantOK: true},
		{name: "several HTTP ports without 80: the first", svc: svc(corev1.ServicePort{Name: "http-a", Port: 9001}, corev1.ServicePort{Name: "http-b", Port: 9002}),
			want: 9001, wantOK: true},
		{name: "http2foo is not HTTP for Istio, but port 80 is there", svc: svc(corev1.ServicePort{Name: "http2foo", Port: 81}, corev1.ServicePort{Name: "web", Port: 80}),
			want: 80, wantOK: true, wantWhy: "the Service's port 80"},
		{name: "UDP port named http is not HTTP", svc: svc(corev1.ServicePort{Name: "http", Port: 8080, Protocol: corev1.ProtocolUDP}, corev1.ServicePort{Name: "x", Port: 9000}),
			wantOK: false},
		{name: "the only port", svc: svc(corev1.ServicePort{Name: "web", Port: 3000}),
			want: 3000, wantOK: true, wantWhy: "the Service's only port"},
		{name: "ambiguous: several ports, none HTTP, none 80", svc: svc(corev1.ServicePort{Name: "tcp-a", Port: 9000}, corev1.ServicePort{Name: "web", Port: 3000}),
			wantOK: false},
		{name: "no ports", svc: svc(), wantOK: false},
		{name: "nil Service", svc: nil, wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := HTTPPort(tc.svc)
			require.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.want, got.Port)
			if tc.wantWhy != "" {
				assert.Equal(t, tc.wantWhy, got.Why)
			}
		})
	}
}

func namespaceObj(name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	u.SetLabels(labels)
	return u
}

func serviceObj(ns, name string, selector map[string]string, ports ...map[string]any) *unstructured.Unstructured {
	ps := make([]any, 0, len(ports))
	for _, p := range ports {
		ps = append(ps, p)
	}
	sel := map[string]any{}
	for k, v := range selector {
		sel[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"selector": sel, "ports": ps},
	}}
}

func TestResolve(t *testing.T) {
	w := memoryWorld(t,
		namespaceObj("apps", map[string]string{policy.LabelIstioInjection: "enabled"}),
		namespaceObj("ambient", map[string]string{policy.LabelDataplaneMode: "ambient"}),
		namespaceObj("plain", nil),
		serviceObj("apps", "quote", map[string]string{"app": "quote"}, map[string]any{"name": "http", "port": int64(80)}),
		peerAuth("apps", "default", "STRICT", nil),
		peerAuth("apps", "quote-off", "DISABLE", map[string]string{"app": "quote"}),
	)
	tests := []struct {
		name        string
		service     string
		wantKnown   bool
		wantPlane   policy.DataPlane
		wantService bool
		wantMode    MTLSMode
	}{
		{name: "meshed Service with a workload PeerAuthentication", service: "quote.apps", wantKnown: true, wantPlane: policy.Sidecar, wantService: true, wantMode: Disable},
		{name: "meshed namespace, unknown Service: namespace mode", service: "other.apps", wantKnown: true, wantPlane: policy.Sidecar, wantMode: Strict},
		{name: "ambient namespace", service: "x.ambient", wantKnown: true, wantPlane: policy.Ambient},
		{name: "namespace without mesh labels", service: "x.plain", wantKnown: true, wantPlane: policy.NoMesh},
		{name: "namespace unknown to the World", service: "httpbin.org", wantKnown: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUpstream(tc.service, "default")
			require.NoError(t, err)
			r := ruletest.Must(Resolve(context.Background(), u, w, "istio-system"))
			assert.Equal(t, tc.wantKnown, r.NamespaceKnown)
			assert.Equal(t, tc.wantPlane, r.DataPlane)
			assert.Equal(t, tc.wantService, r.Service != nil)
			assert.Equal(t, tc.wantMode, r.MTLS.Mode)
		})
	}
	t.Run("Service known, namespace not", func(t *testing.T) {
		w := memoryWorld(t, serviceObj("unlabelled", "quote", nil, map[string]any{"name": "http", "port": int64(80)}))
		u, err := ParseUpstream("quote.unlabelled", "default")
		require.NoError(t, err)
		r := ruletest.Must(Resolve(context.Background(), u, w, "istio-system"))
		assert.False(t, r.NamespaceKnown)
		assert.Equal(t, policy.NoMesh, r.DataPlane)
		assert.NotNil(t, r.Service, "the Service is still known, for the port checks")
	})
	t.Run("external host resolves to nothing", func(t *testing.T) {
		u, err := ParseUpstream("api.example.com", "default")
		require.NoError(t, err)
		assert.Equal(t, Resolved{}, ruletest.Must(Resolve(context.Background(), u, w, "istio-system")))
	})
}
