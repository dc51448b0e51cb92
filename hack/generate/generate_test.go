package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chartDir is charts/meshgate in the repository.
var chartDir = filepath.Join("..", "..", "charts", "meshgate")

// TestChartGeneratedFilesAreCurrent: the chart's generated/ directory holds
// exactly what this program writes.
func TestChartGeneratedFilesAreCurrent(t *testing.T) {
	files, err := Files()
	require.NoError(t, err)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(chartDir, filepath.FromSlash(name)))
		require.NoError(t, err, "run `make generate`")
		assert.Equal(t, string(want), string(got), "%s is stale: run `make generate`", name)
	}
	entries, err := os.ReadDir(filepath.Join(chartDir, generatedDir))
	require.NoError(t, err)
	for _, e := range entries {
		_, ok := files[generatedDir+"/"+e.Name()]
		assert.True(t, ok, "%s/%s is not generated any more: run `make generate`", generatedDir, e.Name())
	}
}

// TestWriteReplacesTheGeneratedDirectory: the program writes every file and
// removes what it no longer generates.
func TestWriteReplacesTheGeneratedDirectory(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, generatedDir, "native-policies.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o755))
	require.NoError(t, os.WriteFile(stale, []byte("old"), 0o644))
	require.NoError(t, write(dir))
	files, err := Files()
	require.NoError(t, err)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), name)
	}
	assert.NoFileExists(t, stale)
}

// TestWriteExplainRewritesTheCoverageTable: make generate keeps
// docs/in-tree.md's table current, leaving the rest of the page alone.
func TestWriteExplainRewritesTheCoverageTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in-tree.md")
	require.NoError(t, os.WriteFile(path, []byte("# page\n\n<!-- explain -->\n```text\nstale\n```\n\nafter\n"), 0o644))
	require.NoError(t, writeExplain(path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(got), "# page\n\n<!-- explain -->\n```text\nRULE ")
	assert.NotContains(t, string(got), "stale")
	assert.Contains(t, string(got), "```\n\nafter\n")
}
