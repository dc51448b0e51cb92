// Package engine is the one place that runs meshgate's rules: it picks the
// registered rules (policy.Rules) for an object's kind, runs the mutations,
// applies their patch to the object as submitted, and validates the final
// object. The admission server and
// `meshgate check` both call Review, so they cannot disagree.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	evanphx "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/meshgate/meshgate/internal/policy"

	// The rules register themselves with policy.Register.
	_ "github.com/meshgate/meshgate/mutators"
	_ "github.com/meshgate/meshgate/validators"
)

// Input is one object to review.
type Input struct {
	// Object is the object as submitted. Review does not modify it.
	Object *unstructured.Unstructured
	// Typed, when Object is nil, is the object decoded straight into the typed
	// form its kind's rules take, as DecodeTyped returns it: the review then
	// skips the unstructured object and its conversion. A Typed input is
	// reviewed once: the mutations change it in place (it becomes
	// Result.Mutated), sparing a copy; decode the object again to review it
	// again. Result.Object is nil for a Typed input (it never builds the final
	// object: the caller has the patch).
	Typed runtime.Object
	// Namespace is the request's namespace; when empty, the object's; when that
	// is empty too, "default".
	Namespace string
	// Operation is CREATE or UPDATE; empty means CREATE.
	Operation policy.Operation
	// OldObject is the object an UPDATE replaces (OldJSON, when it is nil,
	// is that object as JSON, decoded only when needed). With
	// updates.allowExistingFindings on, a finding it had too (Finding.Key)
	// becomes a warning: see Review. Nil for CREATE and `meshgate check`.
	OldObject *unstructured.Unstructured
	OldJSON   []byte
	// PatchOnly skips building Result.Object (the input with the patch applied),
	// for callers that only send the patch on, like the admission server: it is
	// the costliest step of a mutating review. Result.Object is then the input.
	PatchOnly bool
}

// Result is the engine's verdict on one object.
type Result struct {
	// Object is the final object: the input with Patch applied. It is the input
	// itself when nothing changed, or when Input.PatchOnly was set.
	Object *unstructured.Unstructured
	// Changes lists what the mutations did, in order.
	Changes []policy.Change
	// Findings lists what the rules found (conflicts from the mutations first).
	Findings []policy.Finding
	// Patch is every change's RFC 6902 operations, in order, against the input:
	// the type admission.Response.Patches takes.
	Patch []jsonpatch.Operation
	// Mutated is the object as the mutators left it (a *corev1.Pod,
	// *corev1.Service or *unstructured.Unstructured; nil when no mutation rule
	// applied). It exists so tests can prove that Patch makes the same object.
	Mutated runtime.Object
}

// Changed reports whether any mutation changed the object.
func (r *Result) Changed() bool { return len(r.Patch) > 0 }

// Denied reports whether any finding is in enforce mode.
func (r *Result) Denied() bool {
	for _, f := range r.Findings {
		if f.Mode == policy.Enforce {
			return true
		}
	}
	return false
}

// Engine runs the registered rules with one configuration. It is safe for
// concurrent use.
type Engine struct {
	cfg *policy.Config
	// kinds is the dispatch: for each kind some rule reviews, the rules that
	// are not off, in policy.Rules order. A rule that is off is not in it, so
	// it is never called.
	kinds map[schema.GroupKind]*plan
	// skipInTree: leave out the findings the in-tree policies report.
	skipInTree bool
}

// plan is what the engine runs on objects of one kind.
type plan struct {
	kind        policy.Kind
	form        policy.Form
	mutations   []step
	validations []step
	// selective: some step has a Select.
	selective bool
}

// step is one rule's function for one kind.
type step struct {
	rule   string
	check  policy.Check
	choose func(labels, annotations map[string]string, cfg *policy.Config) bool
}

// Option configures an Engine.
type Option func(*options)

type options struct {
	skipInTree bool
}

// SkipInTree leaves out the rules whose in-tree form is complete
// (policy.InTree.Complete), and the findings of the other rules that their
// in-tree forms report (policy.Finding.InTree): the API server applies them
// itself through the admission policies `meshgate in-tree` generates, so an
// admission server must not apply them a second time. `meshgate check` runs
// every rule.
func SkipInTree() Option { return func(o *options) { o.skipInTree = true } }

