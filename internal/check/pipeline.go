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
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

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
