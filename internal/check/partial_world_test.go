package check

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/policy"
)

// TestAbsenceFromFilesIsNoDenial: manifests that hold an unrelated TLSContext
// but not the Istio one cannot prove it absent, so a Mapping naming it is a
// warning (exit 0); reading the cluster (--kubeconfig), which lists every
// TLSContext and has none of that name, proves it and the Mapping is denied.
func TestAbsenceFromFilesIsNoDenial(t *testing.T) {
	files := []string{"../../test/golden/testdata/mapping-tlscontext-partial-world/input.yaml"}

	offline := runCheck(t, Options{Files: files, Format: FormatJSON})
	require.NoError(t, offline.err)
	assert.Equal(t, ExitOK, offline.code)
	rep := decodeJSON(t, offline.stdout)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, policy.MappingTLSContext, rep.Findings[0].Rule)
	assert.Equal(t, policy.Warn, rep.Findings[0].Mode)

	dyn, mapper := fakeCluster(t) // TLSContexts are served; the cluster has none
	live := runCheck(t, Options{Files: files, Format: FormatJSON, cluster: func(ctx context.Context) (*ClusterWorld, error) {
		return readCluster(ctx, dyn, mapper)
	}})
	require.NoError(t, live.err)
	assert.Equal(t, ExitEnforce, live.code)
	rep = decodeJSON(t, live.stdout)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, policy.Enforce, rep.Findings[0].Mode)
	assert.Contains(t, rep.Findings[0].Message, `TLSContext "istio-upstream" does not exist in any namespace`)
}
