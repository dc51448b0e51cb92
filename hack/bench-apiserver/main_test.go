package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchAPIServerRuns runs the benchmark with two creates per kind and
// registration, so that it cannot rot: every create succeeds, meshgate
// receives the Emissary pods' requests only while it is registered, and the
// report shows every kind and registration.
func TestBenchAPIServerRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	var out bytes.Buffer
	res, err := run(config{creates: 2, clients: 1, rounds: 1, maxSeconds: 300}, &out)
	require.NoError(t, err, out.String())
	for _, kd := range kinds {
		for _, reg := range registrations {
			s := res[kd.name][reg]
			require.NotNil(t, s, "%s, %s", kd.name, reg)
			assert.Len(t, s.lat, 2, "%s, %s", kd.name, reg)
			if reg != regMeshgate {
				assert.Zero(t, s.received[pathAny], "%s, %s: meshgate is not registered", kd.name, reg)
			}
			assert.Contains(t, out.String(), kd.name)
		}
	}
	emissary := res["Emissary pod"][regMeshgate].received
	assert.Equal(t, 2.0, emissary[pathMutate], "each Emissary pod reaches meshgate's mutating webhook")
	assert.Equal(t, 2.0, emissary[pathValidate], "and its validating webhook")
}
