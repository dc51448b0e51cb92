// Package check is `meshgate check`: it reads manifests (files, directories,
// standard input), builds the World from them (plus --world files and, optionally,
// a live cluster read-only), runs the engine on every object with a bounded pool
// of workers, and renders the verdicts as text, JSON, JUnit or SARIF, with the
// file and line of every finding and change. It can also print the mutations as
// diffs and write the mutated manifests.
//
// The output order is deterministic: inputs in the order given (directories
// walked in lexical order), documents in file order, findings in engine order.
package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

// Output formats.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatJUnit = "junit"
	FormatSARIF = "sarif"
	// FormatOpenReports writes the OpenReports Report of every live resource
	// (--live), as the continuous audit would write it, in a kind: List.
	FormatOpenReports = "openreports"
)

// Formats lists the output formats, for flag help.
var Formats = []string{FormatText, FormatJSON, FormatJUnit, FormatSARIF, FormatGitHub, FormatGitLab, FormatOpenReports}

// Colour modes for text output.
const (
	ColorAuto   = "auto"
	ColorAlways = "always"
	ColorNever  = "never"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitEnforce  = 1
	ExitBadInput = 2
)

// Options configure one run of `meshgate check`.
type Options struct {
	// Files are the inputs: files, directories (recursive, .yaml/.yml/.json) and
	// "-" for standard input.
	Files []string
	// Exclude are globs of paths not to read (see matchGlob): matched against
	// paths relative to a -f directory, and file arguments as given.
	Exclude []string
	// WorldPerDir gives each top-level directory of a -f directory, each file
	// argument and standard input a World of its own (environment overlays);
	// the files directly in a -f directory are shared by its top-level
	// directories' Worlds.
	WorldPerDir bool
	// WorldFiles hold more objects for the World only (not checked).
	WorldFiles []string
	// ConfigFile is meshgate's configuration ("" = defaults).
	ConfigFile string
	// Config, when set, is used instead of ConfigFile.
	Config *policy.Config
	// Format is text, json, junit or sarif ("" = text).
	Format string
	// OutputFile receives the report instead of standard output.
	OutputFile string
	// Diff prints a unified diff of every object a mutation changed.
	Diff bool
	// WriteMutated is a directory to write the mutated manifests to, or "-" for
	// standard output.
	WriteMutated string
	// WarnExitCode is the exit code when there are warnings and no enforce
	// finding (0: warnings do not fail).
	WarnExitCode int
	// FailOnSkipped makes any skipped input (a document that is not a
	// Kubernetes object, a template) an input error: exit 2.
	FailOnSkipped bool
	// Namespace is assumed for namespaced objects without one ("" = "default").
	Namespace string
	// Kubeconfig and Context, when either is set, read the World from a live
	// cluster too (read-only list calls).
	Kubeconfig string
	Context    string
	// Live reviews the live cluster's objects too (read-only list calls), with
	// Files as an overlay: an object in the files is reviewed instead of the
	// cluster's copy, and merged over it in the World.
	Live bool
	// LiveNamespace limits the live objects reviewed to one namespace ("" =
	// all); the World is read from every namespace.
	LiveNamespace string
	// Color is auto (on a terminal, unless NO_COLOR is set), always or never.
	Color string
	// Workers bounds the parallelism (0 = GOMAXPROCS).
	Workers int
	// WorkDir is the directory SARIF paths are relative to ("" = the current one).
	WorkDir string
	// AutoMemoryLimit, unless GOMEMLIMIT is set, gives the Go runtime a soft
	// memory limit for the run that scales with the input (see memoryLimitFor),
	// so the garbage collector does not let the heap grow to twice the live
	// objects. The command sets it; it changes a process-wide setting (restored
	// when Run returns).
	AutoMemoryLimit bool

	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// KeepObjects keeps every decoded and mutated object in the Result (for
	// callers that look at them; --diff and --write-mutated imply it).
	KeepObjects bool

	// restoreLimit undoes AutoMemoryLimit.
	restoreLimit func()
	// cluster replaces the live cluster reader (tests).
	cluster clusterReader
	// wrapWorld, when set, wraps every World the rules read (tests: a World
	// whose lookups fail).
	wrapWorld func(policy.World) policy.World
}

