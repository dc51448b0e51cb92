package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"
)

// Splicing writes a mutation into the original bytes of a document: each RFC
// 6902 operation of the engine is located in the document's yaml.v3 node tree
// (which knows the line and column of every node), and only the text of the
// nodes it touches is replaced or inserted, in the document's own indentation,
// sequence style, flow style and line endings. Everything else (comments, key
// order, quoting, blank lines, a missing final newline) stays byte for byte.
// The operations are applied one at a time, re-reading the document after each,
// so that each one sees the result of the previous ones.

// Splice applies ops, each path prefixed with prefix (a JSON pointer such as
// "/items/2" to edit a List's third item; "" for the document itself), to the single YAML or JSON document src (isJSON:
// src is JSON, and what is added is written as JSON), and returns the edited
// bytes. Only the text of the nodes the operations touch changes: comments,
// key order, quoting, indentation and line ends stay as they were. An
// operation it cannot place in the text (a path through an alias, an insert
// into a flow sequence, a removal inside a flow collection) is an error: the
// caller then encodes the object instead.
func Splice(src []byte, ops []jsonpatch.Operation, prefix string, isJSON bool) ([]byte, error) {
	for _, op := range ops {
		out, err := spliceOp(src, op.Operation, prefix+op.Path, op.Value, isJSON)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", op.Operation, prefix+op.Path, err)
		}
		src = out
	}
	return src, nil
}

// step is one node on the path from the root, with the index in its Content of
// the next node on the path (for a mapping: the value's index).
type step struct {
	node *yaml.Node
	idx  int
}

// doc is one document being spliced.
type doc struct {
	src    []byte
	lines  []int // offset of each line's start
	eol    string
	isJSON bool
	// indent is the document's indentation step; seqOffset how far a block
	// sequence's dashes are indented from their key (0: `key:\n- item`).
	indent, seqOffset int
	// literal writes a multi-line string as a literal block (`|`), as the
	// value it replaces was.
	literal bool
}

