package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadgenRuns runs every variant with a few reviews, so that the load
// generator cannot rot: each one's reviews are answered as expected and
// reported.
func TestLoadgenRuns(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(config{requests: 10, maxSeconds: 5, concurrency: 2, rounds: 1}, &out))
	for _, v := range variants {
		assert.Contains(t, out.String(), v.name)
	}
}

func TestLoadgenLoadsOnlyLoopbackTargets(t *testing.T) {
	tests := []struct {
		name   string
		target string
		ok     bool
	}{
		{"an IPv4 loopback address", "https://127.0.0.1:9443/mutate", true},
		{"localhost", "https://localhost:9443/mutate", true},
		{"an IPv6 loopback address", "https://[::1]:9443/mutate", true},
		{"another host", "https://10.0.0.1:9443/mutate", false},
		{"plain HTTP", "http://127.0.0.1:9443/mutate", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loopbackOnly(tt.target)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
