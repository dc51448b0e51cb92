package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Chunk is one document of a stream, as bytes, before parsing.
type Chunk struct {
	// Index is the document's 1-based position in its stream.
	Index int
	// Line is the 1-based line of the stream on which the chunk starts (the
	// `---` separator line, when there is one).
	Line int
	// Raw is the document's bytes, including its leading `---` line if any.
	Raw []byte
}

// Split cuts a YAML stream into documents at `---` separator lines (a line that
// starts with `---` followed by nothing, a space or a tab), the way kubectl does.
// Every chunk keeps its separator line, so that parsing it gives line numbers of
// the whole stream and writing the chunks back gives the stream back. A UTF-8 byte
// order mark is dropped. Split never fails; whether a chunk parses is decided later.
func Split(data []byte) []Chunk {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var chunks []Chunk
	start, startLine := 0, 1
	line := 1
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		if off > start && isSeparator(data[off:next]) {
			chunks = append(chunks, Chunk{Line: startLine, Raw: data[start:off]})
			start, startLine = off, line
		}
		off = next
		line++
	}
	if start < len(data) {
		chunks = append(chunks, Chunk{Line: startLine, Raw: data[start:]})
	}
	for i := range chunks {
		chunks[i].Index = i + 1
	}
	return chunks
}

// isSeparator reports whether line (with its newline) is a document separator.
func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	if len(line) == 3 {
		return true
	}
	switch line[3] {
	case ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// blank reports whether b holds only whitespace, comments and separator lines
// (a document with nothing in it).
func blank(b []byte) bool {
	for len(b) > 0 {
		end := bytes.IndexByte(b, '\n')
		line := b
		if end >= 0 {
			line, b = b[:end], b[end+1:]
		} else {
			b = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || (isSeparator(line) && len(bytes.TrimSpace(t[3:])) == 0) {
			continue
		}
		if isSeparator(line) && bytes.TrimSpace(t[3:])[0] == '#' {
			continue
		}
		return false
	}
	return true
}

// JSONValues splits a stream of concatenated JSON values ({...}{...} or one per
// line, as `kubectl get -o json` pipelines produce) into byte ranges. ok is false
// when raw is not such a stream.
func JSONValues(raw []byte) (ranges [][2]int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return ranges, len(ranges) > 0
		}
		if err != nil {
			return nil, false
		}
		end := int(dec.InputOffset())
		start := end - len(v)
		ranges = append(ranges, [2]int{start, end})
	}
}

// utf8BOM is the UTF-8 byte order mark.
var utf8BOM = []byte("\xef\xbb\xbf")

// stripBOM drops a UTF-8 byte order mark at the start of a document (after
// its `---` line, if any), as kubectl does: files concatenated into one stream
// carry theirs after the separator. raw is not modified.
func stripBOM(raw []byte) []byte {
	at := 0
	if isSeparator(raw[:min(len(raw), 4)]) {
		nl := bytes.IndexByte(raw, '\n')
		if nl < 0 {
			return raw
		}
		at = nl + 1
	}
	if !bytes.HasPrefix(raw[at:], utf8BOM) {
		return raw
	}
	out := make([]byte, 0, len(raw)-len(utf8BOM))
	out = append(out, raw[:at]...)
	return append(out, raw[at+len(utf8BOM):]...)
}

// templateLine is the line (1-based, in raw) of the first Go template action
// where YAML cannot have one, or 0: `{{` at the start of a line or of a plain
// value (`key: {{ ... }}`, `- {{ ... }}`). A `{{` inside a quoted or plain
// string (`summary: "{{ $labels.pod }} down"`, as in alerting rules) is data.
func templateLine(raw []byte) int {
	off := 0
	for {
		i := bytes.Index(raw[off:], []byte("{{"))
		if i < 0 {
			return 0
		}
		at := off + i
		lineStart := bytes.LastIndexByte(raw[:at], '\n') + 1
		if templateAt(raw[lineStart:at]) {
			return 1 + bytes.Count(raw[:lineStart], []byte{'\n'})
		}
		off = at + 2
	}
}

// templateAt reports whether a `{{` preceded by prefix on its line starts a
// YAML value or line: prefix is indentation, an optional `- ` and an optional
// plain `key: `.
func templateAt(prefix []byte) bool {
	p := bytes.TrimLeft(prefix, " \t")
	if bytes.HasPrefix(p, []byte("- ")) || bytes.HasPrefix(p, []byte("-\t")) {
		p = bytes.TrimLeft(p[1:], " \t")
	}
	if len(p) == 0 {
		return true
	}
	if p[0] == '#' || p[0] == '"' || p[0] == '\'' {
		return false
	}
	key, rest, ok := bytes.Cut(p, []byte(":"))
	return ok && len(key) > 0 && len(rest) > 0 && len(bytes.TrimLeft(rest, " \t")) == 0 && (rest[0] == ' ' || rest[0] == '\t')
}