func spliceOp(src []byte, op, path string, value any, isJSON bool) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, errors.New("not a single document")
	}
	d := &doc{src: src, eol: "\n", isJSON: isJSON, indent: 2}
	if bytes.Contains(src, []byte("\r\n")) {
		d.eol = "\r\n"
	}
	d.lines = append(d.lines, 0)
	for i, c := range src {
		if c == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	d.detectStyle(root.Content[0])

	if path == "" || path[0] != '/' {
		return nil, errors.New("unsupported path")
	}
	tokens := strings.Split(path[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	chain := []step{}
	cur := root.Content[0]
	for _, t := range tokens[:len(tokens)-1] {
		i, next := childOf(cur, t)
		if next == nil {
			return nil, fmt.Errorf("no %q in the document", t)
		}
		if next.Kind == yaml.AliasNode {
			return nil, errors.New("path goes through an alias")
		}
		chain = append(chain, step{cur, i})
		cur = next
	}
	last := tokens[len(tokens)-1]
	var val *yaml.Node
	if op == "add" || op == "replace" {
		var err error
		if val, err = valueNode(value); err != nil {
			return nil, err
		}
	}
	flow := cur.Style&yaml.FlowStyle != 0 || inFlow(chain)
	switch cur.Kind {
	case yaml.MappingNode:
		i, _ := childOf(cur, last)
		switch {
		case i >= 0 && (op == "add" || op == "replace"):
			return d.replaceValue(cur.Content[i-1], cur.Content[i], val, append(chain, step{cur, i}), flow)
		case i >= 0 && op == "remove" && !flow:
			return d.removeLines(cur.Content[i-1], cur.Content[i], append(chain, step{cur, i}))
		case i < 0 && op == "add" && flow:
			return d.addFlow(cur, d.flowEntry(last, val))
		case i < 0 && op == "add":
			var b strings.Builder
			d.writeEntry(&b, last, val, cur.Content[0].Column-1)
			return d.insertAt(d.contentEnd(chain, cur), b.String()), nil
		}
	case yaml.SequenceNode:
		n := len(cur.Content)
		j := n
		if last != "-" {
			var err error
			if j, err = strconv.Atoi(last); err != nil || j < 0 || j > n {
				return nil, errors.New("bad index")
			}
		}
		switch {
		case j < n && op == "replace":
			return d.replaceValue(nil, cur.Content[j], val, append(chain, step{cur, j}), flow)
		case j < n && op == "remove" && !flow:
			return d.removeLines(nil, cur.Content[j], append(chain, step{cur, j}))
		case op == "add" && flow:
			if j < n {
				return nil, errors.New("insert into a flow sequence")
			}
			return d.addFlow(cur, d.flowValue(val))
		case op == "add" && j < n:
			item := cur.Content[j]
			if !d.blankBefore(item) {
				return nil, errors.New("item does not start its line")
			}
			var b strings.Builder
			d.writeItems(&b, []*yaml.Node{val}, cur.Column-1, false)
			return d.insertAt(d.lines[item.Line-1], b.String()), nil
		case op == "add":
			var b strings.Builder
			d.writeItems(&b, []*yaml.Node{val}, cur.Column-1, false)
			return d.insertAt(d.contentEnd(chain, cur), b.String()), nil
		}
	}
	return nil, fmt.Errorf("cannot %s here", op)
}

// childOf finds token in n: for a mapping the index of the (last) value of that
// key, for a sequence the item's index; -1 and nil when there is none.
func childOf(n *yaml.Node, token string) (int, *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		found := -1
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == token {
				found = i + 1
			}
		}
		if found >= 0 {
			return found, n.Content[found]
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(token); err == nil && i >= 0 && i < len(n.Content) {
			return i, n.Content[i]
		}
	}
	return -1, nil
}

func inFlow(chain []step) bool {
	for _, s := range chain {
		if s.node.Style&yaml.FlowStyle != 0 {
			return true
		}
	}
	return false
}

// valueNode is a patch value as a node tree, in its JSON field order.
func valueNode(v any) (*yaml.Node, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode patch value: %w", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("decode patch value: %w", err)
	}
	return n.Content[0], nil
}

// detectStyle reads the indentation step and the sequence style off the first
// block mapping and block sequence nested under a key.
func (d *doc) detectStyle(root *yaml.Node) {
	foundIndent, foundSeq := false, false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Style&yaml.FlowStyle == 0 && v.Line > k.Line {
					switch {
					case v.Kind == yaml.MappingNode && !foundIndent && v.Column > k.Column:
						d.indent, foundIndent = v.Column-k.Column, true
					case v.Kind == yaml.SequenceNode && !foundSeq:
						d.seqOffset, foundSeq = v.Column-k.Column, true
					}
				}
			}
		}
		for _, c := range n.Content {
			if foundIndent && foundSeq {
				return
			}
			walk(c)
		}
	}
	walk(root)
}

// offset is the byte offset of a node's start.
func (d *doc) offset(n *yaml.Node) int {
	start := d.lines[n.Line-1]
	off := start
	for col := 1; col < n.Column && off < len(d.src); col++ {
		_, size := utf8.DecodeRune(d.src[off:])
		off += size
	}
	return off
}

