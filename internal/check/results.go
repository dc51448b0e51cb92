package check

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitEnforce  = 1
	ExitBadInput = 2
)

// Result is what one run found.
type Result struct {
	// Files are the input files, in order, with their documents.
	Files []*File
	// Objects are the input objects reviewed, in order.
	Objects []*Reviewed
	// Errors are the inputs that could not be read or reviewed.
	Errors []InputError
	// Notes are what the report says besides findings and errors: inputs
	// skipped as not Kubernetes objects, objects defined twice, and questions
	// the World could not answer (so some rules could not apply).
	Notes []Note
	// Config is the configuration the engine ran with.
	Config *policy.Config
	// live are the audited live resources (--live), for -o openreports.
	live []audit.Resource
}

// File is one input stream.
type File struct {
	// Path is the path as given (or found under a directory); "-" is standard input.
	Path string
	// Rel is where --write-mutated writes it, relative to the output directory.
	Rel string
	// Unit names its World with --world-per-dir; Shared is the unit whose
	// objects that World also holds ("" for none).
	Unit, Shared string
	// BOM is true when the file starts with a UTF-8 byte order mark.
	BOM bool
	// Docs are its documents.
	Docs []*manifest.Document
}

// Reviewed is one input object and the engine's verdict on it.
type Reviewed struct {
	// Object is where the object came from. Its decoded object (Object.Object)
	// and the Result's objects and patch are kept only with Options.KeepObjects
	// (or --diff, --write-mutated).
	*manifest.Object
	// Ref names the object as written (namespace as in the manifest).
	Ref policy.ObjectRef
	// GVK is the object's group, version and kind.
	GVK schema.GroupVersionKind
	// Result is nil when the engine could not review the object (see Err).
	Result   *engine.Result
	Findings []Finding
	Changes  []Change
	// Err is why the object could not be reviewed.
	Err *InputError
	// Notes say which duplicated World objects the review used from another
	// file.
	Notes []Note
	// unknown are the questions the World could not answer for this review.
	unknown []question
}

// Finding is an engine finding with the file and line of its field.
type Finding struct {
	policy.Finding
	File string
	Line int
	// Kind is audit.KindViolation or audit.KindDrift for a live object
	// (--live), empty for a manifest's.
	Kind string
}

// Change is an engine change with the file and line of its field.
type Change struct {
	policy.Change
	File string
	Line int
}

// InputError is an input that could not be read or reviewed.
type InputError struct {
	File    string
	Line    int
	Message string
}

func (e InputError) String() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}

// allNotes are the objects' notes, in input order, then the result's.
func allNotes(res *Result) []Note {
	var out []Note
	for _, o := range res.Objects {
		out = append(out, o.Notes...)
	}
	return append(out, res.Notes...)
}

// Kinds of notes.
const (
	// NoteSkipped: an input that is not a Kubernetes manifest was not read.
	NoteSkipped = "skipped"
	// NoteDuplicate: an object is defined more than once.
	NoteDuplicate = "duplicate"
	// NoteWorld: the World could not answer a question, so rules could not
	// apply, or an object was judged with another file's copy of a World object.
	NoteWorld = "world"
	// NoteOverlay: an input object changes the World's copy of it (from the
	// cluster or a --world file), or does not show its labels; the rules use
	// the merge of the two.
	NoteOverlay = "overlay"
)

// Note is something the report says that is neither a finding nor an error.
type Note struct {
	Kind string
	// File and Line are where it is about (empty for the whole World).
	File    string
	Line    int
	Message string
}

func (n Note) String() string {
	if n.File == "" {
		return n.Message
	}
	return loc(n.File, n.Line) + ": " + n.Message
}

// Summary counts a result.
type Summary struct {
	Objects int `json:"objects"`
	Enforce int `json:"enforce"`
	Warn    int `json:"warn"`
	Changes int `json:"changes"`
	Errors  int `json:"errors"`
	// Skipped counts the inputs skipped as not Kubernetes objects.
	Skipped int `json:"skipped"`
	// Unchecked counts the questions the World could not answer (each one
	// kept some rules from applying).
	Unchecked int `json:"unchecked"`
	// Duplicates counts the objects defined more than once.
	Duplicates int `json:"duplicates"`
	// Suppressed counts the findings a suppression in the configuration
	// matched.
	Suppressed int `json:"suppressed,omitempty"`
	// Drift counts the live objects' drift findings (--live).
	Drift int `json:"drift,omitempty"`
	// Overlays counts the overlay notes: World objects (from the cluster or
	// --world files) the input changes, or whose labels it does not show.
	Overlays int `json:"overlays,omitempty"`
}

// Summary counts the result.
func (r *Result) Summary() Summary {
	s := Summary{Objects: len(r.Objects), Errors: len(r.Errors)}
	for _, n := range r.Notes {
		switch n.Kind {
		case NoteSkipped:
			s.Skipped++
		case NoteDuplicate:
			s.Duplicates++
		case NoteWorld:
			s.Unchecked++
		case NoteOverlay:
			s.Overlays++
		}
	}
	for _, o := range r.Objects {
		for _, f := range o.Findings {
			switch f.Mode {
			case policy.Enforce:
				s.Enforce++
			case policy.Warn:
				s.Warn++
			case policy.Suppressed:
				s.Suppressed++
			}
			if f.Kind == audit.KindDrift {
				s.Drift++
			}
		}
		s.Changes += len(o.Changes)
	}
	return s
}

// ExitCode is the exit code the result calls for: 2 on input errors, 1 on an
// enforce finding, warnExit on warnings, 0 otherwise.
func (r *Result) ExitCode(warnExit int) int {
	s := r.Summary()
	switch {
	case s.Errors > 0:
		return ExitBadInput
	case s.Enforce > 0:
		return ExitEnforce
	case s.Warn > 0:
		return warnExit
	}
	return ExitOK
}
