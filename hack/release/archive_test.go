package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Unix(1795313893, 0).UTC()

type tarEntry struct {
	Name  string
	Mode  int64
	UID   int
	GID   int
	Uname string
	Time  time.Time
	Data  []byte
}

func readTarGz(t *testing.T, data []byte) []tarEntry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	assert.True(t, gz.ModTime.IsZero() || gz.ModTime.Unix() == 0, "no time in the gzip header")
	assert.Empty(t, gz.Name, "no name in the gzip header")
	tr := tar.NewReader(gz)
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Equal(t, byte(tar.TypeReg), h.Typeflag, "%s is a regular file", h.Name)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, tarEntry{h.Name, h.Mode, h.Uid, h.Gid, h.Uname + h.Gname, h.ModTime.UTC(), b})
	}
	return out
}

// copyTree copies dir to a new temporary directory, every file with a
// different mtime and mode than the original, as another checkout would.
func copyTree(t *testing.T, dir string, mtime time.Time) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(target, data, 0o600))
		return os.Chtimes(target, mtime, mtime)
	}))
	return dst
}

func TestBinaryArchives(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "LICENSE"), []byte("license text\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(root, "README.md"), []byte("# readme\n"), 0o666))
	bin := filepath.Join(t.TempDir(), "meshgate")
	require.NoError(t, os.WriteFile(bin, []byte("\x7fELF binary"), 0o700))
	exe := filepath.Join(t.TempDir(), "meshgate.exe")
	require.NoError(t, os.WriteFile(exe, []byte("MZ binary"), 0o600))

	write := func(t *testing.T, goos, bin string) []byte {
		out := t.TempDir()
		name, err := writeBinaryArchive(Options{Version: "1.2.3", Root: root, Out: out}, goos, "arm64", bin, epoch)
		require.NoError(t, err)
		data, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		return data
	}

	t.Run("tar.gz: binary, LICENSE and README.md with fixed time, owner and modes", func(t *testing.T) {
		first := write(t, "linux", bin)
		got := readTarGz(t, first)
		want := []tarEntry{
			{"meshgate", 0o755, 0, 0, "", epoch, []byte("\x7fELF binary")},
			{"LICENSE", 0o644, 0, 0, "", epoch, []byte("license text\n")},
			{"README.md", 0o644, 0, 0, "", epoch, []byte("# readme\n")},
		}
		assert.Equal(t, want, got)

		// Another checkout: other mtimes and modes on disk, same bytes out.
		later := time.Now().Add(time.Hour)
		for _, p := range []string{filepath.Join(root, "LICENSE"), filepath.Join(root, "README.md"), bin} {
			require.NoError(t, os.Chtimes(p, later, later))
		}
		require.NoError(t, os.Chmod(filepath.Join(root, "LICENSE"), 0o640))
		assert.Equal(t, first, write(t, "linux", bin), "what is on disk besides the contents does not reach the archive")
	})

	t.Run("zip for windows: meshgate.exe, LICENSE and README.md", func(t *testing.T) {
		first := write(t, "windows", exe)
		zr, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
		require.NoError(t, err)
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
			assert.True(t, f.Modified.Equal(epoch), "%s: %s", f.Name, f.Modified)
			assert.Equal(t, zip.Deflate, f.Method)
		}
		assert.Equal(t, []string{"meshgate.exe", "LICENSE", "README.md"}, names)
		assert.Equal(t, fs.FileMode(0o755), zr.File[0].Mode().Perm())
		later := time.Now().Add(2 * time.Hour)
		require.NoError(t, os.Chtimes(exe, later, later))
		assert.Equal(t, first, write(t, "windows", exe))
	})
}

