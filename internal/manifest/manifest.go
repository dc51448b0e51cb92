// Package manifest reads Kubernetes objects from YAML and JSON streams: several
// documents per stream, `kind: List` expanded, empty documents skipped, and the
// line of every field remembered, so a finding about a field can point at it.
//
// Each document is parsed once. Plain block YAML (the subset fastParse reads:
// what helm, kustomize and kubectl print) is read line by line straight into
// the unstructured object and a compact index of key and item lines; any other
// document is parsed with go.yaml.in/yaml/v3 into a node tree that is turned
// into the object directly while the same index is recorded, and the node tree
// is then dropped. Both paths resolve scalars as kubectl does, and give the
// same object and lines for a document both can read. A document that is clearly not a Kubernetes object
// (no `apiVersion` or no `kind`: a values file, a Chart.yaml, a JSON fixture)
// is skipped with the reason; one that claims to be an object (both keys) and
// cannot be read is an error for that document only: the others are still read.
//
// Splice writes JSON-patch operations into a document's own bytes, for
// mutated manifests that differ from their input only where meshgate changed
// them.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Object is one Kubernetes object read from a stream, with where it came from.
type Object struct {
	// Object is the decoded object.
	Object *unstructured.Unstructured
	// Source names the stream (a file path, or "-" for standard input).
	Source string
	// Doc is the 1-based index of the document in the stream.
	Doc int
	// Item is the index of the object in its document's List, or -1.
	Item int
	// Line is the line of the object's first key.
	Line int

	pos  []posEntry
	root int32
}

// Document is one document of a stream and what it holds.
type Document struct {
	Chunk
	// Source names the stream.
	Source string
	// Objects are the objects in the document: none for an empty document, one,
	// or a List's items.
	Objects []*Object
	// List is true when the document is a `kind: *List` with items.
	List bool
	// JSON is true when the document is JSON rather than block YAML.
	JSON bool
	// Err is why the document could not be read; Objects is then empty.
	Err *Error
	// Skipped says why the document is not a Kubernetes object (it lacks
	// `apiVersion` or `kind`, or it is not YAML and does not look like a
	// manifest, or it is a template); Objects is then empty and Err nil.
	Skipped string
	// Template is the line of the first template action ({{ ... }}) of a
	// document that is skipped as a Helm or Go template, or 0.
	Template int
}