// usageError is a problem with the command line or configuration.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// IsUsageError reports whether err from Run is about the command line (the
// caller should show the usage).
func IsUsageError(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

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

func (o *Options) defaults() error {
	if o.Format == "" {
		o.Format = FormatText
	}
	if !slices.Contains(Formats, o.Format) {
		return usagef("unknown output format %q (want one of %s)", o.Format, strings.Join(Formats, ", "))
	}
	if o.Color == "" {
		o.Color = ColorAuto
	}
	if !slices.Contains([]string{ColorAuto, ColorAlways, ColorNever}, o.Color) {
		return usagef("unknown --color %q (want auto, always or never)", o.Color)
	}
	if len(o.Files) == 0 && !o.Live {
		return usagef("no input: give manifests with -f FILE|DIR|- (repeatable), or --live")
	}
	if o.Live && o.WorldPerDir {
		return usagef("--live and --world-per-dir do not go together: the cluster is one World")
	}
	if o.WarnExitCode < 0 || o.WarnExitCode > 255 {
		return usagef("--warn-exit-code %d is not an exit code (0-255)", o.WarnExitCode)
	}
	for _, p := range o.Exclude {
		if err := validGlob(p); err != nil {
			return err
		}
	}
	if o.WriteMutated == "-" && o.OutputFile == "" && o.Format != FormatText {
		return usagef("--write-mutated - and -o %s both want standard output: add --output-file for the report", o.Format)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.WorkDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
		o.WorkDir = wd
	}
	return nil
}

// Run checks the inputs, writes the report, diffs and mutated manifests, and
// returns the exit code. An error means the run could not start (bad flags or
// configuration, an unreachable cluster, an unwritable output): exit 2.
func Run(ctx context.Context, o Options) (int, error) {
	if err := o.defaults(); err != nil {
		return ExitBadInput, err
	}
	defer func() {
		if o.restoreLimit != nil {
			o.restoreLimit()
		}
	}()
	res, err := Check(ctx, &o)
	if err != nil {
		return ExitBadInput, err
	}
	if err := render(res, &o); err != nil {
		return ExitBadInput, err
	}
	code := res.ExitCode(o.WarnExitCode)
	if o.FailOnSkipped && res.Summary().Skipped > 0 {
		code = ExitBadInput
	}
	return code, nil
}

// Check reads the inputs and reviews every object. o must have had its defaults
// applied (Run does that).
//
// Every document is parsed once. Documents that may hold a World object (see
// mayHoldWorldObject) are parsed first, in parallel, and the Worlds are built
// from them; then the other documents are parsed and reviewed in one parallel
// pass, each released as soon as its verdict is placed (unless the objects are
// kept for --diff or --write-mutated), so the big objects of a large input (the
// workloads) are never all in memory at once.
func Check(ctx context.Context, o *Options) (*Result, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	res := &Result{Config: cfg}
	in := newLoader(o)
	files, tasks := in.read(o.Files, true)
	worldFiles := in.load(o.WorldFiles, false)
	res.Files = files
	res.Errors = append(res.Errors, in.errors...)
	res.Notes = append(res.Notes, in.notes...)

	worldDocs := parseWorldDocuments(tasks, o.Workers)
	base, liveObjs, err := baseWorld(ctx, o, worldFiles)
	if err != nil {
		return nil, err
	}
	worlds, worldErrs := buildWorlds(o, base, tasks, worldDocs)

	eng := engine.New(cfg)
	reviewed := reviewAll(ctx, eng, worlds, tasks, o)
	collect(res, tasks, reviewed)
	if o.Live {
		reviewLive(ctx, eng, worlds[""].w, liveObjs, res, o)
	}
	res.Errors = append(res.Errors, worldErrs...)
	res.Notes = append(res.Notes, overlayNotes(worlds)...)
	res.Notes = append(res.Notes, duplicateNotes(res, o)...)
	res.Notes = append(res.Notes, unknownNotes(res)...)
	return res, ctx.Err()
}

// config is the configuration the run uses.
func (o *Options) config() (*policy.Config, error) {
	if o.Config != nil {
		return o.Config, nil
	}
	cfg, err := policy.LoadConfig(o.ConfigFile)
	if err != nil {
		return nil, &usageError{err}
	}
	return cfg, nil
}

// parseWorldDocuments parses, in parallel, the documents that may hold World
// objects, and returns their task indexes.
func parseWorldDocuments(tasks []chunkTask, workers int) []int {
	var first []int
	for i, t := range tasks {
		if mayHoldWorldObject(t.chunk.Raw) {
			first = append(first, i)
		}
	}
	parallel(len(first), workers, func(i int) { tasks[first[i]].parse() })
	return first
}

// baseWorld collects what every World holds: the live cluster's objects (with
// --kubeconfig or --context) and the --world files'.
func baseWorld(ctx context.Context, o *Options, worldFiles []*File) (*worldBuilder, []*unstructured.Unstructured, error) {
	wb := newWorldBuilder(o.Namespace)
	wb.wrap = o.wrapWorld
	var liveObjs []*unstructured.Unstructured
	if o.Kubeconfig != "" || o.Context != "" || o.cluster != nil || o.Live {
		reader := o.cluster
		if reader == nil {
			reader = liveCluster(o.Kubeconfig, o.Context, o.Live, o.LiveNamespace)
		}
		cl, err := reader(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("read the World from the cluster: %w", err)
		}
		for _, w := range cl.Warnings {
			fmt.Fprintf(o.Stderr, "meshgate: cluster: %s\n", clean(w))
		}
		wb.addCluster(cl)
		liveObjs = cl.Reviewed
	}
	for _, f := range worldFiles {
		for _, d := range f.Docs {
			if d.Err != nil {
				wb.errs = append(wb.errs, docError(d))
			}
			for _, obj := range d.Objects {
				wb.add(obj, true)
			}
		}
	}
	return wb, liveObjs, nil
}

// reviewAll reviews every document's objects in parallel, parsing the documents
// not parsed yet on the way, each in the World of its file's unit.
func reviewAll(ctx context.Context, eng *engine.Engine, worlds map[string]*builtWorld, tasks []chunkTask, o *Options) [][]*Reviewed {
	keep := o.KeepObjects || o.Diff || o.WriteMutated != ""
	reviewed := make([][]*Reviewed, len(tasks))
	parallel(len(tasks), o.Workers, func(i int) {
		t := tasks[i]
		d := t.file.Docs[t.chunk.Index-1]
		if d == nil {
			d = t.parse()
		}
		w := worlds[worldKey(o, t.file)]
		rs := make([]*Reviewed, len(d.Objects))
		for j, obj := range d.Objects {
			rs[j] = review(ctx, eng, w, o.Namespace, obj, !keep)
			if !keep {
				rs[j].release()
			}
		}
		reviewed[i] = rs
	})
	return reviewed
}

// collect places the verdicts, document errors and skipped documents in input
// order.
func collect(res *Result, tasks []chunkTask, reviewed [][]*Reviewed) {
	for i, t := range tasks {
		d := t.file.Docs[t.chunk.Index-1]
		if d.Err != nil {
			res.Errors = append(res.Errors, docError(d))
		}
		if d.Skipped != "" {
			line := d.Template
			if line == 0 {
				line = firstContentLine(d.Chunk)
			}
			res.Notes = append(res.Notes, Note{Kind: NoteSkipped, File: d.Source, Line: line, Message: "skipped: " + d.Skipped})
		}
		for _, r := range reviewed[i] {
			res.Objects = append(res.Objects, r)
			if r.Err != nil {
				res.Errors = append(res.Errors, *r.Err)
			}
		}
	}
}

// firstContentLine is the line of the first line of c that is not blank, a
// comment or a separator.
func firstContentLine(c manifest.Chunk) int {
	line := c.Line
	for _, l := range bytes.SplitAfter(c.Raw, []byte{'\n'}) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' && !bytes.HasPrefix(t, []byte("---")) {
			return line
		}
		line++
	}
	return c.Line
}

