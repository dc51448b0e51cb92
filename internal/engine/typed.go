package engine

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"

	"github.com/meshgate/meshgate/internal/policy"
)

// typedObject is a typed form rules take (policy.FormPod, policy.FormService):
// a pointer to T.
type typedObject[T any] interface {
	*T
	runtime.Object
	GetLabels() map[string]string
	GetAnnotations() map[string]string
	DeepCopy() *T
}

// DecodeTyped decodes raw, the JSON of an object that a request names as
// kind gvk, straight into the typed form the engine's rules for that kind
// take (a *corev1.Pod or *corev1.Service), for Input.Typed: one JSON decode
// instead of an unstructured map converted to the typed object afterwards.
//
// It reports false when the kind's rules take the unstructured form (or there
// are none), and when raw does not read exactly as that type: not a JSON
// object, a field of another JSON type, a duplicate field, or an object that
// states a kind other than gvk. The caller then decodes raw into Input.Object,
// which reviews the same object the same way, and reports what the typed
// decode could not. Field names match case-sensitively, as they do in the
// conversion from unstructured.
func (e *Engine) DecodeTyped(raw []byte, gvk schema.GroupVersionKind) (runtime.Object, bool) {
	p, ok := e.kinds[gvk.GroupKind()]
	if !ok || len(p.kind.Template) > 0 || !isJSONObject(raw) {
		return nil, false
	}
	var obj runtime.Object
	var meta *metav1.TypeMeta
	switch p.form {
	case policy.FormPod:
		pod := &corev1.Pod{}
		obj, meta = pod, &pod.TypeMeta
	case policy.FormService:
		svc := &corev1.Service{}
		obj, meta = svc, &svc.TypeMeta
	default:
		return nil, false
	}
	strict, err := sigsjson.UnmarshalStrict(raw, obj, sigsjson.DisallowDuplicateFields)
	if err != nil || len(strict) > 0 {
		return nil, false
	}
	apiVersion, kind := gvk.ToAPIVersionAndKind()
	switch {
	case meta.APIVersion == "" || meta.Kind == "":
		// As for an unstructured object: the request's kind stands in.
		meta.APIVersion, meta.Kind = apiVersion, kind
	case meta.APIVersion != apiVersion || meta.Kind != kind:
		return nil, false
	}
	return obj, true
}

// isJSONObject reports whether raw starts like a JSON object.
func isJSONObject(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}

// reviewConverted reviews in.Object as a T converted from unstructured.
func reviewConverted[T any, P typedObject[T]](ctx context.Context, e *Engine, in Input, p *plan, t policy.Target, w policy.World, what string) (*Result, error) {
	muts, vals := e.steps(p, in.Object.Object)
	if len(muts)+len(vals) == 0 {
		return &Result{Object: in.Object}, nil
	}
	obj := P(new(T))
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(in.Object.Object, obj); err != nil {
		return nil, fmt.Errorf("%s: not a valid %s: %w", t.Object, what, err)
	}
	return e.runTyped(ctx, in, obj, muts, vals, t, w)
}

// reviewTyped reviews typed, the input's Typed object.
func reviewTyped[T any, P typedObject[T]](ctx context.Context, e *Engine, typed P, p *plan, t policy.Target, w policy.World) (*Result, error) {
	muts, vals := e.stepsFor(p, typed.GetLabels(), typed.GetAnnotations())
	if len(muts)+len(vals) == 0 {
		return &Result{}, nil
	}
	obj := typed
	if len(muts) > 0 {
		// The mutations change their object in place; the input stays as it was.
		obj = P(typed.DeepCopy())
	}
	return e.runTyped(ctx, Input{Typed: typed}, obj, muts, vals, t, w)
}

// runTyped runs the mutations, then the validations, on obj, the typed form
// of in.
func (e *Engine) runTyped(ctx context.Context, in Input, obj runtime.Object, muts, vals []step, t policy.Target, w policy.World) (*Result, error) {
	res := &Result{Object: in.Object}
	rep := t.NewReport()
	if err := e.run(ctx, muts, obj, t, w, &rep); err != nil {
		return nil, err
	}
	if err := res.apply(in, rep); err != nil {
		return nil, err
	}
	if len(muts) > 0 {
		res.Mutated = obj
	}
	if err := e.run(ctx, vals, obj, t, w, &rep); err != nil {
		return nil, err
	}
	res.Findings = rep.Findings
	return res, nil
}
