package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

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
