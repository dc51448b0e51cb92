package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Binary is the static executable of one platform.
type Binary struct {
	OS, Arch string
	// Path is the file on this machine.
	Path string
}

// Options describe the image index to build.
type Options struct {
	// Ref names the image in the tarball (repository:tag).
	Ref string
	// Binaries holds one binary per platform; the index lists them in this order.
	Binaries []Binary
	// Path is where the binary goes inside the image (absolute).
	Path       string
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	// Labels go into each image's config and onto the index as annotations.
	Labels map[string]string
	// Created is every timestamp in the image (config, history, tar entries).
	Created time.Time
	// Out is the OCI image-layout tarball written.
	Out string
}

// The nonroot user and group, as distroless images name them.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// Build writes the image index as an OCI image-layout tarball at o.Out and
// returns the index digest.
func Build(o Options) (string, error) {
	if o.Ref == "" || o.Out == "" || !path.IsAbs(o.Path) || len(o.Binaries) == 0 {
		return "", errors.New("need -ref, -out, an absolute -path and at least one -binary")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range o.Binaries {
		img, err := platformImage(o, b)
		if err != nil {
			return "", fmt.Errorf("image for %s/%s: %w", b.OS, b.Arch, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: b.OS, Architecture: b.Arch}},
		})
	}
	if len(o.Labels) > 0 {
		idx = mutate.Annotations(idx, o.Labels).(v1.ImageIndex)
	}
	digest, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("index digest: %w", err)
	}
	if err := writeLayoutTar(idx, o); err != nil {
		return "", err
	}
	return digest.String(), nil
}

// platformImage is the one-layer image of one platform's binary.
func platformImage(o Options, b Binary) (v1.Image, error) {
	bin, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	layerTar, err := rootfsTar(o.Created, map[string]file{
		"etc/passwd":                    {data: []byte(passwd), mode: 0o644},
		"etc/group":                     {data: []byte(group), mode: 0o644},
		strings.TrimPrefix(o.Path, "/"): {data: bin, mode: 0o755},
	})
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: o.Created},
			CreatedBy: "hack/image: " + strings.TrimPrefix(o.Path, "/") + ", /etc/passwd, /etc/group",
			Comment:   "static binary, nonroot user 65532",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = b.OS, b.Arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config.User = o.User
	cf.Config.Entrypoint = o.Entrypoint
	cf.Config.Cmd = o.Cmd
	cf.Config.Env = o.Env
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = o.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

type file struct {
	data []byte
	mode int64
}

// rootfsTar is a tar of files (and their parent directories) with sorted
// entries, root ownership and every time set to created.
func rootfsTar(created time.Time, files map[string]file) ([]byte, error) {
	dirs := map[string]bool{}
	for name := range files {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(files)+len(dirs))
	for d := range dirs {
		names = append(names, d+"/")
	}
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := &tar.Header{Name: n, ModTime: created, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			f := files[n]
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, f.mode, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", n, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(files[n].data); err != nil {
				return nil, fmt.Errorf("tar %s: %w", n, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// writeLayoutTar writes idx as an OCI image layout (index.json naming o.Ref
// for containerd and by tag for OCI tools) and tars it reproducibly into o.Out.
func writeLayoutTar(idx v1.ImageIndex, o Options) error {
	dir, err := os.MkdirTemp("", "image-layout-")
	if err != nil {
		return fmt.Errorf("layout dir: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("layout: %w", err)
	}
	tag := o.Ref
	if i := strings.LastIndex(o.Ref, ":"); i > strings.LastIndex(o.Ref, "/") {
		tag = o.Ref[i+1:]
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          o.Ref,
		"org.opencontainers.image.ref.name": tag,
	})); err != nil {
		return fmt.Errorf("layout index: %w", err)
	}
	var files []string
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			files = append(files, p)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("walk layout: %w", err)
	}
	sort.Strings(files)
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return fmt.Errorf("output dir: %w", err)
	}
	tmp := o.Out + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(out)
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("stat %s: %w", rel, err)
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: o.Created, Mode: 0o644, Format: tar.FormatPAX}
		if st.IsDir() {
			h.Name += "/"
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, st.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", rel, err)
		}
		if !st.IsDir() {
			data, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("read %s: %w", rel, err)
			}
			if _, err := tw.Write(data); err != nil {
				return fmt.Errorf("tar %s: %w", rel, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close tar: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	return os.Rename(tmp, o.Out)
}
