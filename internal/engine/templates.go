package engine

import (
	"context"
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/policy"
)

// reviewTemplate runs the pod rules on a workload's pod template, as the pods it
// will create. Changes and findings are reported against the workload, with the
// template's field path; the patch applies to the workload.
func (e *Engine) reviewTemplate(ctx context.Context, in Input, p *plan, t policy.Target, w policy.World) (*Result, error) {
	res := &Result{Object: in.Object}
	tplPath := p.kind.Template
	tpl, found, err := nestedMap(in.Object.Object, tplPath...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s is not an object: %w", t.Object, strings.Join(tplPath, "."), err)
	}
	if !found {
		return res, nil
	}
	muts, vals := e.steps(p, tpl)
	if len(muts)+len(vals) == 0 {
		return res, nil
	}
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tpl, pod); err != nil {
		return nil, &TypeError{Object: t.Object, Field: strings.Join(tplPath, "."), Type: "pod template", Err: err}
	}
	t.Template = true
	rep := t.NewReport()
	if err := e.run(ctx, muts, pod, t, w, &rep); err != nil {
		return nil, err
	}
	tplField := field.NewPath(tplPath[0], tplPath[1:]...)
	pointerPrefix := policy.FieldPointer(tplField)
	fieldPrefix := tplField.String()
	rebase(&rep, fieldPrefix, pointerPrefix)
	if len(rep.Changes) > 0 {
		if _, hasMeta := tpl["metadata"]; !hasMeta {
			// The pod rules write annotations; a template without metadata needs it
			// created first.
			created := jsonpatch.NewOperation("add", policy.FieldPointer(tplField.Child("metadata")), map[string]any{})
			rep.Changes[0].Ops = append([]jsonpatch.Operation{created}, rep.Changes[0].Ops...)
		}
	}
	if err := res.apply(in, rep); err != nil {
		return nil, err
	}
	if len(muts) > 0 && !in.PatchOnly {
		if res.Mutated, err = withTemplate(in.Object, tplPath, pod); err != nil {
			return nil, err
		}
	}
	vrep := t.NewReport()
	if err := e.run(ctx, vals, pod, t, w, &vrep); err != nil {
		return nil, err
	}
	rebase(&vrep, fieldPrefix, pointerPrefix)
	res.Findings = append(rep.Findings, vrep.Findings...)
	return res, nil
}

// withTemplate returns a copy of workload whose pod template is pod.
func withTemplate(workload *unstructured.Unstructured, tplPath []string, pod *corev1.Pod) (*unstructured.Unstructured, error) {
	podMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pod)
	if err != nil {
		return nil, fmt.Errorf("encode mutated pod template: %w", err)
	}
	out := workload.DeepCopy()
	tpl := map[string]any{"metadata": podMap["metadata"], "spec": podMap["spec"]}
	if err := unstructured.SetNestedField(out.Object, tpl, tplPath...); err != nil {
		return nil, fmt.Errorf("set mutated pod template: %w", err)
	}
	return out, nil
}

// nestedMap is unstructured.NestedMap (same results, same errors) without its
// deep copy of the map found: the engine only reads the pod template, and the
// copy was the costliest step of reviewing a workload no rule applies to.
func nestedMap(obj map[string]any, fields ...string) (map[string]any, bool, error) {
	val, found, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if !found || err != nil {
		return nil, found, err
	}
	m, ok := val.(map[string]any)
	if !ok {
		return nil, false, fmt.Errorf(".%s accessor error: %v is of the type %T, expected map[string]interface{}", strings.Join(fields, "."), val, val)
	}
	return m, true, nil
}
