package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/meshgate/meshgate/internal/policy"
)

// SARIF layout (what GitHub code scanning accepts): one run whose tool driver is
// meshgate with every rule (id, name, shortDescription, helpUri, default level);
// one result per finding (enforce: level error, warn: level warning) located at
// its file (URI relative to the working directory, as code scanning wants it for
// files in the repository) and line. Changes are not problems and are not in
// SARIF. Inputs that cannot be read are toolExecutionNotifications of the run's
// invocation, which is then not successful; notes (skipped inputs, duplicates,
// what the World did not know) are notifications too, of level note (warning
// for duplicates), and do not make the run unsuccessful.

// InformationURI is meshgate's home page.
const InformationURI = "https://github.com/meshgate/meshgate"

// RuleHelpURI is where a rule is documented.
func RuleHelpURI(id string) string {
	return InformationURI + "/blob/main/docs/rules.md#" + id
}

// ToolVersion is reported in SARIF; the command sets it from its build version.
var ToolVersion = "dev"

func writeSARIF(w io.Writer, res *Result, workDir string) error {
	rep := sarif.NewReport()
	run := sarif.NewRunWithInformationURI("meshgate", InformationURI)
	run.Tool.Driver.WithVersion(ToolVersion)
	for _, r := range policy.Rules() {
		level := "warning"
		if r.Default == policy.Enforce {
			level = "error"
		}
		if m := res.Config.Mode(r.ID); m == policy.Enforce {
			level = "error"
		} else if m == policy.Warn {
			level = "warning"
		}
		run.AddRule(r.ID).
			WithName(ruleName(r.ID)).
			WithDescription(r.Summary).
			WithFullDescription(sarif.NewMultiformatMessageString().WithText(r.Summary)).
			WithHelpURI(RuleHelpURI(r.ID)).
			WithHelp(sarif.NewMultiformatMessageString().WithText(fmt.Sprintf("%s. See %s", r.Summary, RuleHelpURI(r.ID)))).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(level))
	}
	for _, o := range res.Objects {
		for _, f := range o.Findings {
			level := "warning"
			if f.Mode == policy.Enforce {
				level = "error"
			}
			msg := clean(fmt.Sprintf("%s: %s%s", f.Object, fieldPrefix(f.Field), f.Message))
			result := run.CreateResultForRule(f.Rule).
				WithLevel(level).
				WithMessage(sarif.NewTextMessage(msg))
			loc := sarif.NewLocationWithPhysicalLocation(physical(f.File, f.Line, workDir))
			loc.AddLogicalLocation(sarif.NewLogicalLocation().
				WithFullyQualifiedName(clean(logicalName(f.Object, f.Field))).
				WithKind("object"))
			result.AddLocation(loc)
			if f.Mode == policy.Suppressed {
				result.AddSuppression(sarif.NewSuppression().WithKind("external").WithJustification("suppressed in meshgate's configuration"))
			}
		}
	}
	inv := sarif.NewInvocation().WithExecutionSuccessful(len(res.Errors) == 0)
	for _, e := range res.Errors {
		n := sarif.NewNotification().
			WithLevel("error").
			WithMessage(sarif.NewTextMessage(clean(e.Message))).
			AddLocation(sarif.NewLocationWithPhysicalLocation(physical(e.File, e.Line, workDir)))
		inv.AddToolExecutionNotification(n)
	}
	for _, n := range allNotes(res) {
		level := "note"
		if n.Kind == NoteDuplicate {
			level = "warning"
		}
		nt := sarif.NewNotification().WithLevel(level).WithMessage(sarif.NewTextMessage(clean(n.Kind + ": " + n.Message)))
		if n.File != "" {
			nt.AddLocation(sarif.NewLocationWithPhysicalLocation(physical(n.File, n.Line, workDir)))
		}
		inv.AddToolExecutionNotification(nt)
	}
	run.AddInvocation(inv)
	rep.AddRun(run)
	var raw bytes.Buffer
	if err := rep.Write(&raw); err != nil {
		return err
	}
	// go-sarif writes every optional array as [] and every optional index as -1
	// (SARIF's "absent"); drop them so the log holds what meshgate says.
	var doc any
	if err := json.Unmarshal(raw.Bytes(), &doc); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(pruneSARIF(doc, ""))
}

// sarifDefaults are the properties whose value -1 means "absent" in SARIF.
var sarifDefaults = map[string]bool{"index": true, "byteOffset": true, "charOffset": true, "rank": true, "id": true, "parentIndex": true}

// pruneSARIF removes absent values (-1 defaults, empty arrays and objects) from
// a decoded SARIF log, except the arrays SARIF or GitHub require (runs, results).
func pruneSARIF(v any, key string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e = pruneSARIF(e, k)
			if absent(k, e) {
				delete(t, k)
				continue
			}
			t[k] = e
		}
	case []any:
		for i, e := range t {
			t[i] = pruneSARIF(e, key)
		}
	}
	return v
}

func absent(key string, v any) bool {
	switch t := v.(type) {
	case []any:
		return len(t) == 0 && key != "runs" && key != "results"
	case map[string]any:
		return len(t) == 0
	case float64:
		return t == -1 && sarifDefaults[key]
	}
	return false
}

// ruleName turns a rule id into the PascalCase name SARIF viewers show.
func ruleName(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func logicalName(o policy.ObjectRef, field string) string {
	name := o.Kind + "/"
	if o.Namespace != "" {
		name += o.Namespace + "/"
	}
	name += o.Name
	if field != "" {
		name += "." + field
	}
	return name
}

func physical(file string, line int, workDir string) *sarif.PhysicalLocation {
	p := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(artifactURI(file, workDir)))
	if line > 0 {
		p.WithRegion(sarif.NewRegion().WithStartLine(line))
	}
	return p
}

// artifactURI is file as a URI reference relative to workDir when it is under
// it (GitHub matches those to repository files), else an absolute file URI.
func artifactURI(file, workDir string) string {
	if file == StdinName {
		return "stdin"
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	if workDir != "" {
		if rel, err := filepath.Rel(workDir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return (&url.URL{Path: filepath.ToSlash(rel)}).String()
		}
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}
