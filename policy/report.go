package policy

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Mode is what a rule does with what it finds.
type Mode string

const (
	// Enforce denies the object (admission) or fails the check (exit code 1).
	Enforce Mode = "enforce"
	// Warn reports an admission warning (or a warning line in CI).
	Warn Mode = "warn"
	// Off disables the rule.
	Off Mode = "off"
)

// UnmarshalJSON accepts the mode names, and false for "off": YAML 1.1 reads an
// unquoted off as a boolean, and users write it unquoted.
func (m *Mode) UnmarshalJSON(b []byte) error {
	if string(b) == "false" {
		*m = Off
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode must be enforce, warn or off, not %s", b)
	}
	*m = Mode(s)
	return nil
}

// Valid reports whether m is one of the known modes.
func (m Mode) Valid() bool { return m == Enforce || m == Warn || m == Off }

// ObjectRef names the object a finding or change is about.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
}

// GroupVersionKind returns the ref's GVK.
func (o ObjectRef) GroupVersionKind() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
}

// String renders "Kind namespace/name" (or "Kind name" when cluster-scoped).
func (o ObjectRef) String() string {
	name := o.Name
	if name == "" {
		name = "<unnamed>"
	}
	if o.Namespace == "" {
		return o.Kind + " " + name
	}
	return o.Kind + " " + o.Namespace + "/" + name
}

// Finding is one verdict of a rule on one object.
type Finding struct {
	Rule    string    `json:"rule"`
	Mode    Mode      `json:"mode"`
	Object  ObjectRef `json:"object"`
	Field   string    `json:"field"`
	Message string    `json:"message"`
}

// String renders the finding the way admission warnings and denials show it.
func (f Finding) String() string {
	return fmt.Sprintf("[%s] %s: %s: %s", f.Rule, f.Object, f.Field, f.Message)
}

// PatchOp is one RFC 6902 operation against the object as it was submitted.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// MarshalJSON writes "value" for the operations that take one (add, replace, test),
// even when it is an empty string, and leaves it out for the others.
func (p PatchOp) MarshalJSON() ([]byte, error) {
	switch p.Op {
	case "add", "replace", "test":
		return json.Marshal(struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		}{p.Op, p.Path, p.Value})
	default:
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{p.Op, p.Path})
	}
}

// Change is one thing a mutation did, with the patch operations that do it.
type Change struct {
	Rule   string    `json:"rule"`
	Object ObjectRef `json:"object"`
	Field  string    `json:"field"`
	Reason string    `json:"reason"`
	Ops    []PatchOp `json:"-"`
}

// Report collects what one rule found and changed on one object.
type Report struct {
	Object   ObjectRef
	Changes  []Change
	Findings []Finding
}

// Change records a change to fld, done by ops.
func (r *Report) Change(rule string, fld *field.Path, reason string, ops ...PatchOp) {
	r.Changes = append(r.Changes, Change{Rule: rule, Object: r.Object, Field: fld.String(), Reason: reason, Ops: ops})
}

// Find records a finding about fld.
func (r *Report) Find(rule string, mode Mode, fld *field.Path, format string, args ...any) {
	if mode == Off || mode == "" {
		return
	}
	r.Findings = append(r.Findings, Finding{Rule: rule, Mode: mode, Object: r.Object, Field: fieldString(fld), Message: fmt.Sprintf(format, args...)})
}

// Merge appends other's changes and findings to r.
func (r *Report) Merge(other Report) {
	r.Changes = append(r.Changes, other.Changes...)
	r.Findings = append(r.Findings, other.Findings...)
}

// Ops returns the patch operations of every change, in order.
func (r *Report) Ops() []PatchOp {
	var ops []PatchOp
	for _, c := range r.Changes {
		ops = append(ops, c.Ops...)
	}
	return ops
}

func fieldString(p *field.Path) string {
	if p == nil {
		return ""
	}
	return p.String()
}

// Pointer builds an RFC 6901 JSON pointer from path segments (strings or ints).
func Pointer(segments ...any) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		switch v := s.(type) {
		case string:
			b.WriteString(EscapePointer(v))
		case int:
			fmt.Fprintf(&b, "%d", v)
		default:
			panic(fmt.Sprintf("policy.Pointer: unsupported segment %T", s))
		}
	}
	return b.String()
}

// EscapePointer escapes one JSON pointer reference token ("~" -> "~0", "/" -> "~1").
func EscapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return pointerEscaper.Replace(s)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// Add is an RFC 6902 "add" (which replaces an existing object member).
func Add(path string, value any) PatchOp { return PatchOp{Op: "add", Path: path, Value: value} }

// Replace is an RFC 6902 "replace".
func Replace(path string, value any) PatchOp { return PatchOp{Op: "replace", Path: path, Value: value} }

// AppendOp adds value to the end of the array at path, creating the array when it
// is absent or empty (curLen == 0).
func AppendOp(path string, curLen int, value any) PatchOp {
	if curLen == 0 {
		return Add(path, []any{value})
	}
	return Add(path+"/-", value)
}

// SetKeyOp sets key in the string map at path, creating the map when it is absent
// or empty (curLen == 0).
func SetKeyOp(path string, curLen int, key string, value string) PatchOp {
	if curLen == 0 {
		return Add(path, map[string]any{key: value})
	}
	return Add(path+"/"+EscapePointer(key), value)
}
