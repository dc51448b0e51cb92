package intree

import (
	"fmt"
	"regexp"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/policy"
)

// The variables of a policy that reports, on UPDATE, only what the update
// adds (updates.allowExistingFindings; engine.Review does the same). Such a
// policy declares VarFields, the field path of every finding on object
// (Finding.Field, in order), and takes UpdateVariables after it: its
// findings are those whose index into VarFields is in VarReported, each
// line ending in VarNote. Generate gives it a twin, bound with action Warn in
// every mode but off, that reports the other ones (the findings oldObject
// had too) with the note policy.ExistingNote.
const (
	// VarFields is the field path of each finding of the object.
	VarFields = "fields"
	// VarOldFields is the same for oldObject on an UPDATE when
	// updates.allowExistingFindings is on, else empty.
	VarOldFields = "oldFields"
	// VarReported are the indices into VarFields of the findings the policy
	// reports.
	VarReported = "reported"
	// VarNote ends each reported finding's line.
	VarNote = "note"
	// VarAllowExisting is updates.allowExistingFindings.
	VarAllowExisting = "cfgAllowExistingFindings"
)

// existingSuffix names the twin of a policy (Name(id + existingSuffix)).
const existingSuffix = "-existing"

// UpdateVariables are the variables a policy that declares VarFields takes
// after it: VarAllowExisting, VarOldFields (oldFields, the CEL list of field
// paths of oldObject's findings: the VarFields expression over oldObject),
// VarReported and VarNote, for the findings the update adds.
func UpdateVariables(cfg *policy.Config, oldFields string) []admissionregistrationv1.Variable {
	return append([]admissionregistrationv1.Variable{ConfigVariable(VarAllowExisting, cfg.AllowExisting())},
		Variables(
			VarOldFields, fmt.Sprintf("variables.%s && request.operation == 'UPDATE' && oldObject != null ? %s : []", VarAllowExisting, oldFields),
			VarReported, reported(false),
			VarNote, "''",
		)...)
}

func reported(existing bool) string {
	not := "!"
	if existing {
		not = ""
	}
	return fmt.Sprintf("variables.%s.transformList(j, f, %s(f in variables.%s), j)", VarFields, not, VarOldFields)
}

// existingTwin returns p's twin (see VarFields), or false when p does not
// declare VarReported.
func existingTwin(p admissionregistrationv1.ValidatingAdmissionPolicy) (admissionregistrationv1.ValidatingAdmissionPolicy, bool) {
	var twin admissionregistrationv1.ValidatingAdmissionPolicy
	found := false
	var vars []admissionregistrationv1.Variable
	for _, v := range p.Spec.Variables {
		switch v.Name {
		case VarReported:
			found = true
			v.Expression = reported(true)
		case VarNote:
			v.Expression = String(policy.ExistingNote)
		}
		vars = append(vars, v)
	}
	if !found {
		return twin, false
	}
	twin = *p.DeepCopy()
	twin.Spec.Variables = vars
	twin.Spec.MatchConditions = append(twin.Spec.MatchConditions, admissionregistrationv1.MatchCondition{
		Name: "update", Expression: "request.operation == 'UPDATE'",
	})
	// Only the validations of the findings; the others are the policy's.
	var vs []admissionregistrationv1.Validation
	for _, v := range twin.Spec.Validations {
		if strings.Contains(v.Expression, "variables.problems") {
			vs = append(vs, v)
		}
	}
	twin.Spec.Validations = vs
	// It only warns: it never blocks.
	fp := admissionregistrationv1.Ignore
	twin.Spec.FailurePolicy = &fp
	return twin, true
}

// IsExistingTwin reports whether a generated policy's name is that of a twin
// (see VarFields): the chart and Generate bind it with action Warn.
func IsExistingTwin(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	return strings.Contains(base, existingSuffix)
}

// objectRef is object read by an expression (not oldObject, namespaceObject
// or a field named object).
var objectRef = regexp.MustCompile(`(^|[^A-Za-z0-9_.])object\.`)

// varRef is a read of a policy variable.
var varRef = regexp.MustCompile(`variables\.([A-Za-z_][A-Za-z0-9_]*)`)

// LinesUpdate makes a policy whose variable problems (the last of vars)
// lists its findings as lines "[rule] Kind namespace/name: field: message"
// report, on UPDATE, only what the update adds (see VarFields): each
// variable that reads object, directly or through another, gets a twin
// "old_<name>" reading oldObject instead, evaluated only on an UPDATE with
// updates.allowExistingFindings on; the field of a finding is the second
// part of its line. For policies with few findings and no loops over the
// object: the old object costs as much as the new one.
func LinesUpdate(cfg *policy.Config, vars []admissionregistrationv1.Variable) []admissionregistrationv1.Variable {
	const all = "allProblems"
	onObject := map[string]bool{}
	var out, old []admissionregistrationv1.Variable
	for _, v := range vars {
		reads := objectRef.MatchString(v.Expression)
		for _, m := range varRef.FindAllStringSubmatch(v.Expression, -1) {
			reads = reads || onObject[m[1]]
		}
		name := v.Name
		if name == "problems" {
			name = all
		}
		out = append(out, admissionregistrationv1.Variable{Name: name, Expression: v.Expression})
		if !reads {
			continue
		}
		onObject[v.Name] = true
		e := objectRef.ReplaceAllString(v.Expression, "${1}oldObject.")
		e = varRef.ReplaceAllStringFunc(e, func(m string) string {
			if n := varRef.FindStringSubmatch(m)[1]; onObject[n] {
				if n == "problems" {
					n = all
				}
				return "variables.old_" + n
			}
			return m
		})
		old = append(old, admissionregistrationv1.Variable{Name: "old_" + name, Expression: e})
	}
	field := "l.split(': ')[1]"
	out = append(out, old...)
	out = append(out, Variables(VarFields, fmt.Sprintf("variables.%s.map(l, %s)", all, field))...)
	out = append(out, UpdateVariables(cfg, fmt.Sprintf("variables.old_%s.map(l, %s)", all, field))...)
	return append(out, Variables("problems", fmt.Sprintf("variables.%s.map(j, variables.%s[j] + variables.%s)", VarReported, all, VarNote))...)
}
