package policy_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/policy"

	// The rules register themselves.
	_ "github.com/meshgate/meshgate/mutators"
	_ "github.com/meshgate/meshgate/validators"
)

func TestSuppress(t *testing.T) {
	cfg, err := policy.ParseConfig([]byte(`
suppressions:
- {rule: service-port-name, namespace: "legacy-*", reason: old clients}
- {rule: virtualservice-gateway-ref, kind: VirtualService, name: kiali}
- {rule: edge-proxy-wiring, selector: {matchLabels: {team: edge}}}
`))
	require.NoError(t, err)
	tests := []struct {
		name    string
		finding policy.Finding
		labels  map[string]string
		want    policy.Mode
		message string
	}{
		{"a namespace glob matches", policy.Finding{Rule: policy.ServicePortName, Mode: policy.Enforce, Object: policy.ObjectRef{Kind: "Service", Namespace: "legacy-shop", Name: "a"}, Message: "m"}, nil, policy.Suppressed, "m (suppressed: old clients)"},
		{"another namespace does not", policy.Finding{Rule: policy.ServicePortName, Mode: policy.Enforce, Object: policy.ObjectRef{Kind: "Service", Namespace: "shop", Name: "a"}, Message: "m"}, nil, policy.Enforce, "m"},
		{"another rule on a matching object does not", policy.Finding{Rule: policy.MappingTLSContext, Mode: policy.Enforce, Object: policy.ObjectRef{Kind: "Mapping", Namespace: "legacy-shop", Name: "a"}, Message: "m"}, nil, policy.Enforce, "m"},
		{"kind and name", policy.Finding{Rule: policy.VirtualServiceGatewayRef, Mode: policy.Enforce, Object: policy.ObjectRef{Kind: "VirtualService", Namespace: "apps", Name: "kiali"}, Message: "m"}, nil, policy.Suppressed, "m"},
		{"a label selector", policy.Finding{Rule: policy.EdgeProxyWiring, Mode: policy.Warn, Object: policy.ObjectRef{Kind: "Pod", Namespace: "emissary", Name: "e"}, Message: "m"}, map[string]string{"team": "edge"}, policy.Suppressed, "m"},
		{"a label selector that does not match", policy.Finding{Rule: policy.EdgeProxyWiring, Mode: policy.Warn, Object: policy.ObjectRef{Kind: "Pod", Namespace: "emissary", Name: "e"}, Message: "m"}, map[string]string{"team": "web"}, policy.Warn, "m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := []policy.Finding{tc.finding}
			cfg.Suppress(fs, tc.labels)
			assert.Equal(t, tc.want, fs[0].Mode)
			assert.Equal(t, tc.message, fs[0].Message)
		})
	}
}

func TestSuppressionsAreValidated(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"an unknown rule", `suppressions: [{rule: no-such-rule}]`, `suppressions[0].rule: unknown rule "no-such-rule"`},
		{"a bad glob", `suppressions: [{rule: service-port-name, name: "[a"}]`, "suppressions[0].name: bad pattern"},
		{"a bad selector", `suppressions: [{rule: service-port-name, selector: {matchExpressions: [{key: a, operator: Near}]}}]`, "suppressions[0].selector"},
		{"an unknown key", `suppressions: [{rule: service-port-name, namespaces: [a]}]`, "namespaces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.ParseConfig([]byte(tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestDocumentedSuppressions: the example in docs/config.md parses.
func TestDocumentedSuppressions(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)## Suppressions.*?```yaml\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/config.md must hold the suppressions example")
	c, err := policy.ParseConfig(m[1])
	require.NoError(t, err)
	assert.Len(t, c.Suppressions, 3)
}
