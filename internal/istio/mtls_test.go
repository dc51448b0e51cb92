package istio

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/ruletest"
)

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
		{name: "namespace-wide STRICT", objs: []*unstructured.Unstructured{ruletest.PeerAuthentication("apps", "default", "STRICT", nil)},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "mesh-wide STRICT in the root namespace", objs: []*unstructured.Unstructured{ruletest.PeerAuthentication("istio-system", "default", "STRICT", nil)},
			want: Strict, wantFrom: "default", wantLevel: "mesh"},
		{name: "namespace-wide beats mesh-wide", objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("istio-system", "default", "STRICT", nil), ruletest.PeerAuthentication("apps", "relaxed", "PERMISSIVE", nil)},
			want: Permissive, wantFrom: "relaxed", wantLevel: "namespace"},
		{name: "namespace UNSET inherits the mesh mode", objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("istio-system", "default", "STRICT", nil), ruletest.PeerAuthentication("apps", "unset", "UNSET", nil)},
			want: Strict, wantFrom: "default", wantLevel: "mesh"},
		{name: "namespace without mode inherits the mesh mode", objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("istio-system", "default", "DISABLE", nil), ruletest.PeerAuthentication("apps", "nomode", "", nil)},
			want: Disable, wantFrom: "default", wantLevel: "mesh"},
		{name: "mesh UNSET is PERMISSIVE", objs: []*unstructured.Unstructured{ruletest.PeerAuthentication("istio-system", "default", "UNSET", nil)},
			want: Permissive, wantLevel: "default"},
		{name: "mode is read case-insensitively", objs: []*unstructured.Unstructured{ruletest.PeerAuthentication("apps", "default", "strict", nil)},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "workload PeerAuthentication selecting the Service's pods wins", labels: quote, objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("apps", "default", "STRICT", nil), ruletest.PeerAuthentication("apps", "quote-off", "DISABLE", quote)},
			want: Disable, wantFrom: "quote-off", wantLevel: "workload"},
		{name: "workload PeerAuthentication with a subset of the selector matches", labels: map[string]string{"app": "quote", "tier": "web"}, objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("apps", "quote-off", "DISABLE", quote)},
			want: Disable, wantFrom: "quote-off", wantLevel: "workload"},
		{name: "workload PeerAuthentication selecting other pods is ignored", labels: quote, objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("apps", "default", "STRICT", nil), ruletest.PeerAuthentication("apps", "other-off", "DISABLE", map[string]string{"app": "other"})},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "workload PeerAuthentication needing labels the Service does not select on is ignored", labels: quote, objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("apps", "v2-off", "DISABLE", map[string]string{"app": "quote", "version": "v2"})},
			want: Permissive, wantLevel: "default"},
		{name: "workload PeerAuthentication is ignored when the Service is unknown", labels: nil, objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("apps", "quote-off", "DISABLE", quote)},
			want: Permissive, wantLevel: "default"},
		{name: "workload UNSET inherits the namespace mode", labels: quote, objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("apps", "default", "STRICT", nil), ruletest.PeerAuthentication("apps", "quote", "UNSET", quote)},
			want: Strict, wantFrom: "default", wantLevel: "namespace"},
		{name: "competing namespace-wide PeerAuthentications: first by name wins", objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("apps", "zz", "DISABLE", nil), ruletest.PeerAuthentication("apps", "aa", "STRICT", nil)},
			want: Strict, wantFrom: "aa", wantLevel: "namespace"},
		{name: "PeerAuthentications in other namespaces do not apply", objs: []*unstructured.Unstructured{
			ruletest.PeerAuthentication("other", "default", "DISABLE", nil)},
			want: Permissive, wantLevel: "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := ruletest.WorldOf(t, tc.objs...)
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
	w := ruletest.WorldOf(t, ruletest.PeerAuthentication("istio-system", "default", "STRICT", nil))
	got := ruletest.Must(EffectiveMTLS(context.Background(), w, "istio-system", "istio-system", nil))
	assert.Equal(t, Strict, got.Mode)
	assert.Equal(t, "PeerAuthentication istio-system/default (mesh-wide)", got.Source())
}

func TestEffectiveMTLSNilWorld(t *testing.T) {
	assert.Equal(t, Permissive, ruletest.Must(EffectiveMTLS(context.Background(), nil, "istio-system", "apps", nil)).Mode)
}
