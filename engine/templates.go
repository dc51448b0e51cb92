package engine

import (
	"context"
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/policy"
)

// podTemplates maps each workload kind to where its pod template lives.
var podTemplates = map[schema.GroupKind][]string{
	{Group: "apps", Kind: "Deployment"}:  {"spec", "template"},
	{Group: "apps", Kind: "StatefulSet"}: {"spec", "template"},
	{Group: "apps", Kind: "DaemonSet"}:   {"spec", "template"},
	{Group: "apps", Kind: "ReplicaSet"}:  {"spec", "template"},
	{Group: "batch", Kind: "Job"}:        {"spec", "template"},
	{Group: "batch", Kind: "CronJob"}:    {"spec", "jobTemplate", "spec", "template"},
}

// IsWorkload reports whether gk is a workload kind whose pod template the pod
// rules check.
func IsWorkload(gk schema.GroupKind) bool {
	_, ok := podTemplates[gk]
	return ok
}

// reviewTemplate runs the pod rules on a workload's pod template, as the pods it
// will create. Changes and findings are reported against the workload, with the
// template's field path; the patch applies to the workload.
func (e *Engine) reviewTemplate(ctx context.Context, in Input, t policy.Target, w policy.World, tplPath []string) (*Result, error) {
	res := &Result{Object: in.Object}
	tpl, found, err := unstructured.NestedMap(in.Object.Object, tplPath...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s is not an object: %w", t.Object, strings.Join(tplPath, "."), err)
	}
	if !found || !e.podCandidate(tpl) {
		return res, nil
	}
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tpl, pod); err != nil {
		return nil, fmt.Errorf("%s: %s is not a valid pod template: %w", t.Object, strings.Join(tplPath, "."), err)
	}
	t.Template = true
	rep, err := e.mutatePod(ctx, pod, t, w)
	if err != nil {
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
	if res.Mutated, err = withTemplate(in.Object, tplPath, pod); err != nil {
		return nil, err
	}
	vrep := t.NewReport()
	if err := e.validatePod(ctx, pod, t, w, &vrep); err != nil {
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
