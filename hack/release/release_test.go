package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cycloneDXVersion is the cyclonedx-gomod the Makefile pins.
const cycloneDXVersion = "v1.10.0"

// cycloneDX finds cyclonedx-gomod where make release installs it
// (MESHGATE_CYCLONEDX_GOMOD overrides), installing it from the Go module
// proxy when it is missing, as make does.
func cycloneDX(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MESHGATE_CYCLONEDX_GOMOD"); p != "" {
		return p
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	require.Contains(t, string(mk), "CYCLONEDX_GOMOD_VERSION := "+cycloneDXVersion, "the test uses the Makefile's version")
	dir := filepath.Join(root, "bin", "tools", "cyclonedx-gomod-"+cycloneDXVersion)
	p := filepath.Join(dir, "cyclonedx-gomod")
	if _, err := os.Stat(p); err != nil {
		cmd := exec.Command("go", "install", "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@"+cycloneDXVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "install cyclonedx-gomod: %s", out)
	}
	return p
}

func TestVersionIsChecked(t *testing.T) {
	for _, v := range []string{"", "v0.1.0", "0.1", "0.1.0.1", "01.2.3", "0.1.0-", "0.1.0+build"} {
		_, err := Release(context.Background(), Options{Version: v, Out: t.TempDir()})
		assert.ErrorContains(t, err, "want x.y.z", "%q", v)
	}
	_, err := Release(context.Background(), Options{Version: "0.1.0", Out: t.TempDir(), Targets: []string{"plan9/386"}})
	assert.ErrorContains(t, err, `target "plan9/386"`)
}

