package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Toolchain is the Go toolchain releases are built with. Pinning it is what
// makes a release reproducible on another machine: the same source built by
// another compiler gives other bytes. The Dockerfile's GO_VERSION follows it
// (a test checks).
const Toolchain = "go1.26.8"

// DefaultTargets are the platforms of the CLI binaries.
var DefaultTargets = []string{
	"linux/amd64", "linux/arm64",
	"darwin/amd64", "darwin/arm64",
	"windows/amd64", "windows/arm64",
}

// Options configure one release.
type Options struct {
	// Version is x.y.z (optionally -prerelease), without a leading v.
	Version string
	// Out is the directory the release is written to (created).
	Out string
	// Work holds the built binaries ("" = <root>/bin/release/<version>).
	Work string
	// Root is the repository ("" = found from the working directory).
	Root string
	// Targets are OS/ARCH pairs ("" = DefaultTargets).
	Targets []string
	// Image builds the image tarball with hack/image/build.sh from the
	// linux/amd64 and linux/arm64 binaries.
	Image bool
	// Chart packages charts/meshgate.
	Chart bool
	// CycloneDX is the cyclonedx-gomod binary; the SBOM is written when
	// linux/amd64 is among the targets.
	CycloneDX string
	// Toolchain is the GOTOOLCHAIN the binaries are built with.
	Toolchain string
	// Log receives progress.
	Log io.Writer
}

var semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// Release builds the release into o.Out and returns the names of the files it
// wrote there, SHA256SUMS last.
func Release(ctx context.Context, o Options) ([]string, error) {
	if !semverRE.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q: want x.y.z (semantic version, no leading v)", o.Version)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Toolchain == "" {
		o.Toolchain = Toolchain
	}
	if len(o.Targets) == 0 {
		o.Targets = DefaultTargets
	}
	for _, t := range o.Targets {
		if !slices.Contains(DefaultTargets, t) {
			return nil, fmt.Errorf("target %q: want one of %s", t, strings.Join(DefaultTargets, ", "))
		}
	}
	if o.Root == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		o.Root = root
	}
	if o.Work == "" {
		o.Work = filepath.Join(o.Root, "bin", "release", o.Version)
	}
	// The tools run in other directories: make every path absolute.
	for _, p := range []*string{&o.Out, &o.Work, &o.CycloneDX} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	commit, epoch, err := commitInfo(o.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(o.Log, "[release %5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	var files []string
	bins := map[string]string{}
	for _, t := range o.Targets {
		goos, goarch, _ := strings.Cut(t, "/")
		logf("building meshgate %s (%s) for %s with %s", o.Version, commit, t, o.Toolchain)
		bin, err := buildBinary(ctx, o, goos, goarch, commit)
		if err != nil {
			return nil, err
		}
		bins[t] = bin
		name, err := writeBinaryArchive(o, goos, goarch, bin, epoch)
		if err != nil {
			return nil, err
		}
		files = append(files, name)
	}

	if o.Chart {
		name := "meshgate-" + o.Version + ".tgz"
		logf("packaging the chart as %s", name)
		if err := packageChartFile(filepath.Join(o.Root, "charts", "meshgate"), filepath.Join(o.Out, name), o.Version, epoch); err != nil {
			return nil, err
		}
		files = append(files, name)
	}

	if bin, ok := bins["linux/amd64"]; ok {
		if o.CycloneDX == "" {
			return nil, errors.New("the SBOM needs -cyclonedx-gomod (make release installs it)")
		}
		name := fmt.Sprintf("meshgate_%s_linux_amd64.sbom.cdx.json", o.Version)
		logf("writing the SBOM of the linux/amd64 binary as %s", name)
		if err := writeSBOM(ctx, o, bin, filepath.Join(o.Out, name)); err != nil {
			return nil, err
		}
		files = append(files, name)
	}

	if o.Image {
		name := "meshgate-" + o.Version + ".oci.tar"
		logf("building the image %s from the linux binaries", name)
		if err := buildImage(ctx, o, bins, commit, epoch, filepath.Join(o.Out, name)); err != nil {
			return nil, err
		}
		files = append(files, name)
	}

	slices.Sort(files)
	if err := writeSums(o.Out, files); err != nil {
		return nil, err
	}
	logf("wrote %d files and SHA256SUMS into %s", len(files), o.Out)
	return append(files, "SHA256SUMS"), nil
}

// repoRoot is the repository holding the working directory.
func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// commitInfo is the commit (12 hex digits, -dirty when tracked files changed,
// as make image records it) and the time every archive entry gets:
// SOURCE_DATE_EPOCH when set, else the commit time.
func commitInfo(root string) (string, time.Time, error) {
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	commit, err := git("rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "", time.Time{}, err
	}
	status, err := git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!dist", ":!bin")
	if err != nil {
		return "", time.Time{}, err
	}
	if status != "" {
		commit += "-dirty"
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = git("log", "-1", "--format=%ct", "HEAD"); err != nil {
			return "", time.Time{}, err
		}
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("commit time %q: %w", epoch, err)
	}
	return commit, time.Unix(secs, 0).UTC(), nil
}

// goEnv is the environment of every go command: the pinned toolchain, no
// workspace, no cgo, nothing from the caller's GOFLAGS.
func goEnv(o Options, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOTOOLCHAIN", "GOWORK", "GOFLAGS", "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64":
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "GOTOOLCHAIN="+o.Toolchain, "GOWORK=off", "CGO_ENABLED=0"), extra...)
}