func docError(d *manifest.Document) InputError {
	return InputError{File: d.Source, Line: d.Err.Line, Message: fmt.Sprintf("document %d: %v", d.Index, d.Err.Err)}
}

// mayHoldWorldObject reports whether a document may hold an object the World
// needs. It errs on the side of yes: a document is known not to hold one only
// when none of the World's kind names occurs in its bytes at all, and it has no
// escape sequence that could spell one.
func mayHoldWorldObject(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return true
	}
	for _, k := range policy.WorldKinds() { // the declared kinds
		if bytes.Contains(raw, []byte(k.APIKind)) {
			return true
		}
	}
	return false
}

// memoryLimitFloor is the smallest soft memory limit AutoMemoryLimit sets.
const memoryLimitFloor = 160 << 20

// memoryLimitFor is the soft memory limit for inputs of size bytes: decoded
// objects take up to about 11 times their YAML when all are kept (--diff,
// --write-mutated), so 16 times leaves the collector room to work without
// running all the time.
func memoryLimitFor(bytes int64) int64 {
	return max(memoryLimitFloor, 16*bytes)
}

// limitMemory applies AutoMemoryLimit once, for inputs of size bytes.
func (o *Options) limitMemory(bytes int64) {
	if !o.AutoMemoryLimit || o.restoreLimit != nil {
		return
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	prev := debug.SetMemoryLimit(memoryLimitFor(bytes))
	o.restoreLimit = func() { debug.SetMemoryLimit(prev) }
}

// review runs the engine on one object and places its verdicts. patchOnly
// skips building the mutated object (Result.Object is then the input), for
// runs that drop it anyway: only --diff and --write-mutated show it.
func review(ctx context.Context, eng *engine.Engine, bw *builtWorld, defaultNS string, obj *manifest.Object, patchOnly bool) *Reviewed {
	u := obj.Object
	r := &Reviewed{Object: obj, Ref: policy.ObjectRef{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}, GVK: u.GroupVersionKind()}
	in := engine.Input{Object: u, PatchOnly: patchOnly}
	if u.GetNamespace() == "" {
		in.Namespace = defaultNS
	}
	w := bw.askedBy(obj)
	res, err := safeReview(ctx, eng, in, w)
	r.unknown = w.unknown
	r.Notes = append(w.notes(obj, r.Ref), exemptNote(obj, r.Ref)...)
	if err != nil {
		r.Err = reviewError(obj, err)
		return r
	}
	r.Result = res
	r.Findings = make([]Finding, len(res.Findings))
	for i, f := range res.Findings {
		r.Findings[i] = Finding{Finding: f, File: obj.Source, Line: obj.LineOf(f.Field)}
	}
	r.Changes = make([]Change, len(res.Changes))
	for i, c := range res.Changes {
		r.Changes[i] = Change{Change: c, File: obj.Source, Line: obj.LineOf(c.Field)}
	}
	return r
}

// release drops the decoded and mutated objects once the verdict is placed.
func (r *Reviewed) release() {
	r.Object.Release()
	if r.Result != nil {
		r.Result.Object, r.Result.Mutated, r.Result.Patch = nil, nil, nil
	}
}

// safeReview turns a panic in a rule into an error about that object, so one
// bad object (or rule bug) does not take down the whole check.
func safeReview(ctx context.Context, eng *engine.Engine, in engine.Input, w policy.World) (res *engine.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("internal error reviewing %s %s: %v (please report it)", in.Object.GetKind(), in.Object.GetName(), p)
		}
	}()
	return eng.Review(ctx, in, w)
}
