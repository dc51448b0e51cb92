package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDataPlane(t *testing.T) {
	tests := []struct {
		name    string
		ns, pod map[string]string
		wantNS  DataPlane
		wantPod DataPlane
	}{
		{name: "plain namespace", wantNS: NoMesh, wantPod: NoMesh},
		{name: "istio-injection=enabled", ns: map[string]string{"istio-injection": "enabled"}, wantNS: Sidecar, wantPod: Sidecar},
		{name: "revision label", ns: map[string]string{"istio.io/rev": "stable"}, wantNS: Sidecar, wantPod: Sidecar},
		{name: "injection disabled beats a revision", ns: map[string]string{"istio-injection": "disabled", "istio.io/rev": "stable"}, wantNS: NoMesh, wantPod: NoMesh},
		{name: "ambient", ns: map[string]string{"istio.io/dataplane-mode": "ambient"}, wantNS: Ambient, wantPod: Ambient},
		{name: "injection beats ambient", ns: map[string]string{"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"}, wantNS: Sidecar, wantPod: Sidecar},
		{name: "pod opts in in a plain namespace", pod: map[string]string{"sidecar.istio.io/inject": "true"}, wantNS: NoMesh, wantPod: Sidecar},
		{name: "pod opts in in an ambient namespace", ns: map[string]string{"istio.io/dataplane-mode": "ambient"}, pod: map[string]string{"sidecar.istio.io/inject": "true"}, wantNS: Ambient, wantPod: Sidecar},
		{name: "pod opt-in does not beat injection=disabled", ns: map[string]string{"istio-injection": "disabled"}, pod: map[string]string{"sidecar.istio.io/inject": "true"}, wantNS: NoMesh, wantPod: NoMesh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantNS, NamespaceDataPlane(tt.ns))
			assert.Equal(t, tt.wantPod, PodDataPlane(tt.ns, tt.pod))
		})
	}
}

func TestIsEdgeProxy(t *testing.T) {
	c := DefaultConfig()
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        bool
	}{
		{name: "Emissary chart labels", labels: map[string]string{"product": "aes", "profile": "main", "app": "x"}, want: true},
		{name: "legacy service=ambassador", labels: map[string]string{"service": "ambassador"}, want: true},
		{name: "ambassador-agent: product without profile", labels: map[string]string{"product": "aes"}, want: false},
		{name: "opt-in annotation", annotations: map[string]string{"meshgate.io/edge-proxy": "true"}, want: true},
		{name: "ordinary pod", labels: map[string]string{"app": "web"}, want: false},
		{name: "opted-out pods are still edge proxies (edge-proxy-wiring warns about them)", labels: map[string]string{"service": "ambassador"}, annotations: map[string]string{"meshgate.io/inject": "false"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, c.IsEdgeProxy(tt.labels, tt.annotations))
		})
	}
	assert.True(t, OptedOut(map[string]string{"meshgate.io/inject": "false"}))
	assert.False(t, OptedOut(map[string]string{"meshgate.io/inject": "true"}))
}
