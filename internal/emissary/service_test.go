package emissary

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/ruletest"
)

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
	w := ruletest.WorldOf(t,
		namespaceObj("apps", map[string]string{istio.LabelIstioInjection: "enabled"}),
		namespaceObj("ambient", map[string]string{istio.LabelDataplaneMode: "ambient"}),
		namespaceObj("plain", nil),
		serviceObj("apps", "quote", map[string]string{"app": "quote"}, map[string]any{"name": "http", "port": int64(80)}),
		ruletest.PeerAuthentication("apps", "default", "STRICT", nil),
		ruletest.PeerAuthentication("apps", "quote-off", "DISABLE", map[string]string{"app": "quote"}),
	)
	tests := []struct {
		name        string
		service     string
		wantKnown   bool
		wantPlane   istio.DataPlane
		wantService bool
		wantMode    istio.MTLSMode
	}{
		{name: "meshed Service with a workload PeerAuthentication", service: "quote.apps", wantKnown: true, wantPlane: istio.Sidecar, wantService: true, wantMode: istio.Disable},
		{name: "meshed namespace, unknown Service: namespace mode", service: "other.apps", wantKnown: true, wantPlane: istio.Sidecar, wantMode: istio.Strict},
		{name: "ambient namespace", service: "x.ambient", wantKnown: true, wantPlane: istio.Ambient},
		{name: "namespace without mesh labels", service: "x.plain", wantKnown: true, wantPlane: istio.NoMesh},
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
		w := ruletest.WorldOf(t, serviceObj("unlabelled", "quote", nil, map[string]any{"name": "http", "port": int64(80)}))
		u, err := ParseUpstream("quote.unlabelled", "default")
		require.NoError(t, err)
		r := ruletest.Must(Resolve(context.Background(), u, w, "istio-system"))
		assert.False(t, r.NamespaceKnown)
		assert.Equal(t, istio.NoMesh, r.DataPlane)
		assert.NotNil(t, r.Service, "the Service is still known, for the port checks")
	})
	t.Run("external host resolves to nothing", func(t *testing.T) {
		u, err := ParseUpstream("api.example.com", "default")
		require.NoError(t, err)
		assert.Equal(t, Resolved{}, ruletest.Must(Resolve(context.Background(), u, w, "istio-system")))
	})
}

func TestHasPort(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		port int32
		want bool
	}{
		{name: "TCP by default", svc: svc(corev1.ServicePort{Name: "http", Port: 80}), port: 80, want: true},
		{name: "explicit TCP", svc: svc(corev1.ServicePort{Port: 443, Protocol: corev1.ProtocolTCP}), port: 443, want: true},
		{name: "another port", svc: svc(corev1.ServicePort{Name: "http", Port: 8080}), port: 80},
		{name: "UDP only: Emissary cannot connect to it", svc: svc(corev1.ServicePort{Name: "dns", Port: 80, Protocol: corev1.ProtocolUDP}), port: 80},
		{name: "SCTP only", svc: svc(corev1.ServicePort{Port: 443, Protocol: corev1.ProtocolSCTP}), port: 443},
		{name: "no Service", port: 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, HasPort(tt.svc, tt.port))
		})
	}
}
