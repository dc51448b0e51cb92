package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// entry is one regular file of an archive. Archives hold only regular files,
// in the order given, each with the release's time, owner 0:0 and its mode:
// what is on disk (mtimes, owners, umask, directory order) never reaches the
// bytes.
type entry struct {
	Name string
	Mode int64
	Data []byte
}

// writeTarGz writes entries as a gzip-compressed tar. The gzip header has no
// name and no time.
func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.Name,
			Mode:     e.Mode,
			Size:     int64(len(e.Data)),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip writes entries as a zip archive (deflated).
func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: mtime.UTC()}
		h.SetMode(fs.FileMode(e.Mode))
		f, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if _, err := f.Write(e.Data); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	return zw.Close()
}

// packageChartFile writes the chart in dir as a Helm chart archive at out.
func packageChartFile(dir, out, version string, mtime time.Time) error {
	var buf bytes.Buffer
	if err := packageChart(&buf, dir, version, mtime); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// packageChart writes the chart in dir as `helm package` lays it out (every
// file under <name>/, .helmignore honoured), with version and appVersion in
// Chart.yaml set to version, and nothing from the disk but the contents:
// helm package stamps each entry with the time of packaging, so two runs
// differ; this does not.
func packageChart(w io.Writer, dir, version string, mtime time.Time) error {
	ignore, err := readHelmignore(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return err
	}
	chartYAML, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	name, chartYAML, err := setChartVersion(chartYAML, version)
	if err != nil {
		return err
	}
	var entries []entry
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignore(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("chart: %s is not a regular file", rel)
		}
		data := chartYAML
		if rel != "Chart.yaml" {
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		entries = append(entries, entry{Name: name + "/" + rel, Mode: 0o644, Data: data})
		return nil
	})
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.Name, b.Name) })
	return writeTarGz(w, entries, mtime)
}

var (
	chartNameRE    = regexp.MustCompile(`(?m)^name:[ \t]*"?([a-z0-9-]+)"?[ \t]*$`)
	chartVersionRE = regexp.MustCompile(`(?m)^version:.*$`)
	chartAppRE     = regexp.MustCompile(`(?m)^appVersion:.*$`)
)

// setChartVersion sets version and appVersion in Chart.yaml (the lines are
// replaced; comments and order stay) and returns the chart's name.
func setChartVersion(chartYAML []byte, version string) (string, []byte, error) {
	m := chartNameRE.FindSubmatch(chartYAML)
	if m == nil {
		return "", nil, errors.New("chart: Chart.yaml has no top-level name")
	}
	for _, re := range []*regexp.Regexp{chartVersionRE, chartAppRE} {
		if n := len(re.FindAll(chartYAML, -1)); n != 1 {
			return "", nil, fmt.Errorf("chart: Chart.yaml has %d lines matching %s, want 1", n, re)
		}
	}
	out := chartVersionRE.ReplaceAll(chartYAML, []byte("version: "+version))
	out = chartAppRE.ReplaceAll(out, []byte(`appVersion: "`+version+`"`))
	return string(m[1]), out, nil
}

// readHelmignore reads the patterns of a .helmignore the way helm applies
// the ones charts use: a pattern without / matches a file or directory name
// at any depth, a pattern with / matches the path from the chart's root, a
// trailing / matches directories only. Negations (!) are refused rather than
// half-supported. Helm also never packages hidden files under templates/.
func readHelmignore(p string) (func(rel string, dir bool) bool, error) {
	type pattern struct {
		glob    string
		dirOnly bool
		rooted  bool
	}
	var pats []pattern
	f, err := os.Open(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chart: %w", err)
	}
	if f != nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.HasPrefix(line, "!") {
				return nil, fmt.Errorf("chart: .helmignore: negated pattern %q is not supported", line)
			}
			pt := pattern{glob: line}
			if strings.HasSuffix(pt.glob, "/") {
				pt.glob, pt.dirOnly = strings.TrimSuffix(pt.glob, "/"), true
			}
			pt.rooted = strings.Contains(pt.glob, "/")
			pt.glob = strings.TrimPrefix(pt.glob, "/")
			if _, err := path.Match(pt.glob, ""); err != nil {
				return nil, fmt.Errorf("chart: .helmignore: %q: %w", line, err)
			}
			pats = append(pats, pt)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("chart: .helmignore: %w", err)
		}
	}
	return func(rel string, dir bool) bool {
		if strings.HasPrefix(rel, "templates/.") {
			return true
		}
		for _, pt := range pats {
			if pt.dirOnly && !dir {
				continue
			}
			target := path.Base(rel)
			if pt.rooted {
				target = rel
			}
			if ok, _ := path.Match(pt.glob, target); ok {
				return true
			}
		}
		return false
	}, nil
}
