package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/meshgate/meshgate/internal/manifest"
)

// StdinName is how standard input is named in reports.
const StdinName = "<stdin>"

// loader reads input paths into parsed files.
type loader struct {
	o      *Options
	seen   map[string]bool
	stdin  bool
	errors []InputError
	notes  []Note
}

func newLoader(o *Options) *loader { return &loader{o: o, seen: map[string]bool{}} }

// source is one stream to read.
type source struct {
	path string // as reported
	rel  string // for --write-mutated
	// unit names the World the stream belongs to with --world-per-dir; shared
	// is the unit whose objects that World also holds.
	unit, shared string
	data         []byte
}

// chunkTask is one document of one input file, to parse.
type chunkTask struct {
	file  *File
	chunk manifest.Chunk
}

// read expands paths (directories recursively) and reads every file, returning
// the files and their documents, unparsed, in order. Unreadable paths become
// input errors; the others are still read.
func (l *loader) read(paths []string, inputs bool) ([]*File, []chunkTask) {
	var srcs []source
	for _, p := range paths {
		srcs = append(srcs, l.expand(p)...)
	}
	if inputs {
		var size int64
		for _, s := range srcs {
			size += int64(len(s.data))
		}
		l.o.limitMemory(size)
	}
	files := make([]*File, 0, len(srcs))
	var tasks []chunkTask
	for _, s := range srcs {
		f := &File{Path: s.path, Rel: s.rel, Unit: s.unit, Shared: s.shared, BOM: bytes.HasPrefix(s.data, utf8BOM)}
		files = append(files, f)
		chunks := manifest.Split(s.data)
		f.Docs = make([]*manifest.Document, len(chunks))
		for _, c := range chunks {
			tasks = append(tasks, chunkTask{f, c})
		}
	}
	return files, tasks
}

// parse parses one document into its file.
func (t chunkTask) parse() *manifest.Document {
	d := manifest.ParseChunk(t.file.Path, t.chunk)
	t.file.Docs[t.chunk.Index-1] = d
	return d
}

// load reads and parses every document of paths with a bounded pool of workers.
func (l *loader) load(paths []string, inputs bool) []*File {
	files, tasks := l.read(paths, inputs)
	parallel(len(tasks), l.o.Workers, func(i int) { tasks[i].parse() })
	return files
}

// expand turns one -f argument into the streams it names.
func (l *loader) expand(p string) []source {
	if p == "-" {
		if l.stdin {
			l.errors = append(l.errors, InputError{File: StdinName, Message: "standard input given more than once"})
			return nil
		}
		l.stdin = true
		data, err := io.ReadAll(l.o.Stdin)
		if err != nil {
			l.errors = append(l.errors, InputError{File: StdinName, Message: fmt.Sprintf("read: %v", err)})
			return nil
		}
		return []source{{path: StdinName, rel: "stdin.yaml", unit: StdinName, data: data}}
	}
	info, err := os.Stat(p)
	if err != nil {
		l.errors = append(l.errors, InputError{File: p, Message: readReason(err)})
		return nil
	}
	if !info.IsDir() {
		if l.o.excluded(filepath.ToSlash(filepath.Clean(p))) {
			return nil
		}
		if s, ok := l.readFile(p, filepath.Base(p), p); ok {
			return []source{s}
		}
		return nil
	}
	var out []source
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		rel, rerr := filepath.Rel(p, path)
		if rerr != nil {
			rel = filepath.Base(path)
		}
		slashRel := filepath.ToSlash(rel)
		if err != nil {
			l.errors = append(l.errors, InputError{File: path, Message: readReason(err)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path == p {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") || l.o.excluded(slashRel) {
				return fs.SkipDir // .git, .github and other tool folders
			}
			if d.Name() == "templates" && exists(filepath.Join(filepath.Dir(path), "Chart.yaml")) {
				l.notes = append(l.notes, Note{Kind: NoteSkipped, File: path,
					Message: "skipped: the templates of a Helm chart are not manifests: render them first (helm template ... | meshgate check -f -)"})
				return fs.SkipDir
			}
			return nil
		}
		if !isManifest(d.Name()) || l.o.excluded(slashRel) {
			return nil
		}
		if s, ok := l.readFile(path, rel, unitOf(p, slashRel)); ok {
			if s.unit != p {
				s.shared = p
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		l.errors = append(l.errors, InputError{File: p, Message: readReason(err)})
	}
	return out
}

// unitOf is the World a file under the -f directory dir belongs to with
// --world-per-dir: its top-level directory, or the directory itself for the files
// directly in it.
func unitOf(dir, slashRel string) string {
	if i := strings.IndexByte(slashRel, '/'); i >= 0 {
		return filepath.Join(dir, slashRel[:i])
	}
	return dir
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

// readFile reads one file once (a file named twice is checked once).
func (l *loader) readFile(path, rel, unit string) (source, bool) {
	key := path
	if abs, err := filepath.Abs(path); err == nil {
		key = abs
	}
	if l.seen[key] {
		return source{}, false
	}
	l.seen[key] = true
	data, err := os.ReadFile(path)
	if err != nil {
		l.errors = append(l.errors, InputError{File: path, Message: readReason(err)})
		return source{}, false
	}
	return source{path: path, rel: rel, unit: unit, data: data}, true
}

func isManifest(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// readReason words a file system error without repeating the path.
func readReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot read: %v", pe.Err)
	}
	return fmt.Sprintf("cannot read: %v", err)
}

// parallel calls fn(0..n-1) on up to workers goroutines and waits for them.
func parallel(n, workers int, fn func(i int)) {
	var g errgroup.Group
	g.SetLimit(max(1, workers))
	for i := range n {
		g.Go(func() error {
			fn(i)
			return nil
		})
	}
	_ = g.Wait() // fn returns no error
}
