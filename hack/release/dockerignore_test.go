package main

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerignored reports whether rel (slash-separated, relative to the build
// context) is excluded by patterns, as Docker reads .dockerignore: a path is
// out when it or a parent directory matches, ** matches any number of path
// elements. The file has no ! exceptions (the test refuses them).
func dockerignored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	for _, p := range patterns {
		for i := 1; i <= len(parts); i++ {
			if matchElems(strings.Split(p, "/"), parts[:i]) {
				return true
			}
		}
	}
	return false
}

func matchElems(pat, elems []string) bool {
	if len(pat) == 0 {
		return len(elems) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(elems); i++ {
			if matchElems(pat[1:], elems[i:]) {
				return true
			}
		}
		return false
	}
	if len(elems) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], elems[0])
	return ok && matchElems(pat[1:], elems[1:])
}

func TestDockerignoreKeepsWhatTheImageBuildNeeds(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	defer f.Close()
	var patterns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		require.False(t, strings.HasPrefix(line, "!"), "no exceptions: %s", line)
		patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/"))
	}
	require.NoError(t, sc.Err())

	for _, out := range []string{".git/HEAD", "bin/meshgate", "dist/SHA256SUMS", "test/golden/testdata/x/input.yaml", "internal/check/testdata/cli/clean/ok.yaml", "internal/check/check_test.go", "charts/meshgate/Chart.yaml"} {
		assert.True(t, dockerignored(patterns, out), "%s stays out of the build context", out)
	}

	// Every file the build of cmd/meshgate reads is in the context.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}{{end}}{{end}}`, "./cmd/meshgate")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(t, err)
	need := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		parts := strings.Split(line, "|")
		dir, err := filepath.Rel(root, parts[0])
		require.NoError(t, err)
		for _, list := range parts[1:] {
			for _, name := range strings.Split(list, ",") {
				if name != "" {
					need = append(need, filepath.ToSlash(filepath.Join(dir, name)))
				}
			}
		}
	}
	require.Greater(t, len(need), 20)
	for _, n := range need {
		assert.False(t, dockerignored(patterns, n), "the image build needs %s", n)
	}
}
