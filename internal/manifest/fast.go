package manifest

import (
	"strings"
	"sync"
)

// The fast path reads the plain block YAML that almost every manifest is
// written in (what `helm template`, kustomize and `kubectl get -o yaml` print)
// straight into the unstructured object and its position index, without the
// token, event and node allocations of a general YAML parser. It accepts a
// strict subset and gives up, with no result, on anything else; the caller then
// parses the document with go.yaml.in/yaml/v3 as before. So the general parser
// stays the reference: every document the fast path reads gives exactly the
// object and positions the general path gives (FuzzFastPath proves it), and
// every broken document is reported by the general path, with its line.
//
// The subset, one physical line at a time (blank and comment lines anywhere):
//   - a block mapping at column 0 as the root; block mappings and block
//     sequences (also a sequence at its key's column) below it;
//   - `key: value` with a plain key of letters, digits and `_$./-`;
//   - `- value` and `- key: value` (a compact mapping) items;
//   - values on the key's or item's line: plain scalars (not containing
//     `: ` or ending in `:`), single- and double-quoted scalars (no
//     backslash escape), and flow sequences and mappings of those, each
//     closed on its line;
//   - a leading `---` separator line with no content after it.
//
// It gives up on tabs, carriage returns, control and non-ASCII bytes, anchors,
// aliases, tags, merge keys, block scalars, multi-line plain and quoted
// scalars, empty sequence items, duplicate keys, JSON documents and anything
// it does not recognise.

// fastLine is one line of a document that holds content.
type fastLine struct {
	num   int // 1-based line in the chunk
	begin int // offset of the line's first byte
	col   int // column where the content (of the rest of the line) starts
	start int // offset of the content
	end   int // offset after the content, trailing spaces trimmed
}

// fastParser reads one chunk. Lines are consumed in order; a parse function
// returns false when the document leaves the subset.
type fastParser struct {
	posIndex
	s     string
	lines []fastLine
	i     int
	depth int
}

// fastLines recycles the line index, which lives only while a document is
// read.
var fastLines = sync.Pool{New: func() any { return new([]fastLine) }}

// fastMaxDepth bounds nesting, far below the general parser's limit.
const fastMaxDepth = 200

// fastMaxKey is the longest key the fast path reads: a general YAML parser does
// not look further than 1,024 characters for a key's colon.
const fastMaxKey = 1000

// fastParse reads raw, whose line 1 is the stream's line firstLine, into the
// root mapping and its position index; ok is false when raw is outside the
// subset.
func fastParse(raw []byte, firstLine int) (obj map[string]any, pos []posEntry, ok bool) {
	p := &fastParser{s: string(raw), posIndex: posIndex{lineOffset: firstLine}}
	buf := fastLines.Get().(*[]fastLine)
	defer func() {
		*buf = p.lines[:0]
		fastLines.Put(buf)
	}()
	p.lines = (*buf)[:0]
	if !p.splitLines() || len(p.lines) == 0 {
		return nil, nil, false
	}
	first := p.lines[0]
	if first.col != 0 || p.seqItem(&first) {
		return nil, nil, false
	}
	// About one entry a line, and one per item of a flow collection.
	p.pos = make([]posEntry, 0, len(p.lines)+strings.Count(p.s, ",")+1)
	p.record(false, "", first.num)
	m, ok := p.mapping(0)
	if !ok || p.i != len(p.lines) {
		return nil, nil, false
	}
	p.close(0)
	return m, p.pos, true
}

// splitLines indexes the content lines, and refuses bytes outside the subset.
func (p *fastParser) splitLines() bool {
	s := p.s
	num := 0
	for off := 0; off < len(s); {
		num++
		begin := off
		end := strings.IndexByte(s[off:], '\n')
		if end < 0 {
			end = len(s)
			off = len(s)
		} else {
			end += off
			off = end + 1
		}
		for k := begin; k < end; k++ {
			if c := s[k]; c < ' ' || c > '~' {
				return false // tab, CR, control, DEL or non-ASCII
			}
		}
		start := begin
		for start < end && s[start] == ' ' {
			start++
		}
		for end > start && s[end-1] == ' ' {
			end--
		}
		if start == end || s[start] == '#' {
			continue
		}
		if num == 1 && strings.HasPrefix(s[begin:end], "---") {
			if rest := strings.TrimLeft(s[begin+3:end], " "); start == begin && (rest == "" || (rest[0] == '#' && end-begin > 3 && s[begin+3] == ' ')) {
				continue // the separator line
			}
			return false
		}
		p.lines = append(p.lines, fastLine{num: num, begin: begin, col: start - begin, start: start, end: end})
	}
	return true
}

