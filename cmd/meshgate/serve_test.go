package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServeRejectsBadUsageBeforeStarting(t *testing.T) {
	badConfig := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(badConfig, []byte("rules: {no-such-rule: enforce}\n"), 0o600))
	tests := []struct {
		name string
		args []string
	}{
		{"TLS below 1.2", []string{"serve", "--tls-min-version", "1.1"}},
		{"missing config file", []string{"serve", "--config", filepath.Join(t.TempDir(), "absent.yaml")}},
		{"config with an unknown rule", []string{"serve", "--config", badConfig}},
		{"positional arguments", []string{"serve", "extra"}},
		{"unknown flag", []string{"serve", "--no-such-flag"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, exitBadInput, run(tc.args))
		})
	}
}

func TestServeHelpListsTheServerFlags(t *testing.T) {
	cmd := newServeCommand()
	for _, name := range []string{"cert-dir", "port", "config", "metrics-bind-address", "health-probe-bind-address",
		"tls-min-version", "enable-http2", "service-account", "namespace", "kubeconfig"} {
		assert.NotNil(t, cmd.Flags().Lookup(name), name)
	}
}