// New returns an engine for cfg (nil means the defaults), dispatching to the
// rules registered with policy.Register that cfg does not turn off.
func New(cfg *policy.Config, opts ...Option) *Engine {
	if cfg == nil {
		cfg = policy.DefaultConfig()
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return &Engine{cfg: cfg, kinds: dispatch(cfg, o), skipInTree: o.skipInTree}
}

func dispatch(cfg *policy.Config, o options) map[schema.GroupKind]*plan {
	out := map[schema.GroupKind]*plan{}
	for _, r := range policy.Rules() {
		if cfg.Mode(r.ID) == policy.Off {
			continue
		}
		if o.skipInTree && r.InTree != nil && r.InTree.Complete {
			continue
		}
		for _, rv := range r.Reviews {
			s := step{rule: r.ID, check: rv.Check, choose: rv.Select}
			for _, k := range rv.Kinds {
				p, ok := out[k.GroupKind()]
				if !ok {
					p = &plan{kind: k, form: policy.FormOf(rv.Check)}
					out[k.GroupKind()] = p
				}
				if r.Mutation {
					p.mutations = append(p.mutations, s)
				} else {
					p.validations = append(p.validations, s)
				}
				p.selective = p.selective || s.choose != nil
			}
		}
	}
	return out
}

// Config returns the engine's configuration.
func (e *Engine) Config() *policy.Config { return e.cfg }

// Handles reports whether the engine runs any rule on objects of this group
// and kind.
func (e *Engine) Handles(gk schema.GroupKind) bool {
	_, ok := e.kinds[gk]
	return ok
}

// Rules returns the ids of the rules the engine runs on objects of gk:
// mutations first, in policy.Rules order.
func (e *Engine) Rules(gk schema.GroupKind) []string {
	p, ok := e.kinds[gk]
	if !ok {
		return nil
	}
	var out []string
	for _, s := range p.mutations {
		out = append(out, s.rule)
	}
	for _, s := range p.validations {
		if !slices.Contains(out, s.rule) {
			out = append(out, s.rule)
		}
	}
	return out
}

// Review runs every rule that applies to in.Object and returns the verdict. An
// error means the object could not be read as its kind (for example a Pod whose
// spec is not a Pod spec), or that a World lookup failed: no verdict is built on
// what the World could not answer. Objects of kinds without rules pass
// untouched. ctx bounds the World's lookups. Findings a suppression in the
// configuration matches stay in the result, marked policy.Suppressed: reports
// show them, admission neither denies nor warns on them. On an UPDATE with
// in.OldObject (or OldJSON) and updates.allowExistingFindings on, a finding
// the old object had too (the same Finding.Key, reviewed by the same rules)
// becomes a warning marked Existing: an update is denied only for what it
// adds.
func (e *Engine) Review(ctx context.Context, in Input, w policy.World) (*Result, error) {
	res, err := e.review(ctx, in, w)
	if err == nil && e.skipInTree {
		res.Findings = slices.DeleteFunc(res.Findings, func(f policy.Finding) bool { return f.InTree })
	}
	if err == nil && len(e.cfg.Suppressions) > 0 {
		if obj, oerr := in.object(); oerr == nil {
			e.cfg.Suppress(res.Findings, obj.GetLabels())
		}
	}
	if err == nil {
		err = e.existing(ctx, in, w, res)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// existing marks the findings of res that the old object of an UPDATE had
// too as Existing warnings (see Review).
func (e *Engine) existing(ctx context.Context, in Input, w policy.World, res *Result) error {
	if in.Operation != policy.Update || !e.cfg.AllowExisting() || (in.OldObject == nil && len(in.OldJSON) == 0) {
		return nil
	}
	if !slices.ContainsFunc(res.Findings, func(f policy.Finding) bool { return f.Mode == policy.Enforce || f.Mode == policy.Warn }) {
		return nil
	}
	old := in.OldObject
	if old == nil {
		m := map[string]any{}
		if err := utiljson.Unmarshal(in.OldJSON, &m); err != nil || len(m) == 0 {
			// No old object to compare with: every finding counts.
			return nil
		}
		old = &unstructured.Unstructured{Object: m}
	}
	if old.GetKind() == "" {
		// The old object is the same kind as the new one.
		if obj, err := in.object(); err == nil {
			old.GetObjectKind().SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
		}
	}
	ores, err := e.review(ctx, Input{Object: old, Namespace: in.Namespace, Operation: policy.Update, PatchOnly: true}, w)
	if err != nil {
		var we *WorldError
		if errors.As(err, &we) {
			return err
		}
		// An old object the rules cannot read had no findings to keep.
		return nil
	}
	had := make(map[string]bool, len(ores.Findings))
	for _, f := range ores.Findings {
		had[f.Key()] = true
	}
	for i := range res.Findings {
		f := &res.Findings[i]
		if (f.Mode == policy.Enforce || f.Mode == policy.Warn) && had[f.Key()] {
			f.Mode, f.Existing = policy.Warn, true
			f.Message += policy.ExistingNote
		}
	}
	return nil
}

func (e *Engine) review(ctx context.Context, in Input, w policy.World) (*Result, error) {
	obj, err := in.object()
	if err != nil {
		return nil, err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if err := ctx.Err(); err != nil {
		return nil, &WorldError{Object: policy.ObjectRef{Kind: gvk.Kind, Name: obj.GetName()}, Err: err}
	}
	if in.Operation == "" {
		in.Operation = policy.Create
	}
	p, ok := e.kinds[gvk.GroupKind()]
	if !ok || !p.kind.Reviews(in.Operation) {
		return &Result{Object: in.Object}, nil
	}
	ns := in.Namespace
	if ns == "" {
		ns = obj.GetNamespace()
	}
	if ns == "" {
		ns = "default"
	}
	name := obj.GetName()
	if name == "" {
		name = obj.GetGenerateName()
	}
	var apiVersion string
	if in.Object != nil {
		apiVersion = in.Object.GetAPIVersion()
	} else {
		apiVersion, _ = gvk.ToAPIVersionAndKind()
	}
	t := policy.Target{
		Object:    policy.ObjectRef{APIVersion: apiVersion, Kind: gvk.Kind, Namespace: ns, Name: name},
		Namespace: ns,
	}
	if in.Object == nil && len(p.kind.Template) == 0 {
		// A Typed input: DecodeTyped returns one only for these forms.
		switch p.form {
		case policy.FormPod:
			if pod, ok := in.Typed.(*corev1.Pod); ok {
				return reviewTyped(ctx, e, pod, p, t, w)
			}
		case policy.FormService:
			if svc, ok := in.Typed.(*corev1.Service); ok {
				return reviewTyped(ctx, e, svc, p, t, w)
			}
		}
	}
	switch {
	case in.Object == nil:
		return nil, fmt.Errorf("review: %s: a typed %T is not the form its rules take (see DecodeTyped)", t.Object, in.Typed)
	case len(p.kind.Template) > 0:
		return e.reviewTemplate(ctx, in, p, t, w)
	case p.form == policy.FormPod:
		return reviewConverted[corev1.Pod](ctx, e, in, p, t, w, "Pod")
	case p.form == policy.FormService:
		return reviewConverted[corev1.Service](ctx, e, in, p, t, w, "Service")
	default:
		return e.reviewObject(ctx, in, p, t, w)
	}
}

// object returns the input's object, unstructured or typed.
func (in Input) object() (inputObject, error) {
	switch {
	case in.Object != nil:
		return in.Object, nil
	case in.Typed != nil:
		if o, ok := in.Typed.(inputObject); ok {
			return o, nil
		}
		return nil, fmt.Errorf("review: a typed %T has no object metadata", in.Typed)
	}
	return nil, errors.New("review: no object")
}

// inputObject is what Review reads of any input object.
type inputObject interface {
	runtime.Object
	GetName() string
	GetGenerateName() string
	GetNamespace() string
	GetLabels() map[string]string
}

// steps returns the plan's steps whose Select passes for an object (or pod
// template) with this metadata.
func (e *Engine) steps(p *plan, obj map[string]any) (mutations, validations []step) {
	if !p.selective {
		return p.mutations, p.validations
	}
	labels, _, _ := unstructured.NestedStringMap(obj, "metadata", "labels")
	annotations, _, _ := unstructured.NestedStringMap(obj, "metadata", "annotations")
	return e.stepsFor(p, labels, annotations)
}

// stepsFor returns the plan's steps whose Select passes for an object with
// these labels and annotations.
func (e *Engine) stepsFor(p *plan, labels, annotations map[string]string) (mutations, validations []step) {
	if !p.selective {
		return p.mutations, p.validations
	}
	chosen := func(s step) bool { return s.choose == nil || s.choose(labels, annotations, e.cfg) }
	pick := func(ss []step) []step {
		for i, s := range ss {
			if !chosen(s) {
				// Copy only when some step is left out.
				out := append([]step(nil), ss[:i]...)
				for _, s := range ss[i+1:] {
					if chosen(s) {
						out = append(out, s)
					}
				}
				return out
			}
		}
		return ss
	}
	return pick(p.mutations), pick(p.validations)
}

// run calls each step's function on obj and merges what it reports into rep.
// A rule that fails (its World lookup did) fails the review: see WorldError.
func (e *Engine) run(ctx context.Context, steps []step, obj any, t policy.Target, w policy.World, rep *policy.Report) error {
	for _, s := range steps {
		var r policy.Report
		var err error
		switch f := s.check.(type) {
		case policy.PodFunc:
			r, err = f(ctx, obj.(*corev1.Pod), t, w, e.cfg)
		case policy.ServiceFunc:
			r, err = f(ctx, obj.(*corev1.Service), t, w, e.cfg)
		case policy.ObjectFunc:
			r, err = f(ctx, obj.(*unstructured.Unstructured), t, w, e.cfg)
		}
		if err != nil {
			return ruleError(s.rule, t, err)
		}
		if len(rep.Changes) == 0 && len(rep.Findings) == 0 {
			// The first rule to report: take its slices rather than copy them.
			rep.Changes, rep.Findings = r.Changes, r.Findings
			continue
		}
		rep.Merge(r)
	}
	return nil
}

func (e *Engine) reviewObject(ctx context.Context, in Input, p *plan, t policy.Target, w policy.World) (*Result, error) {
	res := &Result{Object: in.Object}
	muts, vals := e.steps(p, in.Object.Object)
	if len(muts)+len(vals) == 0 {
		return res, nil
	}
	obj := in.Object
	rep := t.NewReport()
	if len(muts) > 0 {
		// The mutations change their object in place; the input stays as it was.
		obj = in.Object.DeepCopy()
		if err := e.run(ctx, muts, obj, t, w, &rep); err != nil {
			return nil, err
		}
		res.Mutated = obj
	}
	if err := res.apply(in, rep); err != nil {
		return nil, err
	}
	if err := e.run(ctx, vals, obj, t, w, &rep); err != nil {
		return nil, err
	}
	res.Findings = rep.Findings
	return res, nil
}

// apply records rep's changes and sets r.Object to the input with their patch
// applied.
func (r *Result) apply(in Input, rep policy.Report) error {
	r.Changes = rep.Changes
	r.Patch = rep.Ops()
	if len(r.Patch) == 0 || in.PatchOnly || in.Object == nil {
		return nil
	}
	input := in.Object
	out, err := ApplyPatch(input, r.Patch)
	if err != nil {
		return err
	}
	r.Object = out
	return nil
}

// ApplyPatch returns a copy of obj with ops applied.
func ApplyPatch(obj *unstructured.Unstructured, ops []jsonpatch.Operation) (*unstructured.Unstructured, error) {
	doc, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("apply patch: encode object: %w", err)
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("apply patch: encode patch: %w", err)
	}
	p, err := evanphx.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("apply patch: %w", err)
	}
	patched, err := p.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("apply patch %s: %w", raw, err)
	}
	out := map[string]any{}
	// utiljson keeps integers as int64, as unstructured objects expect.
	if err := utiljson.Unmarshal(patched, &out); err != nil {
		return nil, fmt.Errorf("apply patch: decode result: %w", err)
	}
	return &unstructured.Unstructured{Object: out}, nil
}

// rebase prefixes every change's field path and patch pointers, and every
// finding's field path, for a rule run on an embedded pod template.
func rebase(rep *policy.Report, fieldPrefix, pointerPrefix string) {
	for i := range rep.Changes {
		rep.Changes[i].Field = joinField(fieldPrefix, rep.Changes[i].Field)
		for j := range rep.Changes[i].Ops {
			rep.Changes[i].Ops[j].Path = pointerPrefix + rep.Changes[i].Ops[j].Path
		}
	}
	for i := range rep.Findings {
		rep.Findings[i].Field = joinField(fieldPrefix, rep.Findings[i].Field)
	}
}

func joinField(prefix, f string) string {
	if f == "" {
		return prefix
	}
	if strings.HasPrefix(f, "[") {
		return prefix + f
	}
	return prefix + "." + f
}