// lineEnd is the offset just past the end of the line holding off (past its
// newline).
func (d *doc) lineEnd(off int) int {
	if i := bytes.IndexByte(d.src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(d.src)
}

// blankBefore reports whether only spaces (and a sequence dash) precede n on
// its line.
func (d *doc) blankBefore(n *yaml.Node) bool {
	pre := bytes.TrimLeft(d.src[d.lines[n.Line-1]:d.offset(n)], " ")
	return len(pre) == 0 || (len(pre) >= 2 && pre[0] == '-' && len(bytes.TrimLeft(pre[1:], " ")) == 0)
}

// contentEnd is the offset just past the last line of node (at the end of
// chain) that holds its content: the lines up to the next node of the document
// that is not inside it, less trailing blank and comment-only lines.
func (d *doc) contentEnd(chain []step, node *yaml.Node) int {
	boundary := len(d.src)
	for k := len(chain) - 1; k >= 0; k-- {
		p, idx := chain[k].node, chain[k].idx
		if idx+1 < len(p.Content) {
			boundary = d.lines[p.Content[idx+1].Line-1]
			break
		}
	}
	start := d.lineEnd(d.offset(node))
	end := boundary
	for end > start {
		prev := bytes.LastIndexByte(d.src[:end-1], '\n') + 1
		t := bytes.TrimSpace(d.src[prev:end])
		if len(t) > 0 && t[0] != '#' {
			break
		}
		end = prev
	}
	if end < start {
		end = start
	}
	return end
}

// insertAt inserts text (whole lines ending with the document's line end) at
// off, which is at a line start or the end of the document.
func (d *doc) insertAt(off int, text string) []byte {
	if off == len(d.src) && off > 0 && d.src[off-1] != '\n' {
		// The last line has no line end: keep it that way.
		text = d.eol + strings.TrimSuffix(text, d.eol)
	}
	return splice(d.src, off, off, text)
}

func splice(src []byte, from, to int, text string) []byte {
	out := make([]byte, 0, len(src)-(to-from)+len(text))
	out = append(out, src[:from]...)
	out = append(out, text...)
	return append(out, src[to:]...)
}

// tokenEnd is the offset just past the scalar or flow collection that starts
// at n, or -1 for a block scalar or a plain scalar that spans lines.
func (d *doc) tokenEnd(n *yaml.Node, flow bool) int {
	off := d.offset(n)
	src := d.src
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		depth := 0
		for i := off; i < len(src); i++ {
			switch src[i] {
			case '"', '\'':
				end := quotedEnd(src, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	if off >= len(src) {
		return off
	}
	switch src[off] {
	case '"', '\'':
		return quotedEnd(src, off)
	case '|', '>':
		return -1
	}
	end := off
	for end < len(src) {
		c := src[end]
		if c == '\n' || c == '\r' || (c == '#' && end > off && (src[end-1] == ' ' || src[end-1] == '\t')) ||
			(c == ':' && (end+1 == len(src) || strings.IndexByte(" \t\r\n,]}", src[end+1]) >= 0)) ||
			(flow && (c == ',' || c == ']' || c == '}')) {
			break
		}
		end++
	}
	for end > off && (src[end-1] == ' ' || src[end-1] == '\t') {
		end--
	}
	if n.Kind == yaml.ScalarNode && n.Style == 0 && string(src[off:end]) != n.Value && n.Tag == "!!str" {
		return -1 // a plain scalar folded over several lines
	}
	return end
}

// quotedEnd is the offset past the quoted scalar starting at off.
func quotedEnd(src []byte, off int) int {
	q := src[off]
	for i := off + 1; i < len(src); i++ {
		switch {
		case q == '"' && src[i] == '\\':
			i++
		case src[i] == q && q == '\'' && i+1 < len(src) && src[i+1] == '\'':
			i++
		case src[i] == q:
			return i + 1
		}
	}
	return -1
}

// replaceValue replaces the value old (of key, or a sequence item when key is
// nil) by val.
func (d *doc) replaceValue(key, old, val *yaml.Node, chain []step, flow bool) ([]byte, error) {
	if old.Kind == yaml.AliasNode {
		return nil, errors.New("replace an alias")
	}
	oldInline := old.Kind == yaml.ScalarNode || old.Style&yaml.FlowStyle != 0
	if oldInline {
		if end := d.tokenEnd(old, flow); end >= 0 {
			if val.Kind == yaml.ScalarNode || flow || old.Style&yaml.FlowStyle != 0 {
				text := d.flowValue(val)
				if val.Kind == yaml.ScalarNode && !flow {
					text = d.scalar(val)
				}
				return splice(d.src, d.offset(old), end, text), nil
			}
		}
	}
	if flow {
		return nil, errors.New("replace a multi-line value in a flow collection")
	}
	// A block value: rewrite it from the key's colon (or the item's dash) to
	// its last line.
	end := d.contentEnd(chain, old)
	d.literal = old.Style&yaml.LiteralStyle != 0
	var b strings.Builder
	if key == nil {
		d.writeItem(&b, val, old.Column-1)
		return splice(d.src, d.offset(old), end, b.String()), nil
	}
	colon := d.tokenEnd(key, false)
	if colon < 0 {
		return nil, errors.New("key spans lines")
	}
	for colon < len(d.src) && d.src[colon] != ':' {
		colon++
	}
	d.writeAfterKey(&b, val, key.Column-1)
	return splice(d.src, colon+1, end, b.String()), nil
}

// removeLines removes a block mapping entry (key and value) or sequence item.
func (d *doc) removeLines(key, val *yaml.Node, chain []step) ([]byte, error) {
	first := val
	if key != nil {
		first = key
	}
	if !d.blankBefore(first) || (key != nil && !bytes.Equal(bytes.TrimLeft(d.src[d.lines[first.Line-1]:d.offset(first)], " "), nil)) {
		return nil, errors.New("entry does not start its line")
	}
	end := d.contentEnd(chain, val)
	return splice(d.src, d.lines[first.Line-1], end, ""), nil
}

// addFlow adds an entry (already rendered) at the end of a flow collection.
func (d *doc) addFlow(coll *yaml.Node, entry string) ([]byte, error) {
	if len(coll.Content) == 0 {
		open := d.offset(coll)
		return splice(d.src, open+1, open+1, entry), nil
	}
	var lastStart *yaml.Node
	lastNode := coll.Content[len(coll.Content)-1]
	if coll.Kind == yaml.MappingNode {
		lastStart = coll.Content[len(coll.Content)-2]
	} else {
		lastStart = lastNode
	}
	end := d.tokenEnd(lastNode, true)
	if end < 0 {
		return nil, errors.New("cannot find the end of the last entry")
	}
	sep := ", "
	if lastStart.Line > coll.Line && d.blankBefore(lastStart) {
		// One entry a line (pretty-printed JSON): a new line at the same indentation.
		sep = "," + d.eol + strings.Repeat(" ", lastStart.Column-1)
	}
	return splice(d.src, end, end, sep+entry), nil
}

// flowEntry renders `key: value` inside a flow mapping.
func (d *doc) flowEntry(key string, val *yaml.Node) string {
	return d.flowString(key) + ": " + d.flowValue(val)
}

// flowValue renders a value in flow style: JSON in a JSON document, YAML flow
// with plain scalars where they read the same otherwise.
func (d *doc) flowValue(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		parts := make([]string, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, d.flowEntry(n.Content[i].Value, n.Content[i+1]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			parts = append(parts, d.flowValue(c))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if n.Tag == "!!str" {
		return d.flowString(n.Value)
	}
	return n.Value
}

func (d *doc) flowString(s string) string {
	if !d.isJSON {
		if out := yamlString(s); !strings.ContainsAny(out, ",[]{}#") || out[0] == '"' || out[0] == '\'' {
			return out
		}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// scalar renders a scalar for block YAML.
func (d *doc) scalar(n *yaml.Node) string {
	if d.isJSON {
		return d.flowValue(n)
	}
	if n.Tag == "!!str" {
		return yamlString(n.Value)
	}
	return n.Value
}

// yamlString renders a string as a YAML scalar that reads back as that string
// (quoted when it would read as something else, YAML 1.1 booleans included).
func yamlString(s string) string {
	if strings.ContainsAny(s, "\n\r") {
		b, _ := json.Marshal(s)
		return string(b)
	}
	b, err := yaml.Marshal(s)
	if err != nil {
		j, _ := json.Marshal(s)
		return string(j)
	}
	return strings.TrimSuffix(string(b), "\n")
}

func empty(n *yaml.Node) bool {
	return (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && len(n.Content) == 0
}

// writeEntry writes `key: value` as block YAML with the key at column col.
func (d *doc) writeEntry(b *strings.Builder, key string, val *yaml.Node, col int) {
	b.WriteString(strings.Repeat(" ", col))
	b.WriteString(yamlString(key))
	b.WriteByte(':')
	d.writeAfterKey(b, val, col)
}

// writeAfterKey writes what follows `key:` (whose key is at column col).
func (d *doc) writeAfterKey(b *strings.Builder, val *yaml.Node, col int) {
	switch {
	case val.Kind == yaml.MappingNode && !empty(val):
		b.WriteString(d.eol)
		for i := 0; i+1 < len(val.Content); i += 2 {
			d.writeEntry(b, val.Content[i].Value, val.Content[i+1], col+d.indent)
		}
	case val.Kind == yaml.SequenceNode && !empty(val):
		b.WriteString(d.eol)
		d.writeItems(b, val.Content, col+d.seqOffset, false)
	case d.literal && val.Tag == "!!str" && literalOK(val.Value):
		b.WriteString(" " + d.literalBlock(val.Value, col+d.indent))
	default:
		b.WriteString(" " + d.inline(val) + d.eol)
	}
}

// literalOK reports whether s reads back the same from a literal block scalar.
func literalOK(s string) bool {
	return strings.Contains(s, "\n") && !strings.ContainsAny(s, "\r\t") && !strings.HasPrefix(s, " ") && !strings.HasPrefix(s, "\n")
}

// literalBlock writes s as a literal block scalar (from its `|` indicator)
// with its lines at column col.
func (d *doc) literalBlock(s string, col int) string {
	body := strings.TrimRight(s, "\n")
	trailing := len(s) - len(body)
	chomp := "-"
	switch {
	case trailing == 1:
		chomp = ""
	case trailing > 1:
		chomp = "+"
	}
	var b strings.Builder
	b.WriteString("|" + chomp + d.eol)
	for _, l := range strings.Split(body, "\n") {
		if l != "" {
			b.WriteString(strings.Repeat(" ", col) + l)
		}
		b.WriteString(d.eol)
	}
	for i := 1; i < trailing; i++ {
		b.WriteString(d.eol)
	}
	return b.String()
}

// writeItems writes block sequence items with their dash at column col; the
// first one continues the current line when firstInline.
func (d *doc) writeItems(b *strings.Builder, items []*yaml.Node, col int, firstInline bool) {
	for i, it := range items {
		if i > 0 || !firstInline {
			b.WriteString(strings.Repeat(" ", col))
		}
		b.WriteString("- ")
		d.writeItem(b, it, col+2)
	}
}

// writeItem writes a sequence item's value after its `- `, continuing at
// column col.
func (d *doc) writeItem(b *strings.Builder, val *yaml.Node, col int) {
	switch {
	case val.Kind == yaml.MappingNode && !empty(val):
		for i := 0; i+1 < len(val.Content); i += 2 {
			if i == 0 {
				b.WriteString(yamlString(val.Content[0].Value) + ":")
				d.writeAfterKey(b, val.Content[1], col)
				continue
			}
			d.writeEntry(b, val.Content[i].Value, val.Content[i+1], col)
		}
	case val.Kind == yaml.SequenceNode && !empty(val):
		d.writeItems(b, val.Content, col, true)
	default:
		b.WriteString(d.inline(val) + d.eol)
	}
}

// inline renders a scalar or an empty collection on one line.
func (d *doc) inline(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return d.scalar(n)
	}
	return d.flowValue(n)
}
