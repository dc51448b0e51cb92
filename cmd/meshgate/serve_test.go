package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
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
		"tls-min-version", "enable-http2", "service-account", "namespace", "kubeconfig", "client-ca-file",
		"metrics-secure", "metrics-cert-path", "read-header-timeout", "read-body-timeout", "idle-timeout",
		"max-request-bytes", "max-body-bytes-in-flight", "max-reviews-in-flight", "max-connections",
		"live-read-qps", "live-read-burst", "max-live-reads-in-flight"} {
		assert.NotNil(t, cmd.Flags().Lookup(name), name)
	}
}

// TestMemoryLimitFollowsTheContainer: GOMEMLIMIT is 90% of the container's
// memory limit, an explicit GOMEMLIMIT wins, and no limit leaves the runtime
// unlimited.
func TestMemoryLimitFollowsTheContainer(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	tests := []struct {
		name       string
		gomemlimit string
		limits     memlimit.Provider
		want       int64
	}{
		{"90% of a 256Mi limit", "", memlimit.Limit(256 << 20), 256 << 20 * 9 / 10},
		{"no container limit", "", func() (uint64, error) { return 0, memlimit.ErrNoLimit }, math.MaxInt64},
		{"an explicit GOMEMLIMIT wins", "100MiB", memlimit.Limit(256 << 20), 100 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			t.Setenv("AUTOMEMLIMIT", "")
			os.Unsetenv("AUTOMEMLIMIT")
			if tc.gomemlimit != "" {
				debug.SetMemoryLimit(tc.want) // what the runtime read from the environment at start-up
			}
			got, err := setMemoryLimit(tc.limits)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want, debug.SetMemoryLimit(-1))
		})
	}
}
