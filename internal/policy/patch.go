package policy

import (
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// A mutation states each change once, as a field path: the change helpers
// below record the change's Field (fld.String(), what people read) and its RFC
// 6902 operation, whose JSON pointer FieldPointer derives from the same path.
// Each helper records the operation against the object as it is before the
// caller's in-place edit, so a mutator calls it next to that edit and the
// operations apply in order to the object as submitted.

// Operations of RFC 6902 the change helpers emit.
const (
	opAdd     = "add"
	opReplace = "replace"
)

// Add records a change that sets fld to value with an RFC 6902 "add": it
// creates an absent object member (and sets one that exists).
func (r *Report) Add(rule string, fld *field.Path, value any, reason string) {
	r.record(rule, fld, reason, opAdd, "", value)
}

// Replace records a change that sets fld, which exists, to value with an RFC
// 6902 "replace".
func (r *Report) Replace(rule string, fld *field.Path, value any, reason string) {
	r.record(rule, fld, reason, opReplace, "", value)
}

// Append records a change that appends item to the list at fld, which holds n
// items before the change: the list is created when it has none (it may be
// absent), else item is added at its end ("-").
func (r *Report) Append(rule string, fld *field.Path, n int, item any, reason string) {
	if n == 0 {
		r.record(rule, fld, reason, opAdd, "", []any{item})
		return
	}
	r.record(rule, fld, reason, opAdd, "-", item)
}

// SetKey records a change that sets key to value in the string map m at fld,
// as m is before the change: an existing key is replaced, the map is created
// when it has no entries (it may be absent), else the key is added. The
// change's Field is fld.Key(key).
func (r *Report) SetKey(rule string, fld *field.Path, m map[string]string, key, value, reason string) {
	entry := fld.Key(key)
	switch _, exists := m[key]; {
	case exists:
		r.Replace(rule, entry, value, reason)
	case len(m) == 0:
		op := jsonpatch.NewOperation(opAdd, FieldPointer(fld), map[string]any{key: value})
		r.Changes = append(r.Changes, Change{Rule: rule, Object: r.Object, Field: entry.String(), Reason: reason, Ops: []jsonpatch.Operation{op}})
	default:
		r.Add(rule, entry, value, reason)
	}
}

// record records the change of fld made by op at fld's pointer, followed by
// the reference token last when it is not empty. The pointer is derived from
// the Field string, rendered once.
func (r *Report) record(rule string, fld *field.Path, reason, op, last string, value any) {
	f := fieldString(fld)
	o := jsonpatch.NewOperation(op, fieldStringPointer(f, last), value)
	r.Changes = append(r.Changes, Change{Rule: rule, Object: r.Object, Field: f, Reason: reason, Ops: []jsonpatch.Operation{o}})
}

// FieldPointer returns the RFC 6901 JSON pointer of the field path fld: each
// field name (Child) and each subscript (Index: a list index; Key: a map key)
// is one reference token, with "~" escaped as "~0" and "/" as "~1". A nil path
// is the whole document (""). Append's end of a list ("-") is added by Append.
//
// The pointer is read from fld's string form (spec.ports[0].name,
// metadata.annotations[sidecar.istio.io/inject]), so a map key must not contain
// "]": Kubernetes label and annotation keys cannot. FieldPointer panics on a
// path it cannot read, which is a bug in the mutation that built it.
func FieldPointer(fld *field.Path) string {
	return fieldStringPointer(fieldString(fld), "")
}

// fieldStringPointer is FieldPointer of the path whose string form is s, with
// the reference token last (unescaped) appended when it is not empty.
func fieldStringPointer(s, last string) string {
	var b strings.Builder
	b.Grow(len(s) + 8 + len(last))
	for i := 0; i < len(s); {
		var token string
		switch s[i] {
		case '[':
			end := strings.IndexByte(s[i+1:], ']')
			if end < 0 {
				panic(fmt.Sprintf("policy.FieldPointer: unterminated subscript in %q", s))
			}
			token = s[i+1 : i+1+end]
			i += end + 2
		default:
			if i > 0 {
				if s[i] != '.' {
					panic(fmt.Sprintf("policy.FieldPointer: %q: a subscript must be followed by '.', '[' or the end (a map key with ']'?)", s))
				}
				i++
			}
			end := strings.IndexAny(s[i:], ".[]")
			if end < 0 {
				end = len(s) - i
			}
			token = s[i : i+end]
			i += end
			if i < len(s) && s[i] == ']' {
				panic(fmt.Sprintf("policy.FieldPointer: %q: ']' outside a subscript (a map key with ']'?)", s))
			}
		}
		b.WriteByte('/')
		writeToken(&b, token)
	}
	if last != "" {
		b.WriteByte('/')
		writeToken(&b, last)
	}
	return b.String()
}

// writeToken writes one JSON pointer reference token, escaped.
func writeToken(b *strings.Builder, token string) {
	if !strings.ContainsAny(token, "~/") {
		b.WriteString(token)
		return
	}
	_, _ = pointerEscaper.WriteString(b, token) // a strings.Builder does not fail
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")
