package manifest

import (
	"strconv"
	"strings"
)

// LineOf returns the line of the field at path, written in Kubernetes field-path
// syntax (k8s.io/apimachinery/pkg/util/validation/field: `spec.ports[0].name`,
// `metadata.annotations[proxy.istio.io/config]`). A field that does not exist
// (yet: a finding may be about a key a mutation adds) gives the line of its
// deepest existing parent; an empty path gives the object's line.
func (o *Object) LineOf(path string) int {
	if o == nil {
		return 0
	}
	if o.pos == nil || o.root < 0 {
		return o.Line
	}
	cur := o.root
	segs := parseFieldPath(path)
	for i := 0; i < len(segs); i++ {
		next := o.lookup(cur, segs[i])
		if next < 0 && !segs[i].bracket {
			// A key with dots written as a plain name (field.NewPath("a.b")).
			name := segs[i].text
			for j := i + 1; j < len(segs) && !segs[j].bracket && next < 0; j++ {
				name += "." + segs[j].text
				if next = o.lookup(cur, segment{text: name}); next >= 0 {
					i = j
				}
			}
		}
		if next < 0 {
			break
		}
		cur = next
	}
	return o.pos[cur].lineNo()
}

// Release drops the decoded object and the position index; Source, Doc, Item
// and Line stay. LineOf then gives Line.
func (o *Object) Release() {
	o.Object, o.pos = nil, nil
}

// lookup finds the child of entry parent named by seg, or -1.
func (o *Object) lookup(parent int32, seg segment) int32 {
	idx := -1
	if seg.bracket {
		if n, err := strconv.Atoi(seg.text); err == nil {
			idx = n
		}
	}
	return findChild(o.pos, parent, seg.text, idx)
}

// findChild finds the child of entry parent that is the mapping key key, or the
// sequence item number idx (idx < 0: none); -1 when there is none.
func findChild(pos []posEntry, parent int32, key string, idx int) int32 {
	if parent < 0 || int(parent) >= len(pos) {
		return -1
	}
	found := int32(-1)
	n := 0
	for i := parent + 1; i < pos[parent].end && int(i) < len(pos); i = pos[i].end {
		e := &pos[i]
		if e.isItem() {
			if n == idx {
				return i
			}
			n++
		} else if e.key == key {
			found = i // the last duplicate key wins, as in the decoded map
		}
		if e.end <= i {
			break // never loop on a malformed index
		}
	}
	return found
}

// segment is one step of a field path: a name (`spec`) or a subscript (`[0]`,
// `[proxy.istio.io/config]`).
type segment struct {
	text    string
	bracket bool
}

// parseFieldPath splits a field.Path string. A subscript ends at the first `]`
// that is followed by `.`, `[` or the end, so keys holding `]` still parse.
func parseFieldPath(p string) []segment {
	var out []segment
	for i := 0; i < len(p); {
		switch p[i] {
		case '.':
			i++
		case '[':
			end := -1
			for k := i + 1; k < len(p); k++ {
				if p[k] == ']' && (k+1 == len(p) || p[k+1] == '.' || p[k+1] == '[') {
					end = k
					break
				}
			}
			if end < 0 {
				out = append(out, segment{text: p[i+1:], bracket: true})
				return out
			}
			out = append(out, segment{text: p[i+1 : end], bracket: true})
			i = end + 1
		default:
			end := strings.IndexAny(p[i:], ".[")
			if end < 0 {
				out = append(out, segment{text: p[i:]})
				return out
			}
			out = append(out, segment{text: p[i : i+end]})
			i += end
		}
	}
	return out
}
