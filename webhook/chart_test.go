package webhook

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/test/golden"
)

// TestChartRulesAreCurrent keeps the chart's generated rules (its webhook
// rules and ClusterRole) equal to what the registry derives;
// UPDATE_GOLDEN=1 rewrites them.
func TestChartRulesAreCurrent(t *testing.T) {
	want, err := Chart()
	require.NoError(t, err)
	path := filepath.Join("..", "charts", "meshgate", ChartRulesFile)
	if os.Getenv(golden.UpdateEnv) != "" {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, want, 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "%s is stale: run `make generate`", path)
}