// enter goes one level deeper, and reports false past fastMaxDepth; leave
// comes back.
func (p *fastParser) enter() bool {
	p.depth++
	return p.depth <= fastMaxDepth
}

func (p *fastParser) leave() { p.depth-- }

// seqItem reports whether l starts with a sequence item's `-`.
func (p *fastParser) seqItem(l *fastLine) bool {
	return p.s[l.start] == '-' && (l.start+1 == l.end || p.s[l.start+1] == ' ')
}

// at returns the current line if it is at column col, nil if there is none or
// it is less indented (the node at col has ended), and false if it is more
// indented (the document leaves the subset, or is broken).
func (p *fastParser) at(col int) (*fastLine, bool) {
	if p.i == len(p.lines) || p.lines[p.i].col < col {
		return nil, true
	}
	l := &p.lines[p.i]
	return l, l.col == col
}

// block reads the node whose first line is the current one, at column col.
func (p *fastParser) block(col int) (any, bool) {
	if p.seqItem(&p.lines[p.i]) {
		return p.sequence(col)
	}
	return p.mapping(col)
}

// mapping reads a block mapping whose keys are at column col.
func (p *fastParser) mapping(col int) (map[string]any, bool) {
	defer p.leave()
	if !p.enter() {
		return nil, false
	}
	out := map[string]any{}
	for {
		l, ok := p.at(col)
		if !ok {
			return nil, false
		}
		if l == nil || p.seqItem(l) {
			break
		}
		colon, ok := p.key(l.start, l.end)
		if !ok {
			return nil, false
		}
		key := keyString(resolvePlain(p.s[l.start:colon]), p.s[l.start:colon])
		if _, dup := out[key]; dup {
			return nil, false
		}
		id := p.record(false, key, l.num)
		rest := skipSpaces(p.s, colon+1, l.end)
		p.i++
		var v any
		if rest == l.end || p.s[rest] == '#' {
			// The value is on the next lines, or null.
			if p.i < len(p.lines) {
				next := &p.lines[p.i]
				switch {
				case next.col > col:
					v, ok = p.block(next.col)
				case next.col == col && p.seqItem(next):
					v, ok = p.sequence(col)
				}
			}
		} else {
			v, ok = p.inline(rest, l.end, l.num)
			if ok && p.i < len(p.lines) && p.lines[p.i].col > col {
				ok = false // a continuation line, or an error
			}
		}
		if !ok {
			return nil, false
		}
		p.close(id)
		out[key] = v
	}
	return out, true
}

// sequence reads a block sequence whose `-` are at column col.
func (p *fastParser) sequence(col int) ([]any, bool) {
	defer p.leave()
	if !p.enter() {
		return nil, false
	}
	out := []any{}
	for {
		l, ok := p.at(col)
		if !ok {
			return nil, false
		}
		if l == nil || !p.seqItem(l) {
			break
		}
		c := skipSpaces(p.s, l.start+1, l.end)
		if c == l.end || p.s[c] == '#' {
			return nil, false // an empty item, or one on the next lines
		}
		if p.s[c] == '-' && (c+1 == l.end || p.s[c+1] == ' ') {
			return nil, false // a nested sequence on the same line
		}
		id := p.record(true, "", l.num)
		var v any
		if _, isKey := p.key(c, l.end); isKey {
			// A compact mapping: its keys are at the column of the first one.
			l.col, l.start = c-l.begin, c
			v, ok = p.mapping(l.col)
		} else {
			p.i++
			v, ok = p.inline(c, l.end, l.num)
			if ok && p.i < len(p.lines) && p.lines[p.i].col > col {
				ok = false
			}
		}
		if !ok {
			return nil, false
		}
		p.close(id)
		out = append(out, v)
	}
	return out, true
}

// key finds the colon that ends a plain key starting at i on a line ending at
// end: the key has letters, digits and `_$./-`, does not start with `-`, and is
// followed by `:` and a space or the line's end.
func (p *fastParser) key(i, end int) (int, bool) {
	if i >= end || !keyStart(p.s[i]) {
		return 0, false
	}
	for k := i + 1; k < end && k-i <= fastMaxKey; k++ {
		c := p.s[k]
		if c == ':' {
			return k, k+1 == end || p.s[k+1] == ' '
		}
		if !keyByte(c) {
			return 0, false
		}
	}
	return 0, false
}

func keyStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c == '.' || c == '/'
}

func keyByte(c byte) bool { return keyStart(c) || c == '-' }

func skipSpaces(s string, i, end int) int {
	for i < end && s[i] == ' ' {
		i++
	}
	return i
}

