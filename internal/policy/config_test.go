package policy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/policy"

	// The rules register themselves: the configuration knows them by id.
	_ "github.com/meshgate/meshgate/mutators"
	_ "github.com/meshgate/meshgate/validators"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c *policy.Config)
	}{
		{
			name: "empty document gives the defaults",
			yaml: "",
			check: func(t *testing.T, c *policy.Config) {
				assert.Equal(t, policy.DefaultConfig(), c)
			},
		},
		{
			name: "inTree.enabled says the in-tree policies are installed",
			yaml: "inTree: {enabled: true}\n",
			check: func(t *testing.T, c *policy.Config) {
				assert.True(t, c.InTree.Enabled)
			},
		},
		{
			name: "nativePolicies, inTree's name in 0.1.0, is still read",
			yaml: "nativePolicies: {enabled: true}\n",
			check: func(t *testing.T, c *policy.Config) {
				assert.True(t, c.InTree.Enabled)
				assert.Nil(t, c.NativePolicies, "moved to inTree")
			},
		},
		{
			name:    "inTree and its old name together are refused",
			yaml:    "inTree: {enabled: false}\nnativePolicies: {enabled: true}\n",
			wantErr: "nativePolicies is inTree's old name: set inTree only",
		},
		{
			name: "a rule mode overrides only that rule",
			yaml: "rules:\n  service-port-name: warn\n",
			check: func(t *testing.T, c *policy.Config) {
				assert.Equal(t, policy.Warn, c.Mode(policy.ServicePortName))
				assert.Equal(t, policy.Enforce, c.Mode(policy.RouteParentRef))
				assert.True(t, c.Enabled(policy.EdgeProxyIstioCerts))
			},
		},
		{
			name: "off disables a mutation",
			yaml: "rules:\n  edge-proxy-istio-certs: off\n",
			check: func(t *testing.T, c *policy.Config) {
				assert.False(t, c.Enabled(policy.EdgeProxyIstioCerts))
			},
		},
		{
			name: "parameters are read",
			yaml: "mappings:\n  tlsContext: mesh-mtls\ngatewayRefs:\n  allowedNamespaces: [gateways]\n",
			check: func(t *testing.T, c *policy.Config) {
				assert.Equal(t, "mesh-mtls", c.Mappings.TLSContext)
				assert.Equal(t, []string{"gateways"}, c.GatewayRefs.AllowedNamespaces)
				assert.Equal(t, "istio-certs", c.Mappings.IstioSecret, "unset parameters keep their default")
			},
		},
		{
			name: "existing findings are allowed on UPDATE unless turned off",
			yaml: "updates: {allowExistingFindings: false}\n",
			check: func(t *testing.T, c *policy.Config) {
				assert.False(t, c.AllowExisting())
				assert.True(t, policy.DefaultConfig().AllowExisting(), "on by default")
			},
		},
		{name: "unknown top-level key", yaml: "rulez: {}\n", wantErr: `unknown field "rulez"`},
		{name: "unknown nested key", yaml: "edgeProxy:\n  certmode: secret\n", wantErr: `unknown field "edgeProxy.certmode"`},
		{name: "unknown rule id", yaml: "rules:\n  port-names: enforce\n", wantErr: `unknown rule "port-names"`},
		{name: "bad mode", yaml: "rules:\n  route-parent-ref: deny\n", wantErr: `rules.route-parent-ref: unknown mode "deny"`},
		{name: "bad cert mode", yaml: "edgeProxy:\n  certMode: files\n", wantErr: `edgeProxy.certMode: unknown value "files"`},
		{name: "bad scope", yaml: "servicePorts:\n  scope: cluster\n", wantErr: `servicePorts.scope: unknown value "cluster"`},
		{name: "empty selector", yaml: "edgeProxy:\n  selectors: [{}]\n", wantErr: "edgeProxy.selectors[0]: an empty selector would match every pod"},
		{name: "not YAML", yaml: "rules: [\n", wantErr: "parse config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := policy.ParseConfig([]byte(tt.yaml))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// TestDocumentedDefaults keeps docs/config.md honest: its YAML block is the defaults.
func TestDocumentedDefaults(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/config.md must hold a yaml block")
	c, err := policy.ParseConfig(m[1])
	require.NoError(t, err)
	assert.Equal(t, policy.DefaultConfig(), c)
}

func TestLoadConfigNamesTheFile(t *testing.T) {
	path := t.TempDir() + "/meshgate.yaml"
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  nope: warn\n"), 0o644))
	_, err := policy.LoadConfig(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)

	_, err = policy.LoadConfig(t.TempDir() + "/missing.yaml")
	assert.ErrorContains(t, err, "read config")
}

// TestSettingsAreConfigPaths: a setting's name is its path in the
// configuration document (the chart reads the setting there), and each of its
// values, written at that path, is what Config.Setting returns.
func TestSettingsAreConfigPaths(t *testing.T) {
	require.NotEmpty(t, policy.Settings())
	for name, values := range policy.Settings() {
		for _, v := range values {
			t.Run(name+"="+v, func(t *testing.T) {
				doc := any(v)
				keys := strings.Split(name, ".")
				for i := len(keys) - 1; i >= 0; i-- {
					doc = map[string]any{keys[i]: doc}
				}
				b, err := json.Marshal(doc)
				require.NoError(t, err)
				cfg, err := policy.ParseConfig(b)
				require.NoError(t, err)
				assert.Equal(t, v, cfg.Setting(name))
			})
		}
	}
}