// TestReleaseIsReproducible runs the release twice from this commit, into two
// directories with two work directories, and wants the same SHA256SUMS. It
// builds fewer targets than make release (MESHGATE_RELEASE_TARGETS, default
// linux/amd64 and windows/arm64: both archive formats, the SBOM) and no image:
// hack/image's own test shows the same binaries give the same image.
func TestReleaseIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles meshgate twice per target")
	}
	targets := []string{"linux/amd64", "windows/arm64"}
	if env := os.Getenv("MESHGATE_RELEASE_TARGETS"); env != "" {
		targets = strings.Split(env, ",")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	const version = "0.0.0-repro.1"
	run := func(name string) (string, []string) {
		out := filepath.Join(t.TempDir(), name)
		files, err := Release(context.Background(), Options{
			Version: version, Out: out, Work: t.TempDir(), Root: root,
			Targets: targets, Chart: true, CycloneDX: cycloneDX(t), Log: testWriter{t},
		})
		require.NoError(t, err)
		return out, files
	}
	a, filesA := run("a")
	b, filesB := run("b")
	assert.Equal(t, filesA, filesB)
	sumsA, err := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	require.NoError(t, err)
	sumsB, err := os.ReadFile(filepath.Join(b, "SHA256SUMS"))
	require.NoError(t, err)
	assert.Equal(t, string(sumsA), string(sumsB), "two runs from the same commit give the same release")

	// SHA256SUMS names every file, with its hash, in sha256sum's format.
	lines := strings.Split(strings.TrimSuffix(string(sumsA), "\n"), "\n")
	require.Len(t, lines, len(filesA)-1)
	for i, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		require.True(t, ok, line)
		assert.Equal(t, filesA[i], name)
		data, err := os.ReadFile(filepath.Join(a, name))
		require.NoError(t, err)
		h := sha256.Sum256(data)
		assert.Equal(t, hex.EncodeToString(h[:]), sum, name)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
		cmd.Dir = a
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "sha256sum --check: %s", out)
	}

	wantFiles := []string{"SHA256SUMS", "meshgate-" + version + ".tgz"}
	for _, tg := range targets {
		goos, goarch, _ := strings.Cut(tg, "/")
		ext := ".tar.gz"
		if goos == "windows" {
			ext = ".zip"
		}
		wantFiles = append(wantFiles, "meshgate_"+version+"_"+goos+"_"+goarch+ext)
	}
	wantFiles = append(wantFiles, "meshgate_"+version+"_linux_amd64.sbom.cdx.json")
	assert.ElementsMatch(t, wantFiles, filesA)

	t.Run("the linux binary is static and reports the version and commit", func(t *testing.T) {
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			t.Skip("runs the linux/amd64 binary")
		}
		data, err := os.ReadFile(filepath.Join(a, "meshgate_"+version+"_linux_amd64.tar.gz"))
		require.NoError(t, err)
		entries := readTarGz(t, data)
		require.Len(t, entries, 3)
		exe := filepath.Join(t.TempDir(), "meshgate")
		require.NoError(t, os.WriteFile(exe, entries[0].Data, 0o755))
		out, err := exec.Command(exe, "version").CombinedOutput()
		require.NoError(t, err, "%s", out)
		commit, _, err := commitInfo(root)
		require.NoError(t, err)
		assert.Equal(t, version+" (commit "+commit+")", strings.TrimSpace(string(out)))
		info, err := exec.Command("go", "version", "-m", exe).CombinedOutput()
		require.NoError(t, err, "%s", info)
		assert.Contains(t, string(info), "CGO_ENABLED=0")
		assert.Contains(t, string(info), "-trimpath=true")
		assert.Contains(t, string(info), Toolchain, "built with the pinned toolchain")
	})

	t.Run("the windows archive holds meshgate.exe", func(t *testing.T) {
		for _, f := range filesA {
			if !strings.HasSuffix(f, ".zip") {
				continue
			}
			zr, err := zip.OpenReader(filepath.Join(a, f))
			require.NoError(t, err)
			assert.Equal(t, "meshgate.exe", zr.File[0].Name)
			rc, err := zr.File[0].Open()
			require.NoError(t, err)
			head := make([]byte, 2)
			_, err = rc.Read(head)
			require.NoError(t, err)
			assert.Equal(t, "MZ", string(head), "a Windows executable")
			rc.Close()
			zr.Close()
		}
	})

	t.Run("the SBOM is CycloneDX JSON of the binary, without serial number or timestamp", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(a, "meshgate_"+version+"_linux_amd64.sbom.cdx.json"))
		require.NoError(t, err)
		var bom struct {
			BOMFormat    string `json:"bomFormat"`
			SerialNumber string `json:"serialNumber"`
			Metadata     struct {
				Timestamp string `json:"timestamp"`
				Component struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"component"`
			} `json:"metadata"`
			Components []struct {
				Name string `json:"name"`
			} `json:"components"`
		}
		require.NoError(t, json.Unmarshal(data, &bom))
		assert.Equal(t, "CycloneDX", bom.BOMFormat)
		assert.Empty(t, bom.SerialNumber)
		assert.Empty(t, bom.Metadata.Timestamp)
		assert.Equal(t, "github.com/meshgate/meshgate", bom.Metadata.Component.Name)
		assert.Equal(t, "v"+version, bom.Metadata.Component.Version)
		var names []string
		for _, c := range bom.Components {
			names = append(names, c.Name)
		}
		assert.Contains(t, names, "github.com/spf13/cobra", "the binary's modules are listed")
		assert.NotContains(t, string(data), os.TempDir(), "no work directory in the SBOM")
	})

	t.Run("the chart carries the release's version", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(a, "meshgate-"+version+".tgz"))
		require.NoError(t, err)
		for _, e := range readTarGz(t, data) {
			if e.Name == "meshgate/Chart.yaml" {
				assert.Contains(t, string(e.Data), "\nversion: "+version+"\n")
				assert.Contains(t, string(e.Data), "\nappVersion: \""+version+"\"\n")
				return
			}
		}
		t.Fatal("no meshgate/Chart.yaml")
	})
}

// testWriter sends progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
