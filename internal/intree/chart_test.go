package intree_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/test/golden"
)

// TestChartInTreePoliciesAreCurrent keeps the chart's generated policies
// equal to what the registry derives; UPDATE_GOLDEN=1 (`make generate`)
// rewrites them.
func TestChartInTreePoliciesAreCurrent(t *testing.T) {
	want, err := intree.Chart()
	require.NoError(t, err)
	path := filepath.Join("..", "..", "charts", "meshgate", intree.ChartFile)
	if os.Getenv(golden.UpdateEnv) != "" {
		require.NoError(t, os.WriteFile(path, want, 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "%s is stale: run `make generate`", path)
}