func buildBinary(ctx context.Context, o Options, goos, goarch, commit string) (string, error) {
	exe := "meshgate"
	if goos == "windows" {
		exe += ".exe"
	}
	out := filepath.Join(o.Work, goos+"_"+goarch, exe)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-mod=readonly",
		"-ldflags", "-s -w -buildid= -X main.version="+o.Version+" -X main.commit="+commit,
		"-o", out, "./cmd/meshgate")
	cmd.Dir = o.Root
	cmd.Env = goEnv(o, "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s/%s: %w\n%s", goos, goarch, err, b)
	}
	return out, nil
}

// writeBinaryArchive writes meshgate_<version>_<os>_<arch>.tar.gz (.zip for
// windows) with the binary, LICENSE and README.md.
func writeBinaryArchive(o Options, goos, goarch, bin string, epoch time.Time) (string, error) {
	var entries []entry
	for _, f := range []struct {
		name, path string
		mode       int64
	}{
		{filepath.Base(bin), bin, 0o755},
		{"LICENSE", filepath.Join(o.Root, "LICENSE"), 0o644},
		{"README.md", filepath.Join(o.Root, "README.md"), 0o644},
	} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return "", fmt.Errorf("archive %s/%s: %w", goos, goarch, err)
		}
		entries = append(entries, entry{Name: f.name, Mode: f.mode, Data: data})
	}
	name := fmt.Sprintf("meshgate_%s_%s_%s", o.Version, goos, goarch)
	var buf bytes.Buffer
	var err error
	if goos == "windows" {
		name += ".zip"
		err = writeZip(&buf, entries, epoch)
	} else {
		name += ".tar.gz"
		err = writeTarGz(&buf, entries, epoch)
	}
	if err != nil {
		return "", fmt.Errorf("archive %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(o.Out, name), buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("archive %s: %w", name, err)
	}
	return name, nil
}

// writeSBOM runs cyclonedx-gomod bin on the binary: no serial number and no
// timestamp, so the same binary gives the same SBOM. It reads the binary's
// build information with the pinned toolchain's `go version -m`.
func writeSBOM(ctx context.Context, o Options, bin, out string) error {
	cmd := exec.CommandContext(ctx, o.CycloneDX, "bin", "-json", "-noserial", "-notimestamp",
		"-version", "v"+o.Version, "-output", out, filepath.Base(bin))
	// Run next to the binary so the SBOM names it without the work directory.
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = goEnv(o)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cyclonedx-gomod: %w\n%s", err, b)
	}
	return nil
}

// buildImage runs hack/image/build.sh on the linux binaries built here.
// The image's revision label and creation time are the binaries' commit and
// the release's time, even when HEAD moves meanwhile.
func buildImage(ctx context.Context, o Options, bins map[string]string, commit string, epoch time.Time, out string) error {
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if bins[p] == "" {
			return fmt.Errorf("the image needs the %s binary: add it to the targets or turn the image off", p)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(o.Root, "hack", "image", "build.sh"))
	cmd.Dir = o.Root
	cmd.Env = goEnv(o, "VERSION="+o.Version, "OUT="+out, "PREBUILT="+o.Work, "PLATFORMS=linux/amd64 linux/arm64",
		"COMMIT="+commit, "CREATED="+strconv.FormatInt(epoch.Unix(), 10))
	cmd.Stdout = io.Discard
	cmd.Stderr = o.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/image/build.sh: %w", err)
	}
	return nil
}

// writeSums writes SHA256SUMS (sha256sum's format: hash, two spaces, name)
// over files, which are in dir.
func writeSums(dir string, files []string) error {
	var b strings.Builder
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("SHA256SUMS: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("SHA256SUMS: %s: %w", name, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("SHA256SUMS: %w", err)
	}
	return nil
}