// Error is a document that could not be read.
type Error struct {
	Source string
	// Line is the line of the problem, or of the document's start.
	Line int
	// Doc is the 1-based index of the document in its stream.
	Doc int
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: document %d: %v", e.Source, e.Line, e.Doc, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Decode reads every object in r. name is used in error messages. It is strict:
// it stops at the first document that cannot be read or is not a Kubernetes
// object, and returns the objects before it with the error (a *Error carrying
// file and line).
func Decode(name string, r io.Reader) ([]*unstructured.Unstructured, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	var out []*unstructured.Unstructured
	for _, c := range Split(data) {
		doc := ParseChunk(name, c)
		if doc.Err != nil {
			return out, doc.Err
		}
		if doc.Skipped != "" {
			return out, &Error{Source: name, Line: c.Line, Doc: c.Index, Err: errors.New(doc.Skipped)}
		}
		for _, o := range doc.Objects {
			out = append(out, o.Object)
		}
	}
	return out, nil
}

// Parse reads every document of a stream.
func Parse(name string, data []byte) []*Document {
	chunks := Split(data)
	docs := make([]*Document, len(chunks))
	for i, c := range chunks {
		docs[i] = ParseChunk(name, c)
	}
	return docs
}

// ParseChunk reads one document. It is safe to call concurrently for different
// chunks.
func ParseChunk(name string, c Chunk) *Document {
	return parseChunk(name, c, true)
}

// parseChunk reads one document, trying the fast path first when fast is set
// (see fastParse).
func parseChunk(name string, c Chunk, fast bool) *Document {
	written := c.Raw
	c.Raw = stripBOM(c.Raw)
	doc := parseDoc(name, c, fast)
	doc.Raw = written // the bytes as written, byte order mark and all
	if doc.Err != nil || doc.Skipped != "" {
		// Only a document that does not read as an object can be a template:
		// one that does is checked, whatever its strings hold.
		if line := templateLine(c.Raw); line > 0 {
			doc.Err, doc.Objects = nil, nil
			doc.Template = c.Line + line - 1
			doc.Skipped = "a Helm or Go template ({{ ... }}), not a manifest: render it first (helm template ... | meshgate check -f -)"
		}
	}
	return doc
}

// parseDoc reads one document (see parseChunk).
func parseDoc(name string, c Chunk, fast bool) *Document {
	doc := &Document{Chunk: c, Source: name}
	if blank(c.Raw) {
		return doc
	}
	fail := func(line int, err error) *Document {
		doc.Objects = nil
		doc.Err = &Error{Source: name, Line: line, Doc: c.Index, Err: err}
		return doc
	}
	trimmed := bytes.TrimLeft(c.Raw, " \t\r\n")
	doc.JSON = len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
	if fast && !doc.JSON {
		if obj, pos, ok := fastParse(c.Raw, c.Line); ok {
			if objs, ok := fastObjects(name, c, obj, pos); ok {
				doc.Objects = objs
				doc.List = len(objs) > 0 && objs[0].Item >= 0
				return doc
			}
		}
	}

	roots, err := parseYAML(c.Raw)
	if err != nil && doc.JSON {
		// Not one JSON value: perhaps a stream of them ({...}\n{...}).
		if ranges, ok := JSONValues(c.Raw); ok {
			roots, err = nil, nil
			for _, r := range ranges {
				sub, perr := parseYAML(c.Raw[r[0]:r[1]])
				if perr != nil {
					err = perr
					break
				}
				line := 1 + bytes.Count(c.Raw[:r[0]], []byte{'\n'})
				for _, s := range sub {
					roots = append(roots, shifted{s.node, line - 1})
				}
			}
		}
	}
	if err != nil {
		line, msg := yamlErrorLine(err)
		if !ClaimsKind(c.Raw) {
			doc.Skipped = "not a Kubernetes object: not valid YAML (" + msg + " at line " + strconv.Itoa(c.Line+line-1) + ") and no top-level `apiVersion:` and `kind:` lines"
			return doc
		}
		return fail(c.Line+line-1, errors.New(msg))
	}
	for _, r := range roots {
		objs, line, err := objectsOf(name, c, r.node, c.Line+r.shift)
		var skip notObjectError
		if errors.As(err, &skip) {
			doc.Objects = nil
			doc.Skipped = skip.reason
			return doc
		}
		var le *lineError
		if errors.As(err, &le) {
			line = le.line
		}
		if err != nil {
			return fail(line, err)
		}
		if len(objs) > 0 && objs[0].Item >= 0 {
			doc.List = true
		}
		doc.Objects = append(doc.Objects, objs...)
	}
	return doc
}

// shifted is a parsed document root whose lines are shift lines into the chunk.
type shifted struct {
	node  *yaml.Node
	shift int
}

// parseYAML parses every YAML document in raw (usually one).
func parseYAML(raw []byte) ([]shifted, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var out []shifted
	for {
		n := &yaml.Node{}
		err := dec.Decode(n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, shifted{node: n})
	}
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlErrorLine extracts the line of a yaml.v3 error and its message without it.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		rest := msg[len(m[0]):]
		if parserProblem(rest) {
			// yaml.v3 reports its parser's (not scanner's) errors with a 0-based line.
			line++
		}
		return line, "invalid YAML: " + rest
	}
	return 1, "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
}

// parserProblem reports whether msg is one of the yaml.v3 parser's problems
// (parserc.go), whose line the library reports 0-based.
func parserProblem(msg string) bool {
	return strings.HasPrefix(msg, "did not find expected ") ||
		strings.HasPrefix(msg, "found duplicate %") ||
		msg == "found incompatible YAML document" || msg == "found undefined tag handle"
}

// objectsOf turns one parsed document into objects. firstLine is the stream line
// of the node tree's line 1. On error it returns the line of the problem.
func objectsOf(name string, c Chunk, n *yaml.Node, firstLine int) ([]*Object, int, error) {
	root := n
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, 0, nil
		}
		root = root.Content[0]
	}
	line := firstLine + root.Line - 1
	if root.Kind == yaml.ScalarNode && scalar(root) == nil {
		return nil, 0, nil // an empty document
	}
	if root.Kind != yaml.MappingNode {
		return nil, line, notObjectError{fmt.Sprintf("not a Kubernetes object: the document is a %s, not a mapping with apiVersion and kind", kindName(root.Kind))}
	}
	if missing := missingKeys(root, "apiVersion", "kind"); missing != "" {
		return nil, line, notObjectError{"not a Kubernetes object: no " + missing}
	}
	conv := &converter{posIndex: posIndex{lineOffset: firstLine, pos: make([]posEntry, 0, estimateEntries(c.Raw))}}
	conv.record(false, "", root.Line)
	v, err := conv.value(root, 0, false)
	if err != nil {
		return nil, line, err
	}
	conv.close(0)
	return objectsFrom(name, c, v.(map[string]any), conv.pos, line)
}

