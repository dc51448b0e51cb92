package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pmezard/go-difflib/difflib"
	yaml "go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/manifest"
)

// maxDiffLines bounds the objects --diff compares line by line.
const maxDiffLines = 20000

// writeDiffs prints a unified diff of every changed object: its YAML (keys
// sorted, as kubectl prints it) before and after the mutations.
func writeDiffs(w io.Writer, res *Result) error {
	for _, o := range res.Objects {
		if o.Result == nil || !o.Result.Changed() {
			continue
		}
		before, err := sigsyaml.Marshal(o.Object.Object.Object)
		if err != nil {
			return err
		}
		after, err := sigsyaml.Marshal(o.Result.Object.Object)
		if err != nil {
			return err
		}
		ref, src := clean(o.Changes[0].Object.String()), clean(o.Source)
		a, b := difflib.SplitLines(string(before)), difflib.SplitLines(string(after))
		if len(a)+len(b) > maxDiffLines {
			// difflib's matcher is quadratic in the worst case.
			if _, err := fmt.Fprintf(w, "--- a/%s (%s)\n+++ b/%s (%s)\n@@ object too large to diff: %d lines before, %d after @@\n", src, ref, src, ref, len(a), len(b)); err != nil {
				return err
			}
			continue
		}
		d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        a,
			B:        b,
			FromFile: fmt.Sprintf("a/%s (%s)", src, ref),
			ToFile:   fmt.Sprintf("b/%s (%s)", src, ref),
			Context:  3,
		})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, d); err != nil {
			return err
		}
	}
	return nil
}

// writeMutated writes every input file with the mutations applied: to
// o.WriteMutated/<File.Rel>, or as one multi-document stream on standard output
// for "-". Files nothing changed are written byte for byte; in the others only
// the changed documents differ, and in those only meshgate's changes (see
// manifest.Splice).
func writeMutated(res *Result, o *Options) error {
	byObj := map[*manifest.Object]*Reviewed{}
	for _, r := range res.Objects {
		byObj[r.Object] = r
	}
	if o.WriteMutated == "-" {
		var buf bytes.Buffer
		for i, f := range res.Files {
			body := mutatedFile(f, byObj, o.Stderr)
			if i > 0 && len(bytes.TrimSpace(body)) > 0 && !startsWithSeparator(body) {
				if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
					buf.WriteByte('\n')
				}
				buf.WriteString("---\n")
			}
			buf.Write(body)
		}
		_, err := o.Stdout.Write(buf.Bytes())
		return err
	}
	targets := map[string]string{}
	for _, f := range res.Files {
		dst := filepath.Join(o.WriteMutated, f.Rel)
		if prev, dup := targets[dst]; dup {
			return fmt.Errorf("%s and %s would both be written to %s: pass them under one directory", prev, f.Path, dst)
		}
		targets[dst] = f.Path
	}
	for _, f := range res.Files {
		dst := filepath.Join(o.WriteMutated, f.Rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, mutatedFile(f, byObj, o.Stderr), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mutatedFile renders one input file with its mutations: its documents' bytes,
// the changed ones spliced.
func mutatedFile(f *File, byObj map[*manifest.Object]*Reviewed, stderr io.Writer) []byte {
	var buf bytes.Buffer
	if f.BOM {
		buf.Write(utf8BOM)
	}
	for _, d := range f.Docs {
		piece := d.Raw
		if d.Err == nil && docChanged(d, byObj) {
			piece = renderDoc(d, byObj, stderr)
		}
		buf.Write(piece)
	}
	return buf.Bytes()
}

func docChanged(d *manifest.Document, byObj map[*manifest.Object]*Reviewed) bool {
	for _, obj := range d.Objects {
		if r := byObj[obj]; r != nil && r.Result != nil && r.Result.Changed() {
			return true
		}
	}
	return false
}

func startsWithSeparator(b []byte) bool {
	return bytes.HasPrefix(b, []byte("---\n")) || bytes.HasPrefix(b, []byte("---\r\n")) ||
		bytes.HasPrefix(b, []byte("--- ")) || bytes.Equal(b, []byte("---"))
}

// finalObjects are the document's objects after mutation.
func finalObjects(d *manifest.Document, byObj map[*manifest.Object]*Reviewed) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(d.Objects))
	for i, obj := range d.Objects {
		out[i] = obj.Object
		if r := byObj[obj]; r != nil && r.Result != nil && r.Result.Object != nil {
			out[i] = r.Result.Object
		}
	}
	return out
}

// renderDoc renders a changed document: its bytes with the engine's changes
// spliced in, proven to decode to the engine's objects; when that cannot be
// done, the document is written afresh, with a notice.
func renderDoc(d *manifest.Document, byObj map[*manifest.Object]*Reviewed, stderr io.Writer) []byte {
	want := finalObjects(d, byObj)
	out, err := spliceDoc(d, byObj)
	if err == nil && !sameObjects(d, out, want) {
		err = errors.New("the result does not read back as the mutated objects")
	}
	if err == nil {
		return out
	}
	fmt.Fprintf(stderr, "meshgate: %s:%d: --write-mutated: document %d is written re-encoded (comments and layout lost): %s\n", clean(d.Source), d.Line, d.Index, clean(err.Error()))
	sep := ""
	if startsWithSeparator(d.Raw) {
		sep = "---\n"
	}
	return append([]byte(sep), encodeDoc(d, want)...)
}

