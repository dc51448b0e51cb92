package check

import (
	"encoding/json"
	"io"

	"github.com/meshgate/meshgate/internal/policy"
)

// JSONReport is the document `-o json` prints: findings and changes, each with
// file and line, plus errors and summary. Keys are
// only ever added, never renamed.
type JSONReport struct {
	Findings []JSONFinding `json:"findings"`
	Changes  []JSONChange  `json:"changes"`
	Errors   []JSONError   `json:"errors"`
	Notes    []JSONNote    `json:"notes"`
	Summary  Summary       `json:"summary"`
}

// JSONNote is one note in JSON output: kind is skipped (an input that is not a
// Kubernetes object), duplicate (an object defined more than once, or judged
// with another file's copy of one), world (what the World did not know, so
// rules could not apply), exempt (a Service the port rules skip as one of
// Istio's own) or overlay (an input object changes the cluster's or a --world
// file's copy of it, or does not show its labels). file and line are empty for
// the whole World.
type JSONNote struct {
	Kind    string `json:"kind"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// JSONFinding is one finding in JSON output.
type JSONFinding struct {
	Rule    string           `json:"rule"`
	Mode    policy.Mode      `json:"mode"`
	Object  policy.ObjectRef `json:"object"`
	Field   string           `json:"field"`
	Message string           `json:"message"`
	File    string           `json:"file"`
	Line    int              `json:"line"`
	// Kind is set for live objects (--live): violation or drift.
	Kind string `json:"kind,omitempty"`
}

// JSONChange is one change in JSON output.
type JSONChange struct {
	Rule   string           `json:"rule"`
	Object policy.ObjectRef `json:"object"`
	Field  string           `json:"field"`
	Reason string           `json:"reason"`
	File   string           `json:"file"`
	Line   int              `json:"line"`
}

// JSONError is one input that could not be read or reviewed.
type JSONError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// JSON builds the JSON report of res.
func (r *Result) JSON() JSONReport {
	out := JSONReport{Findings: []JSONFinding{}, Changes: []JSONChange{}, Errors: []JSONError{}, Notes: []JSONNote{}, Summary: r.Summary()}
	for _, o := range r.Objects {
		for _, f := range o.Findings {
			out.Findings = append(out.Findings, JSONFinding{Rule: f.Rule, Mode: f.Mode, Object: f.Object, Field: f.Field, Message: f.Message, File: f.File, Line: f.Line, Kind: f.Kind})
		}
		for _, c := range o.Changes {
			out.Changes = append(out.Changes, JSONChange{Rule: c.Rule, Object: c.Object, Field: c.Field, Reason: c.Reason, File: c.File, Line: c.Line})
		}
		for _, n := range o.Notes {
			out.Notes = append(out.Notes, JSONNote(n))
		}
	}
	for _, n := range r.Notes {
		out.Notes = append(out.Notes, JSONNote(n))
	}
	for _, e := range r.Errors {
		out.Errors = append(out.Errors, JSONError(e))
	}
	return out
}

func writeJSON(w io.Writer, res *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(res.JSON())
}