// inline reads the value that starts at i on line number line, ending at end.
func (p *fastParser) inline(i, end, line int) (any, bool) {
	switch c := p.s[i]; c {
	case '"', '\'':
		v, next, ok := p.quoted(i, end)
		return v, ok && p.trailing(next, end)
	case '[', '{':
		v, next, ok := p.flow(i, end, line)
		return v, ok && p.trailing(next, end)
	case '|', '>', '&', '*', '!', '%', '@', '`', ',', ']', '}', '?', ':', '#':
		return nil, false
	case '-':
		if i+1 == end || p.s[i+1] == ' ' {
			return nil, false
		}
	}
	text := p.s[i:end]
	if k := strings.Index(text, " #"); k >= 0 {
		text = strings.TrimRight(text[:k], " ")
	}
	if strings.Contains(text, ": ") || strings.HasSuffix(text, ":") {
		return nil, false
	}
	return resolvePlain(text), true
}

// trailing reports whether only spaces and a comment follow offset i.
func (p *fastParser) trailing(i, end int) bool {
	k := skipSpaces(p.s, i, end)
	return k == end || (p.s[k] == '#' && k > i)
}

// quoted reads a single- or double-quoted scalar closed on its line.
func (p *fastParser) quoted(i, end int) (string, int, bool) {
	q := p.s[i]
	if q == '"' {
		k := strings.IndexByte(p.s[i+1:end], '"')
		if k < 0 {
			return "", 0, false
		}
		v := p.s[i+1 : i+1+k]
		if strings.IndexByte(v, '\\') >= 0 {
			return "", 0, false
		}
		return v, i + 2 + k, true
	}
	escaped := false
	for k := i + 1; k < end; k++ {
		if p.s[k] != '\'' {
			continue
		}
		if k+1 < end && p.s[k+1] == '\'' {
			escaped = true
			k++
			continue
		}
		v := p.s[i+1 : k]
		if escaped {
			v = strings.ReplaceAll(v, "''", "'")
		}
		return v, k + 1, true
	}
	return "", 0, false
}

// flow reads a flow sequence or mapping closed on its line, and returns the
// offset after it.
func (p *fastParser) flow(i, end, line int) (any, int, bool) {
	defer p.leave()
	if !p.enter() {
		return nil, 0, false
	}
	closer := byte(']')
	if p.s[i] == '{' {
		closer = '}'
	}
	i = skipSpaces(p.s, i+1, end)
	if i < end && p.s[i] == closer {
		if closer == ']' {
			return []any{}, i + 1, true
		}
		return map[string]any{}, i + 1, true
	}
	var seq []any
	var m map[string]any
	if closer == ']' {
		seq = []any{}
	} else {
		m = map[string]any{}
	}
	for i < end {
		var id int32
		var key string
		if closer == ']' {
			id = p.record(true, "", line)
		} else {
			colon, ok := p.key(i, end)
			if !ok {
				return nil, 0, false
			}
			key = keyString(resolvePlain(p.s[i:colon]), p.s[i:colon])
			if _, dup := m[key]; dup {
				return nil, 0, false
			}
			id = p.record(false, key, line)
			i = skipSpaces(p.s, colon+1, end)
		}
		v, next, ok := p.flowNode(i, end, line)
		if !ok {
			return nil, 0, false
		}
		p.close(id)
		if closer == ']' {
			seq = append(seq, v)
		} else {
			m[key] = v
		}
		i = skipSpaces(p.s, next, end)
		if i >= end {
			return nil, 0, false
		}
		switch p.s[i] {
		case closer:
			if closer == ']' {
				return seq, i + 1, true
			}
			return m, i + 1, true
		case ',':
			i = skipSpaces(p.s, i+1, end)
			if i >= end || p.s[i] == closer {
				return nil, 0, false // a trailing comma
			}
		default:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// flowNode reads one value inside a flow collection.
func (p *fastParser) flowNode(i, end, line int) (any, int, bool) {
	if i >= end {
		return nil, 0, false
	}
	switch c := p.s[i]; c {
	case '"', '\'':
		v, next, ok := p.quoted(i, end)
		return v, next, ok
	case '[', '{':
		return p.flow(i, end, line)
	case '>', '|', '&', '*', '!', '%', '@', '`', ',', ']', '}', '?', ':', '#':
		return nil, 0, false
	case '-':
		if i+1 == end || p.s[i+1] == ' ' || p.s[i+1] == ',' || p.s[i+1] == ']' || p.s[i+1] == '}' {
			return nil, 0, false
		}
	}
	k := i
	for k < end {
		c := p.s[k]
		if c == ',' || c == ']' || c == '}' {
			break
		}
		if c == ':' || c == '#' || c == '[' || c == '{' || c == '"' || c == '\'' {
			return nil, 0, false
		}
		k++
	}
	if k == end {
		return nil, 0, false
	}
	text := strings.TrimRight(p.s[i:k], " ")
	return resolvePlain(text), k, true
}
