// Package engine is the one place that runs meshgate's rules: it picks the rules
// for an object's kind, runs the mutations, applies their patch to the object as
// submitted, and validates the final object. The admission server and
// `meshgate check` both call Review, so they cannot disagree.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	evanphx "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/meshgate/meshgate/mutators"
	"github.com/meshgate/meshgate/policy"
	"github.com/meshgate/meshgate/validators"
)

// Operation is the admission operation the object arrives with.
type Operation string

// Operations the engine distinguishes. `meshgate check` reviews as Create.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
)

// Input is one object to review.
type Input struct {
	// Object is the object as submitted. Review does not modify it.
	Object *unstructured.Unstructured
	// Namespace is the request's namespace; when empty, the object's; when that
	// is empty too, "default".
	Namespace string
	// Operation is CREATE or UPDATE; empty means CREATE.
	Operation Operation
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

// Engine runs the rules with one configuration. It is safe for concurrent use.
type Engine struct {
	cfg *policy.Config
}

// New returns an engine for cfg (nil means the defaults).
func New(cfg *policy.Config) *Engine {
	if cfg == nil {
		cfg = policy.DefaultConfig()
	}
	return &Engine{cfg: cfg}
}

// Config returns the engine's configuration.
func (e *Engine) Config() *policy.Config { return e.cfg }

// Handles reports whether the engine has rules for objects of this group and kind.
func Handles(gk schema.GroupKind) bool {
	_, ok := handlers[gk]
	return ok
}

type handler func(e *Engine, ctx context.Context, in Input, t policy.Target, w policy.World) (*Result, error)

var handlers = map[schema.GroupKind]handler{}

func init() {
	handlers[schema.GroupKind{Kind: "Pod"}] = (*Engine).reviewPod
	for gk, tpl := range podTemplates {
		tpl := tpl
		handlers[gk] = func(e *Engine, ctx context.Context, in Input, t policy.Target, w policy.World) (*Result, error) {
			return e.reviewTemplate(ctx, in, t, w, tpl)
		}
	}
	handlers[schema.GroupKind{Kind: "Service"}] = (*Engine).reviewService
	handlers[schema.GroupKind{Group: groupEmissary, Kind: "Mapping"}] = (*Engine).reviewMapping
	handlers[schema.GroupKind{Group: groupEmissary, Kind: "TLSContext"}] = validateOnly(policy.MappingTLSContext, validators.TLSContextWiring)
	handlers[schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}] = validateOnly(policy.VirtualServiceGatewayRef, validators.VirtualServiceGatewayRef)
	for _, k := range RouteKinds {
		handlers[schema.GroupKind{Group: groupGatewayAPI, Kind: k}] = validateOnly(policy.RouteParentRef, validators.RouteParentRef)
	}
}

const (
	groupEmissary   = "getambassador.io"
	groupGatewayAPI = "gateway.networking.k8s.io"
)

// RouteKinds are the Gateway API route kinds route-parent-ref checks.
var RouteKinds = []string{"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"}

// Review runs every rule that applies to in.Object and returns the verdict. An
// error means the object could not be read as its kind (for example a Pod whose
// spec is not a Pod spec), or that a World lookup failed: no verdict is built on
// what the World could not answer. Objects of kinds without rules pass
// untouched. ctx bounds the World's lookups.
func (e *Engine) Review(ctx context.Context, in Input, w policy.World) (*Result, error) {
	if in.Object == nil {
		return nil, fmt.Errorf("review: no object")
	}
	if err := ctx.Err(); err != nil {
		return nil, &WorldError{Object: policy.ObjectRef{Kind: in.Object.GetKind(), Name: in.Object.GetName()}, Err: err}
	}
	if in.Operation == "" {
		in.Operation = Create
	}
	gvk := in.Object.GroupVersionKind()
	h, ok := handlers[gvk.GroupKind()]
	if !ok {
		return &Result{Object: in.Object}, nil
	}
	ns := in.Namespace
	if ns == "" {
		ns = in.Object.GetNamespace()
	}
	if ns == "" {
		ns = "default"
	}
	name := in.Object.GetName()
	if name == "" {
		name = in.Object.GetGenerateName()
	}
	t := policy.Target{
		Object:    policy.ObjectRef{APIVersion: in.Object.GetAPIVersion(), Kind: gvk.Kind, Namespace: ns, Name: name},
		Namespace: ns,
	}
	return h(e, ctx, in, t, w)
}

func (e *Engine) reviewPod(ctx context.Context, in Input, t policy.Target, w policy.World) (*Result, error) {
	res := &Result{Object: in.Object}
	if in.Operation != Create || !e.podCandidate(in.Object.Object) {
		return res, nil
	}
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(in.Object.Object, pod); err != nil {
		return nil, fmt.Errorf("%s: not a valid Pod: %w", t.Object, err)
	}
	rep, err := e.mutatePod(ctx, pod, t, w)
	if err != nil {
		return nil, err
	}
	if err := res.apply(in, rep); err != nil {
		return nil, err
	}
	res.Mutated = pod
	if err := e.validatePod(ctx, pod, t, w, &rep); err != nil {
		return nil, err
	}
	res.Findings = rep.Findings
	return res, nil
}