// spliceDoc splices the changes of every object of a document into its bytes.
func spliceDoc(d *manifest.Document, byObj map[*manifest.Object]*Reviewed) ([]byte, error) {
	ops := func(obj *manifest.Object) []jsonpatch.Operation {
		if r := byObj[obj]; r != nil && r.Result != nil {
			return r.Result.Patch
		}
		return nil
	}
	switch {
	case len(d.Objects) == 1 && d.Objects[0].Item < 0:
		return manifest.Splice(d.Raw, ops(d.Objects[0]), "", d.JSON)
	case d.List:
		if out, ok := spliceListItems(d, ops); ok {
			return out, nil
		}
		out := d.Raw
		for _, obj := range d.Objects {
			var err error
			if out, err = manifest.Splice(out, ops(obj), "/items/"+strconv.Itoa(obj.Item), d.JSON); err != nil {
				return nil, err
			}
		}
		return out, nil
	case d.JSON:
		// A stream of JSON values: splice each in its own bytes.
		ranges, ok := manifest.JSONValues(d.Raw)
		if !ok || len(ranges) != len(d.Objects) {
			return nil, errors.New("cannot split the JSON values")
		}
		var buf bytes.Buffer
		prev := 0
		for i, obj := range d.Objects {
			r := ranges[i]
			buf.Write(d.Raw[prev:r[0]])
			part, err := manifest.Splice(d.Raw[r[0]:r[1]], ops(obj), "", true)
			if err != nil {
				return nil, err
			}
			buf.Write(part)
			prev = r[1]
		}
		buf.Write(d.Raw[prev:])
		return buf.Bytes(), nil
	}
	return nil, errors.New("several objects in one document")
}

// spliceListItems splices the changes of a block YAML List's items each into
// its own bytes (from its `-` line to the next item's), so a List costs time
// linear in its size, like separate documents; ok is false when the items are
// not laid out that way (the caller then splices the whole document).
func spliceListItems(d *manifest.Document, ops func(*manifest.Object) []jsonpatch.Operation) ([]byte, bool) {
	if d.JSON {
		return nil, false
	}
	var root yaml.Node
	if err := yaml.Unmarshal(d.Raw, &root); err != nil || root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, false
	}
	m := root.Content[0]
	k := -1
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "items" {
			k = i
		}
	}
	if k < 0 {
		return nil, false
	}
	seq := m.Content[k+1]
	if seq.Kind != yaml.SequenceNode || seq.Style&yaml.FlowStyle != 0 || len(seq.Content) != len(d.Objects) || len(seq.Content) == 0 {
		return nil, false
	}
	lineStart := []int{0}
	for i, c := range d.Raw {
		if c == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	// starts[i] is where item i's line starts; the item must open it with its
	// `-` at the sequence's column, after spaces only.
	starts := make([]int, len(seq.Content)+1)
	for i, item := range seq.Content {
		if item.Line < 1 || item.Line > len(lineStart) {
			return nil, false
		}
		at := lineStart[item.Line-1]
		dash := at + seq.Column - 1
		if dash >= len(d.Raw) || d.Raw[dash] != '-' || len(bytes.TrimLeft(d.Raw[at:dash], " ")) != 0 || (i > 0 && at <= starts[i-1]) {
			return nil, false
		}
		starts[i] = at
	}
	starts[len(seq.Content)] = len(d.Raw)
	if k+2 < len(m.Content) {
		next := m.Content[k+2].Line
		if next < 1 || next > len(lineStart) || lineStart[next-1] <= starts[len(seq.Content)-1] {
			return nil, false
		}
		starts[len(seq.Content)] = lineStart[next-1]
	}
	var buf bytes.Buffer
	buf.Grow(len(d.Raw) + len(d.Raw)/8)
	buf.Write(d.Raw[:starts[0]])
	for i, obj := range d.Objects {
		if obj.Item != i {
			return nil, false
		}
		part := d.Raw[starts[i]:starts[i+1]]
		if p := ops(obj); len(p) > 0 {
			var err error
			if part, err = manifest.Splice(part, p, "/0", false); err != nil {
				return nil, false
			}
		}
		buf.Write(part)
	}
	buf.Write(d.Raw[starts[len(seq.Content)]:])
	return buf.Bytes(), true
}

// sameObjects reports whether rendered YAML decodes to exactly want.
func sameObjects(d *manifest.Document, rendered []byte, want []*unstructured.Unstructured) bool {
	got := manifest.ParseChunk(d.Source, manifest.Chunk{Index: d.Index, Line: 1, Raw: rendered})
	if got.Err != nil || len(got.Objects) != len(want) {
		return false
	}
	for i := range want {
		a, err1 := json.Marshal(got.Objects[i].Object.Object)
		b, err2 := json.Marshal(want[i].Object)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}

// encodeDoc renders objects afresh: JSON for a JSON document, YAML otherwise (a
// List keeps its own fields with the mutated items).
func encodeDoc(d *manifest.Document, objs []*unstructured.Unstructured) []byte {
	var values []any
	if d.List && len(d.Objects) > 0 {
		list := map[string]any{}
		if top, err := listFields(d); err == nil {
			list = top
		}
		items := make([]any, len(objs))
		for i, o := range objs {
			items[i] = o.Object
		}
		list["items"] = items
		values = []any{list}
	} else {
		for _, o := range objs {
			values = append(values, o.Object)
		}
	}
	var buf bytes.Buffer
	for i, v := range values {
		if d.JSON {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return d.Raw
			}
			buf.Write(b)
			buf.WriteByte('\n')
			continue
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := sigsyaml.Marshal(v)
		if err != nil {
			return d.Raw
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

// listFields decodes a List document's top-level fields (apiVersion, kind,
// metadata).
func listFields(d *manifest.Document) (map[string]any, error) {
	var top map[string]any
	if err := sigsyaml.Unmarshal(d.Raw, &top); err != nil {
		return nil, err
	}
	return top, nil
}
