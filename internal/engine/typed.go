package engine

import (
	"context"

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
}

// DecodeTyped decodes raw, the JSON of an object that a request names as
// kind gvk, straight into the typed form the engine's rules for that kind
// take (a *corev1.Pod or *corev1.Service), for Input.Typed: one JSON decode
// instead of an unstructured map converted to the typed object afterwards.
// The object comes without metadata.managedFields, which no rule reads.
//
// It reports false when the kind's rules take the unstructured form (or there
// are none), and when raw does not read exactly as that type: not a JSON
// object, a field of another JSON type, or an object that states a kind other
// than gvk. The caller then decodes raw into Input.Object, which reviews the
// same object the same way, and reports what the typed decode could not.
// Field names match case-sensitively, as they do in the conversion from
// unstructured. A key repeated within one JSON object (which kube-apiserver
// never sends: it encodes the object from its Go type) reads as Go's
// encoding/json reads it into a struct, where an unstructured map keeps only
// the last value; checking for repeated keys would double the decode's cost.
func (e *Engine) DecodeTyped(raw []byte, gvk schema.GroupVersionKind) (runtime.Object, bool) {
	p, ok := e.kinds[gvk.GroupKind()]
	if !ok || len(p.kind.Template) > 0 || !isJSONObject(raw) {
		return nil, false
	}
	// The object is decoded through a wrapper whose metadata reads past
	// managedFields, which no rule reads: kube-apiserver sends them with every
	// object, and building them is a third of the cost of decoding a pod.
	var obj runtime.Object
	var meta *metav1.TypeMeta
	var into any
	switch p.form {
	case policy.FormPod:
		pod := &corev1.Pod{}
		obj, meta = pod, &pod.TypeMeta
		into = &podWithoutManagedFields{Pod: pod, Metadata: metadataWithoutManagedFields{ObjectMeta: &pod.ObjectMeta}}
	case policy.FormService:
		svc := &corev1.Service{}
		obj, meta = svc, &svc.TypeMeta
		into = &serviceWithoutManagedFields{Service: svc, Metadata: metadataWithoutManagedFields{ObjectMeta: &svc.ObjectMeta}}
	default:
		return nil, false
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, into); err != nil {
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

// podWithoutManagedFields decodes a Pod into *Pod, its metadata without
// managedFields: Metadata, a field of this struct, takes the JSON name
// "metadata" from the embedded Pod's ObjectMeta, one level down.
type podWithoutManagedFields struct {
	*corev1.Pod
	Metadata metadataWithoutManagedFields `json:"metadata"`
}

// serviceWithoutManagedFields is podWithoutManagedFields for a Service.
type serviceWithoutManagedFields struct {
	*corev1.Service
	Metadata metadataWithoutManagedFields `json:"metadata"`
}

// metadataWithoutManagedFields decodes metadata into *ObjectMeta, except
// managedFields, which its ManagedFields field takes and drops.
type metadataWithoutManagedFields struct {
	*metav1.ObjectMeta
	ManagedFields skipped `json:"managedFields"`
}

// skipped is a JSON value that is read past, not decoded.
type skipped struct{}

// UnmarshalJSON implements json.Unmarshaler: it keeps nothing.
func (*skipped) UnmarshalJSON([]byte) error { return nil }

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
		return nil, &TypeError{Object: t.Object, Type: what, Err: err}
	}
	return e.runTyped(ctx, in, obj, muts, vals, t, w)
}

// reviewTyped reviews typed, the input's Typed object; the mutations change
// it in place.
func reviewTyped[T any, P typedObject[T]](ctx context.Context, e *Engine, typed P, p *plan, t policy.Target, w policy.World) (*Result, error) {
	muts, vals := e.stepsFor(p, typed.GetLabels(), typed.GetAnnotations())
	if len(muts)+len(vals) == 0 {
		return &Result{}, nil
	}
	return e.runTyped(ctx, Input{Typed: typed}, typed, muts, vals, t, w)
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