// podCandidate is the cheap pre-check that keeps ordinary pods off the slow path:
// both pod rules concern edge proxies only.
func (e *Engine) podCandidate(podOrTemplate map[string]any) bool {
	labels, _, _ := unstructured.NestedStringMap(podOrTemplate, "metadata", "labels")
	annotations, _, _ := unstructured.NestedStringMap(podOrTemplate, "metadata", "annotations")
	return e.cfg.IsEdgeProxy(labels, annotations)
}

func (e *Engine) mutatePod(ctx context.Context, pod *corev1.Pod, t policy.Target, w policy.World) (policy.Report, error) {
	rep := t.NewReport()
	if e.cfg.Enabled(policy.EdgeProxyIstioCerts) {
		r, err := mutators.EdgeProxyIstioCerts(ctx, pod, t, w, e.cfg)
		if err != nil {
			return rep, ruleError(policy.EdgeProxyIstioCerts, t, err)
		}
		rep.Merge(r)
	}
	return rep, nil
}

func (e *Engine) validatePod(ctx context.Context, pod *corev1.Pod, t policy.Target, w policy.World, rep *policy.Report) error {
	if e.cfg.Enabled(policy.EdgeProxyWiring) {
		r, err := validators.EdgeProxyWiring(ctx, pod, t, w, e.cfg)
		if err != nil {
			return ruleError(policy.EdgeProxyWiring, t, err)
		}
		rep.Merge(r)
	}
	return nil
}

func (e *Engine) reviewService(ctx context.Context, in Input, t policy.Target, w policy.World) (*Result, error) {
	res := &Result{Object: in.Object}
	svc := &corev1.Service{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(in.Object.Object, svc); err != nil {
		return nil, fmt.Errorf("%s: not a valid Service: %w", t.Object, err)
	}
	rep := t.NewReport()
	if e.cfg.Enabled(policy.ServicePortProtocol) {
		r, err := mutators.ServicePortProtocol(ctx, svc, t, w, e.cfg)
		if err != nil {
			return nil, ruleError(policy.ServicePortProtocol, t, err)
		}
		rep.Merge(r)
		res.Mutated = svc
	}
	if err := res.apply(in, rep); err != nil {
		return nil, err
	}
	if e.cfg.Enabled(policy.ServicePortName) {
		r, err := validators.ServicePortName(ctx, svc, t, w, e.cfg)
		if err != nil {
			return nil, ruleError(policy.ServicePortName, t, err)
		}
		rep.Merge(r)
	}
	res.Findings = rep.Findings
	return res, nil
}

func (e *Engine) reviewMapping(ctx context.Context, in Input, t policy.Target, w policy.World) (*Result, error) {
	res := &Result{Object: in.Object}
	m := in.Object.DeepCopy()
	rep := t.NewReport()
	if e.cfg.Enabled(policy.MappingIstioTLS) {
		r, err := mutators.MappingIstioTLS(ctx, m, t, w, e.cfg)
		if err != nil {
			return nil, ruleError(policy.MappingIstioTLS, t, err)
		}
		rep.Merge(r)
		res.Mutated = m
	}
	if err := res.apply(in, rep); err != nil {
		return nil, err
	}
	if e.cfg.Enabled(policy.MappingTLSContext) {
		r, err := validators.MappingTLSContext(ctx, m, t, w, e.cfg)
		if err != nil {
			return nil, ruleError(policy.MappingTLSContext, t, err)
		}
		rep.Merge(r)
	}
	res.Findings = rep.Findings
	return res, nil
}

type validateFunc func(context.Context, *unstructured.Unstructured, policy.Target, policy.World, *policy.Config) (policy.Report, error)

func validateOnly(rule string, fn validateFunc) handler {
	return func(e *Engine, ctx context.Context, in Input, t policy.Target, w policy.World) (*Result, error) {
		res := &Result{Object: in.Object}
		if e.cfg.Enabled(rule) {
			rep, err := fn(ctx, in.Object, t, w, e.cfg)
			if err != nil {
				return nil, ruleError(rule, t, err)
			}
			res.Findings = rep.Findings
		}
		return res, nil
	}
}

// apply records rep's changes and sets res.Object to the input with their patch
// applied.
func (res *Result) apply(in Input, rep policy.Report) error {
	res.Changes = rep.Changes
	res.Patch = rep.Ops()
	if len(res.Patch) == 0 || in.PatchOnly {
		return nil
	}
	input := in.Object
	out, err := ApplyPatch(input, res.Patch)
	if err != nil {
		return err
	}
	res.Object = out
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