// fastObjects turns a document the fast path read into objects; ok is false
// when the document is not plainly one object or a List of them (the general
// path then reports why, with the same words as always).
func fastObjects(name string, c Chunk, obj map[string]any, pos []posEntry) ([]*Object, bool) {
	if obj["apiVersion"] == nil || obj["kind"] == nil {
		return nil, false
	}
	objs, _, err := objectsFrom(name, c, obj, pos, pos[0].lineNo())
	return objs, err == nil
}

// objectsFrom turns a document's root mapping obj, with its position index
// (entry 0 is the root), into objects. line is the root's line.
func objectsFrom(name string, c Chunk, obj map[string]any, pos []posEntry, line int) ([]*Object, int, error) {
	if err := checkObject(obj); err != nil {
		return nil, line, err
	}
	u := &unstructured.Unstructured{Object: obj}
	if items, ok := obj["items"].([]any); ok && strings.HasSuffix(u.GetKind(), "List") {
		ids := childItems(pos, findChild(pos, 0, "items", -1), len(items))
		out := make([]*Object, 0, len(items))
		for i, it := range items {
			id := ids[i]
			itemLine := line
			if id >= 0 {
				itemLine = pos[id].lineNo()
			}
			m, ok := it.(map[string]any)
			if !ok {
				return nil, itemLine, fmt.Errorf("List item %d: not a Kubernetes object: not a mapping", i) //nolint:staticcheck // ST1005: "List" is the kind's name
			}
			if err := checkObject(m); err != nil {
				return nil, itemLine, fmt.Errorf("List item %d: %w", i, err) //nolint:staticcheck // ST1005: "List" is the kind's name
			}
			out = append(out, &Object{Object: &unstructured.Unstructured{Object: m}, Source: name, Doc: c.Index, Item: i, Line: itemLine, pos: pos, root: id})
		}
		return out, 0, nil
	}
	return []*Object{{Object: u, Source: name, Doc: c.Index, Item: -1, Line: line, pos: pos, root: 0}}, 0, nil
}

// childItems returns the position entries of the first n sequence items under
// entry parent, in one walk of its children (-1 for an item not found), so a
// List's items are placed in time linear in its size.
func childItems(pos []posEntry, parent int32, n int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = -1
	}
	if parent < 0 || int(parent) >= len(pos) {
		return ids
	}
	k := 0
	for i := parent + 1; i < pos[parent].end && int(i) < len(pos) && k < n; i = pos[i].end {
		if pos[i].isItem() {
			ids[k] = i
			k++
		}
		if pos[i].end <= i {
			break // never loop on a malformed index
		}
	}
	return ids
}

// estimateEntries guesses how many keys and items a document has: about one a
// line in block YAML.
func estimateEntries(raw []byte) int {
	return bytes.Count(raw, []byte{'\n'}) + 1
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// notObjectError is a document that is clearly not a Kubernetes object: it is
// skipped, not an error.
type notObjectError struct{ reason string }

func (e notObjectError) Error() string { return e.reason }

// missingKeys names the keys the mapping node n lacks (or holds null), "" when
// it has them all.
func missingKeys(n *yaml.Node, keys ...string) string {
	var missing []string
	for _, key := range keys {
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], n.Content[i+1]; k.Kind == yaml.ScalarNode && k.Value == key && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
				found = true
			}
		}
		if !found {
			missing = append(missing, "`"+key+"`")
		}
	}
	return strings.Join(missing, " and ")
}

// apiVersionLineRE and kindLineRE find a top-level `apiVersion:` or `kind:`
// key (at the start of a line), or the JSON key.
var (
	apiVersionLineRE = regexp.MustCompile(`(?m)(^apiVersion[ \t]*:)|("apiVersion"\s*:)`)
	kindLineRE       = regexp.MustCompile(`(?m)(^kind[ \t]*:)|("kind"\s*:)`)
)

// ClaimsKind reports whether raw has the `apiVersion:` and `kind:` keys a
// manifest has (top-level lines, or JSON keys): a document that does not parse
// is a broken manifest when it does, and not a Kubernetes object otherwise.
func ClaimsKind(raw []byte) bool {
	return apiVersionLineRE.Match(raw) && kindLineRE.Match(raw)
}

func checkObject(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	var missing []string
	if apiVersion == "" {
		missing = append(missing, "apiVersion")
	}
	if kind == "" {
		missing = append(missing, "kind")
	}
	if len(missing) > 0 {
		return fmt.Errorf("not a Kubernetes object: %s missing (every object needs a string apiVersion and kind)", strings.Join(missing, " and "))
	}
	return nil
}
