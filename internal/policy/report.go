package policy

import (
	"encoding/json"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
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
	// InTree: the rule's in-tree form reports this finding itself, so an
	// admission server whose in-tree policies are installed leaves it out
	// (engine.SkipInTree); `meshgate check` reports it like any other.
	InTree bool `json:"-"`
	// Existing: on an UPDATE, the old object had this finding too (the same
	// Key), so it is a warning whatever the rule's mode
	// (updates.allowExistingFindings); the message ends in ExistingNote.
	Existing bool `json:"-"`
}

// ExistingNote ends the message of a finding the old object of an UPDATE had
// too. The in-tree policies append the same text.
const ExistingNote = " (the object had this before the update: allowed, fix it when you can)"

// Key is a finding's identity across an UPDATE: its rule and the field it is
// about (not the message, which may name values the update changed).
func (f Finding) Key() string { return f.Rule + " " + f.Field }

// String renders the finding the way admission warnings and denials show it.
func (f Finding) String() string {
	return fmt.Sprintf("[%s] %s: %s: %s", f.Rule, f.Object, f.Field, f.Message)
}

// Change is one thing a mutation did, with the patch operations that do it.
// Report's change helpers (Add, Replace, Append, SetKey) derive both Field and
// the operations' JSON pointers from one field path.
type Change struct {
	Rule   string    `json:"rule"`
	Object ObjectRef `json:"object"`
	Field  string    `json:"field"`
	Reason string    `json:"reason"`
	// Ops are the RFC 6902 operations that make the change, against the object
	// as submitted with the earlier changes applied.
	Ops []jsonpatch.Operation `json:"-"`
}

// Report collects what one rule found and changed on one object.
type Report struct {
	Object   ObjectRef
	Changes  []Change
	Findings []Finding
}

// Find records a finding about fld.
func (r *Report) Find(rule string, mode Mode, fld *field.Path, format string, args ...any) {
	if mode == Off || mode == "" {
		return
	}
	r.Findings = append(r.Findings, Finding{Rule: rule, Mode: mode, Object: r.Object, Field: fieldString(fld), Message: fmt.Sprintf(format, args...)})
}

// FindInTree is Find for a finding the rule's in-tree form reports exactly
// as the rule does (Finding.InTree).
func (r *Report) FindInTree(rule string, mode Mode, fld *field.Path, format string, args ...any) {
	n := len(r.Findings)
	r.Find(rule, mode, fld, format, args...)
	for i := n; i < len(r.Findings); i++ {
		r.Findings[i].InTree = true
	}
}

// Merge appends other's changes and findings to r.
func (r *Report) Merge(other Report) {
	r.Changes = append(r.Changes, other.Changes...)
	r.Findings = append(r.Findings, other.Findings...)
}

// Ops returns the patch operations of every change, in order.
func (r *Report) Ops() []jsonpatch.Operation {
	var ops []jsonpatch.Operation
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