func TestPackageChart(t *testing.T) {
	chartDir := filepath.Join("..", "..", "charts", "meshgate")
	pack := func(t *testing.T, dir string) []byte {
		var buf bytes.Buffer
		require.NoError(t, packageChart(&buf, dir, "9.8.7-rc.1", epoch))
		return buf.Bytes()
	}
	first := pack(t, chartDir)
	entries := readTarGz(t, first)

	// Every file of the chart, under meshgate/, sorted, except what
	// .helmignore leaves out.
	var want []string
	require.NoError(t, filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.IsDir() {
			rel, _ := filepath.Rel(chartDir, p)
			want = append(want, "meshgate/"+filepath.ToSlash(rel))
		}
		return nil
	}))
	var got []string
	for _, e := range entries {
		got = append(got, e.Name)
		assert.Equal(t, int64(0o644), e.Mode, e.Name)
		assert.Equal(t, epoch, e.Time, e.Name)
		assert.Zero(t, e.UID+e.GID, e.Name)
		if e.Name == "meshgate/Chart.yaml" {
			assert.Regexp(t, regexp.MustCompile(`(?m)^version: 9\.8\.7-rc\.1$`), string(e.Data))
			assert.Regexp(t, regexp.MustCompile(`(?m)^appVersion: "9\.8\.7-rc\.1"$`), string(e.Data))
			assert.Contains(t, string(e.Data), "artifacthub.io/license: Apache-2.0")
		}
	}
	assert.ElementsMatch(t, want, got, "every chart file is packaged")
	assert.IsIncreasing(t, got, "entries are sorted")

	t.Run("the same chart from another checkout gives the same bytes", func(t *testing.T) {
		other := copyTree(t, chartDir, time.Now().Add(-48*time.Hour))
		assert.Equal(t, first, pack(t, other))
	})
	t.Run("ignored and hidden template files are left out", func(t *testing.T) {
		other := copyTree(t, chartDir, epoch)
		require.NoError(t, os.WriteFile(filepath.Join(other, "values.yaml.swp"), []byte("x"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(other, "templates", ".scratch.yaml"), []byte("x"), 0o644))
		assert.Equal(t, first, pack(t, other))
	})
}

func TestHelmignore(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ".helmignore")
	require.NoError(t, os.WriteFile(p, []byte("# comment\n\n*.swp\n.git/\ndocs/draft.md\n/ci\n"), 0o644))
	ignore, err := readHelmignore(p)
	require.NoError(t, err)
	tests := []struct {
		name string
		rel  string
		dir  bool
		want bool
	}{
		{"a name pattern matches at any depth", "templates/x.yaml.swp", false, true},
		{"a name pattern does not match other names", "templates/x.yaml", false, false},
		{"a directory pattern matches the directory", ".git", true, true},
		{"a directory pattern does not match a file of that name", ".git", false, false},
		{"a path pattern matches from the root", "docs/draft.md", false, true},
		{"a path pattern does not match deeper", "sub/docs/draft.md", false, false},
		{"a leading / anchors at the root", "ci", true, true},
		{"hidden files under templates/ are never packaged", "templates/.keep", false, true},
		{"values.yaml stays", "values.yaml", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ignore(tt.rel, tt.dir))
		})
	}

	require.NoError(t, os.WriteFile(p, []byte("!keep.yaml\n"), 0o644))
	_, err = readHelmignore(p)
	assert.ErrorContains(t, err, "negated pattern", "unsupported patterns are refused, not ignored")
	_, err = readHelmignore(filepath.Join(dir, "missing"))
	assert.NoError(t, err, "a chart without .helmignore packages everything")
}

func TestSetChartVersion(t *testing.T) {
	name, out, err := setChartVersion([]byte("apiVersion: v2\nname: meshgate\n# the chart\nversion: 0.1.0\nappVersion: \"0.1.0\"\nannotations:\n  version: keep\n"), "1.0.0")
	require.NoError(t, err)
	assert.Equal(t, "meshgate", name)
	assert.Equal(t, "apiVersion: v2\nname: meshgate\n# the chart\nversion: 1.0.0\nappVersion: \"1.0.0\"\nannotations:\n  version: keep\n", string(out), "only the top-level lines change")

	for input, want := range map[string]string{
		"version: 1\nappVersion: 1\n":                      "no top-level name",
		"name: x\nappVersion: 1\n":                         "0 lines",
		"name: x\nversion: 1\nversion: 2\nappVersion: 1\n": "2 lines",
	} {
		_, _, err := setChartVersion([]byte(input), "1.0.0")
		assert.ErrorContains(t, err, want, input)
	}
}

// TestLicenseFieldsFollowLICENSE: the image's and the chart's license fields
// name the license in LICENSE.
func TestLicenseFieldsFollowLICENSE(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		require.NoError(t, err)
		return string(b)
	}
	license := read("LICENSE")
	require.Contains(t, license, "Apache License\n                           Version 2.0, January 2004")
	require.Contains(t, license, "END OF TERMS AND CONDITIONS", "the full text")
	assert.Contains(t, read("hack/image/build.sh"), `-label "org.opencontainers.image.licenses=Apache-2.0"`)
	assert.Contains(t, read("Dockerfile"), `org.opencontainers.image.licenses="Apache-2.0"`)
	assert.Contains(t, read("charts/meshgate/Chart.yaml"), "\nannotations:\n  artifacthub.io/license: Apache-2.0\n")
}

// TestDockerfileUsesThePinnedToolchain: the Dockerfile builds with the Go
// release make release pins.
func TestDockerfileUsesThePinnedToolchain(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "ARG GO_VERSION="+strings.TrimPrefix(Toolchain, "go")+"\n")
}
