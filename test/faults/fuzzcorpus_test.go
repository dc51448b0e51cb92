package faults

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/test/e2e/cluster"
)

var fuzzTarget = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)

// goPackages returns, for every directory of the module that holds Go test
// files, the fuzz targets declared there (possibly none).
func goPackages(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	pkgs := map[string]map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "dist", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		if pkgs[dir] == nil {
			pkgs[dir] = map[string]bool{}
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzTarget.FindAllSubmatch(src, -1) {
			pkgs[dir][string(m[1])] = true
		}
		return nil
	})
	require.NoError(t, err)
	return pkgs
}

// TestFuzzCorporaAreKept guards the regression cases of the fuzz targets:
// `go test -fuzz` writes a failing input to testdata/fuzz/<Target>/ in the
// target's package, and plain `go test` replays every file there (with the
// f.Add seeds). So no package's testdata/fuzz/ may be git-ignored (a crasher
// would be lost instead of committed), and every corpus directory must belong
// to a fuzz target that still exists (else it is silently never run).
func TestFuzzCorporaAreKept(t *testing.T) {
	root := cluster.RepoRoot()
	pkgs := goPackages(t, root)
	require.NotEmpty(t, pkgs)

	t.Run("no package's fuzz corpus is git-ignored", func(t *testing.T) {
		if _, err := exec.LookPath("git"); err != nil {
			t.Skip("no git")
		}
		if err := exec.Command("git", "-C", root, "rev-parse", "--git-dir").Run(); err != nil {
			t.Skip("not a git checkout")
		}
		for dir := range pkgs {
			probe := filepath.Join(dir, "testdata", "fuzz", "FuzzAnything", "0123abcd")
			out, err := exec.Command("git", "-C", root, "check-ignore", "-v", "--no-index", probe).CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == 1 {
				continue // not ignored
			}
			assert.Failf(t, "fuzz corpus ignored", "%s would not be committed: %s (err %v)", probe, strings.TrimSpace(string(out)), err)
		}
	})

	t.Run("every corpus directory belongs to an existing fuzz target", func(t *testing.T) {
		targets := 0
		for dir, fuzz := range pkgs {
			targets += len(fuzz)
			entries, err := os.ReadDir(filepath.Join(root, dir, "testdata", "fuzz"))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			require.NoError(t, err)
			for _, e := range entries {
				assert.True(t, e.IsDir() && fuzz[e.Name()], "%s/testdata/fuzz/%s has no fuzz target %s in its package: its inputs never run", dir, e.Name(), e.Name())
			}
		}
		assert.Positive(t, targets, "the module has fuzz targets")
		t.Logf("%d packages with tests, %d fuzz targets", len(pkgs), targets)
	})
}
