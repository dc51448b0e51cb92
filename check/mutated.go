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
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/manifest"
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
		ref := o.Changes[0].Object
		a, b := difflib.SplitLines(string(before)), difflib.SplitLines(string(after))
		if len(a)+len(b) > maxDiffLines {
			// difflib's matcher is quadratic in the worst case.
			if _, err := fmt.Fprintf(w, "--- a/%s (%s)\n+++ b/%s (%s)\n@@ object too large to diff: %d lines before, %d after @@\n", o.Source, ref, o.Source, ref, len(a), len(b)); err != nil {
				return err
			}
			continue
		}
		d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        a,
			B:        b,
			FromFile: fmt.Sprintf("a/%s (%s)", o.Source, ref),
			ToFile:   fmt.Sprintf("b/%s (%s)", o.Source, ref),
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
// for "-". Documents nothing changed are copied byte for byte (comments and all);
// changed YAML documents are patched in their node tree, so comments and key
// order survive too; JSON documents are re-encoded.
func writeMutated(res *Result, o *Options) error {
	byObj := map[*manifest.Object]*Reviewed{}
	for _, r := range res.Objects {
		byObj[r.Object] = r
	}
	if o.WriteMutated == "-" {
		var buf bytes.Buffer
		for i, f := range res.Files {
			body := mutatedFile(f, byObj)
			if i > 0 && len(bytes.TrimSpace(body)) > 0 && !startsWithSeparator(body) {
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
		if err := os.WriteFile(dst, mutatedFile(f, byObj), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mutatedFile renders one input file with its mutations.
func mutatedFile(f *File, byObj map[*manifest.Object]*Reviewed) []byte {
	var buf bytes.Buffer
	for i, d := range f.Docs {
		piece := d.Raw
		if d.Err == nil && docChanged(d, byObj) {
			piece = renderDoc(d, byObj)
		}
		if i > 0 && !startsWithSeparator(piece) {
			if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
				buf.WriteByte('\n')
			}
			buf.WriteString("---\n")
		}
		buf.Write(piece)
	}
	if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		buf.WriteByte('\n')
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

// renderDoc renders a changed document: patched in place when possible (and
// proven equal to the engine's result), re-encoded otherwise.
func renderDoc(d *manifest.Document, byObj map[*manifest.Object]*Reviewed) []byte {
	want := finalObjects(d, byObj)
	sep := ""
	if startsWithSeparator(d.Raw) {
		sep = "---\n"
	}
	if !d.JSON {
		if out, err := patchYAMLDoc(d, byObj); err == nil && sameObjects(d, out, want) {
			return append([]byte(sep), out...)
		}
	}
	return append([]byte(sep), encodeDoc(d, want)...)
}

// patchYAMLDoc applies the engine's patch operations to the document's node tree
// and encodes it again.
func patchYAMLDoc(d *manifest.Document, byObj map[*manifest.Object]*Reviewed) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(d.Raw, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, errors.New("not a single document")
	}
	for _, obj := range d.Objects {
		r := byObj[obj]
		if r == nil || r.Result == nil {
			continue
		}
		prefix := ""
		if obj.Item >= 0 {
			prefix = "/items/" + strconv.Itoa(obj.Item)
		} else if len(d.Objects) != 1 {
			return nil, errors.New("several objects in one document")
		}
		for _, op := range r.Result.Patch {
			if err := patchNode(root.Content[0], op.Op, prefix+op.Path, op.Value); err != nil {
				return nil, err
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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

// patchNode applies one RFC 6902 operation (add, replace or remove) to a YAML
// node tree.
func patchNode(root *yaml.Node, op, path string, value any) error {
	if path == "" || path[0] != '/' {
		return fmt.Errorf("unsupported patch path %q", path)
	}
	tokens := strings.Split(path[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	parent := root
	for _, t := range tokens[:len(tokens)-1] {
		next, err := childNode(parent, t)
		if err != nil {
			return err
		}
		parent = next
	}
	last := tokens[len(tokens)-1]
	var val *yaml.Node
	if op == "add" || op == "replace" {
		plain, err := jsonValue(value)
		if err != nil {
			return err
		}
		val = &yaml.Node{}
		if err := val.Encode(plain); err != nil {
			return fmt.Errorf("encode patch value: %w", err)
		}
	}
	switch parent.Kind {
	case yaml.MappingNode:
		i := keyIndex(parent, last)
		switch {
		case op == "remove" && i >= 0:
			parent.Content = append(parent.Content[:i], parent.Content[i+2:]...)
		case (op == "add" || op == "replace") && i >= 0:
			parent.Content[i+1] = val
		case op == "add":
			parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last}, val)
		default:
			return fmt.Errorf("%s %s: no such key", op, path)
		}
		return nil
	case yaml.SequenceNode:
		if last == "-" && op == "add" {
			parent.Content = append(parent.Content, val)
			return nil
		}
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i > len(parent.Content) || (i == len(parent.Content) && op != "add") {
			return fmt.Errorf("%s %s: bad index", op, path)
		}
		switch op {
		case "add":
			parent.Content = append(parent.Content[:i], append([]*yaml.Node{val}, parent.Content[i:]...)...)
		case "replace":
			parent.Content[i] = val
		case "remove":
			parent.Content = append(parent.Content[:i], parent.Content[i+1:]...)
		default:
			return fmt.Errorf("unsupported op %q", op)
		}
		return nil
	}
	return fmt.Errorf("%s %s: parent is not a mapping or sequence", op, path)
}

// jsonValue turns a patch value (which may be a typed API struct) into the plain
// maps, slices and scalars its JSON form holds, so it encodes with JSON field names.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode patch value: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode patch value: %w", err)
	}
	return plainNumbers(out), nil
}

func plainNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = plainNumbers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	}
	return v
}

func childNode(n *yaml.Node, token string) (*yaml.Node, error) {
	switch n.Kind {
	case yaml.MappingNode:
		if i := keyIndex(n, token); i >= 0 {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode {
				return nil, errors.New("path goes through an alias")
			}
			return v, nil
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(token); err == nil && i >= 0 && i < len(n.Content) {
			if n.Content[i].Kind == yaml.AliasNode {
				return nil, errors.New("path goes through an alias")
			}
			return n.Content[i], nil
		}
	}
	return nil, fmt.Errorf("no %q in the document", token)
}

// keyIndex is the index in n.Content of the (last) key named key, or -1.
func keyIndex(n *yaml.Node, key string) int {
	found := -1
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.Value == key {
			found = i
		}
	}
	return found
}
