package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildMeshgate compiles cmd/meshgate as the image build does (static,
// trimmed, stamped) for this machine's architecture.
func buildMeshgate(t *testing.T, version, commit string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "meshgate")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+version+" -X main.commit="+commit,
		"-o", out, "./cmd/meshgate")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	return out
}

// readLayout extracts an OCI image-layout tarball and opens its index.
func readLayout(t *testing.T, tarPath string) (layout.Path, v1.ImageIndex) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(tarPath)
	require.NoError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	lp, err := layout.FromPath(dir)
	require.NoError(t, err)
	top, err := lp.ImageIndex()
	require.NoError(t, err)
	im, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1, "index.json names one image index")
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	require.NoError(t, err)
	return lp, idx
}

// rootfs lists an image's files (name -> content) from its layers.
func rootfs(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			files[strings.TrimSuffix(h.Name, "/")] = data
		}
		require.NoError(t, rc.Close())
	}
	return files
}

// checkImage asserts what every meshgate image must be: each wanted
// platform, the nonroot user, the entrypoint, no shell or package manager,
// and a binary that runs and reports the version and commit its labels name.
func checkImage(t *testing.T, tarPath string, platforms []string) {
	_, idx := readLayout(t, tarPath)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	var got []string
	for _, m := range im.Manifests {
		require.NotNil(t, m.Platform)
		plat := m.Platform.OS + "/" + m.Platform.Architecture
		got = append(got, plat)
		t.Run(plat, func(t *testing.T) {
			img, err := idx.Image(m.Digest)
			require.NoError(t, err)
			cf, err := img.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, m.Platform.Architecture, cf.Architecture)
			assert.Equal(t, "65532:65532", cf.Config.User, "runs as the nonroot user")
			assert.Equal(t, []string{"/meshgate"}, cf.Config.Entrypoint)
			for _, l := range []string{"org.opencontainers.image.source", "org.opencontainers.image.version", "org.opencontainers.image.licenses", "org.opencontainers.image.revision"} {
				assert.NotEmpty(t, cf.Config.Labels[l], "label %s", l)
			}
			assert.Equal(t, "Apache-2.0", cf.Config.Labels["org.opencontainers.image.licenses"], "the license label follows LICENSE")
			files := rootfs(t, img)
			for name := range files {
				base := path.Base(name)
				for _, bad := range []string{"sh", "bash", "ash", "dash", "busybox", "apt", "apt-get", "dpkg", "apk"} {
					assert.NotEqual(t, bad, base, "no shell or package manager: %s", name)
				}
			}
			assert.Contains(t, string(files["etc/passwd"]), "nonroot:x:65532:65532:")
			bin, ok := files["meshgate"]
			require.True(t, ok, "the binary is /meshgate")
			if m.Platform.Architecture != runtime.GOARCH {
				return
			}
			exe := filepath.Join(t.TempDir(), "meshgate")
			require.NoError(t, os.WriteFile(exe, bin, 0o755))
			out, err := exec.Command(exe, "version").CombinedOutput()
			require.NoError(t, err, "%s", out)
			want := cf.Config.Labels["org.opencontainers.image.version"] + " (commit " + cf.Config.Labels["org.opencontainers.image.revision"] + ")"
			assert.Equal(t, want, strings.TrimSpace(string(out)), "version and commit stamped by ldflags match the labels")
		})
	}
	assert.ElementsMatch(t, platforms, got)
}

func TestBuildIsReproducibleAndSound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds meshgate")
	}
	bin := buildMeshgate(t, "1.2.3-test", "abc1234")
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	opts := func(out string) Options {
		return Options{
			Ref: "example.test/meshgate:1.2.3-test",
			// The second platform reuses this machine's binary: its
			// contents do not matter to the layout, only that it is listed.
			Binaries:   []Binary{{OS: "linux", Arch: runtime.GOARCH, Path: bin}, {OS: "linux", Arch: other, Path: bin}},
			Path:       "/meshgate",
			Entrypoint: []string{"/meshgate"},
			User:       "65532:65532",
			Labels: map[string]string{
				"org.opencontainers.image.source":   "https://github.com/meshgate/meshgate",
				"org.opencontainers.image.version":  "1.2.3-test",
				"org.opencontainers.image.revision": "abc1234",
				"org.opencontainers.image.licenses": "Apache-2.0",
			},
			Created: time.Unix(1700000000, 0).UTC(),
			Out:     out,
		}
	}
	dir := t.TempDir()
	d1, err := Build(opts(filepath.Join(dir, "a.tar")))
	require.NoError(t, err)
	d2, err := Build(opts(filepath.Join(dir, "b.tar")))
	require.NoError(t, err)
	assert.Equal(t, d1, d2, "same inputs, same index digest")
	a, err := os.ReadFile(filepath.Join(dir, "a.tar"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "b.tar"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(a, b), "same inputs, byte-identical tarball")

	later := opts(filepath.Join(dir, "c.tar"))
	later.Created = later.Created.Add(time.Second)
	d3, err := Build(later)
	require.NoError(t, err)
	assert.NotEqual(t, d1, d3, "the creation time is part of the digest")

	_, idx := readLayout(t, filepath.Join(dir, "a.tar"))
	got, err := idx.Digest()
	require.NoError(t, err)
	assert.Equal(t, d1, got.String(), "the printed digest is the index in the tarball")
	checkImage(t, filepath.Join(dir, "a.tar"), []string{"linux/" + runtime.GOARCH, "linux/" + other})
}

// TestReleaseImage checks the tarball make image wrote (MESHGATE_IMAGE_TAR).
func TestReleaseImage(t *testing.T) {
	tarPath := os.Getenv("MESHGATE_IMAGE_TAR")
	if tarPath == "" {
		t.Skip("MESHGATE_IMAGE_TAR not set (make image-test sets it)")
	}
	checkImage(t, tarPath, []string{"linux/amd64", "linux/arm64"})
}
