// Package audit reviews what a cluster already holds with the same engine the
// admission webhook runs, and turns the verdicts into one result per resource:
// violations (the validation rules' findings and the mutations' conflicts) and
// drift (what a mutation rule would change on an object that is already
// stored). Workloads are reported once, not pod by pod: a Deployment,
// StatefulSet, DaemonSet, Job or CronJob carries the drift of its running pods,
// with how many are affected and whether a restart fixes them. It also builds
// and writes the OpenReports (or wg-policy PolicyReport) objects of the
// continuous audit in `meshgate serve`.
package audit

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
)

// Kinds of finding.
const (
	// KindViolation: a validation rule's finding, or a mutation's conflict.
	KindViolation = "violation"
	// KindDrift: a mutation rule would change the stored object (or the
	// running pods of a workload).
	KindDrift = "drift"
)

// Finding is one verdict on a live resource.
type Finding struct {
	policy.Finding
	// Kind is KindViolation or KindDrift.
	Kind string `json:"kind"`
}

// Resource is the audit of one live resource: a workload (with its pods), a
// Pod that no audited workload owns, or any other object a rule reviews.
type Resource struct {
	// Object is the resource as read from the cluster.
	Object *unstructured.Unstructured
	// Ref names it (Namespace "" for a cluster-scoped object).
	Ref policy.ObjectRef
	// Rules are the ids of the rules that reviewed it (or its pod template),
	// in engine order: those without a finding passed.
	Rules []string
	// Findings are its violations and drift, in engine order.
	Findings []Finding
	// Pods is how many running pods of a workload were reviewed; Affected how
	// many of them had drift or a violation.
	Pods, Affected int
	// Err is why it could not be reviewed (nil when it was).
	Err error
}

// Workload kinds whose pods are reported on the workload.
var workloadKinds = map[string]bool{
	"apps/Deployment": true, "apps/StatefulSet": true, "apps/DaemonSet": true, "apps/ReplicaSet": true,
	"batch/Job": true, "batch/CronJob": true,
}

func groupKind(u *unstructured.Unstructured) string {
	gvk := u.GroupVersionKind()
	if gvk.Group == "" {
		return gvk.Kind
	}
	return gvk.Group + "/" + gvk.Kind
}

// Review runs eng over objs in w (workers at a time) and returns one Resource
// per audited resource, in the order of objs. A Pod controlled (directly or
// through a ReplicaSet or Job) by a workload in objs is reported on that
// workload; a ReplicaSet controlled by a Deployment in objs, and a Job
// controlled by a CronJob in objs, are not reported themselves. Objects of
// kinds no rule reviews are left out.
func Review(ctx context.Context, eng *engine.Engine, w policy.World, objs []*unstructured.Unstructured, workers int) []Resource {
	byUID := make(map[types.UID]*unstructured.Unstructured, len(objs))
	for _, u := range objs {
		if uid := u.GetUID(); uid != "" {
			byUID[uid] = u
		}
	}
	// top follows controller references through the objects read.
	top := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		cur := u
		for range 4 {
			ref := metav1.GetControllerOf(cur)
			if ref == nil {
				break
			}
			owner, ok := byUID[ref.UID]
			if !ok || !workloadKinds[groupKind(owner)] {
				break
			}
			cur = owner
		}
		return cur
	}
	var (
		subjects []*unstructured.Unstructured
		podsOf   = map[types.UID][]*unstructured.Unstructured{}
	)
	for _, u := range objs {
		if !eng.Handles(u.GroupVersionKind().GroupKind()) {
			continue
		}
		owner := top(u)
		switch {
		case owner == u:
			subjects = append(subjects, u)
		case u.GetKind() == "Pod" && u.GroupVersionKind().Group == "":
			if running(u) {
				podsOf[owner.GetUID()] = append(podsOf[owner.GetUID()], u)
			}
		default:
			// A ReplicaSet of a Deployment, a Job of a CronJob: its pods are
			// reported on the top workload, whose template is what people edit.
		}
	}
	out := make([]Resource, len(subjects))
	var g errgroup.Group
	g.SetLimit(max(1, workers))
	for i, u := range subjects {
		g.Go(func() error {
			out[i] = reviewResource(ctx, eng, w, u, podsOf[u.GetUID()])
			return nil
		})
	}
	_ = g.Wait() // the reviews return no error
	return out
}

// running reports whether a pod has not terminated.
func running(pod *unstructured.Unstructured) bool {
	phase, _, _ := unstructured.NestedString(pod.Object, "status", "phase")
	return phase != "Succeeded" && phase != "Failed"
}

func reviewResource(ctx context.Context, eng *engine.Engine, w policy.World, u *unstructured.Unstructured, pods []*unstructured.Unstructured) Resource {
	r := Resource{Object: u, Ref: policy.ObjectRef{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}}
	r.Rules = applicable(eng, u)
	res, err := eng.Review(ctx, engine.Input{Object: u, Operation: policy.Create, PatchOnly: true}, w)
	if err != nil {
		r.Err = err
		return r
	}
	for _, f := range res.Findings {
		r.Findings = append(r.Findings, Finding{Finding: f, Kind: KindViolation})
	}
	isWorkload := workloadKinds[groupKind(u)]
	if !isWorkload {
		// The stored object itself: a change is drift.
		for _, rule := range changedRules(res.Changes) {
			r.Findings = append(r.Findings, drift(eng.Config(), r.Ref, u, rule, res.Changes, objectAdvice(r.Ref)))
		}
		return r
	}
	// A workload's template changes are what meshgate does to new pods at
	// admission: not drift. Its running pods' are.
	r.Pods = len(pods)
	podDrift := map[string][]policy.Change{}
	podAffected := map[string]int{}
	type violation struct{ rule, field, message string }
	var violations []violation
	podViolations := map[violation]int{}
	templateChanged := changedRules(res.Changes)
	templateFinds := map[string]string{}
	for _, f := range res.Findings {
		if _, ok := templateFinds[f.Rule]; !ok {
			templateFinds[f.Rule] = f.Message
		}
	}
	for _, p := range pods {
		pres, err := eng.Review(ctx, engine.Input{Object: p, Operation: policy.Create, PatchOnly: true}, w)
		if err != nil {
			r.Err = fmt.Errorf("pod %s: %w", p.GetName(), err)
			return r
		}
		affected := false
		for _, rule := range changedRules(pres.Changes) {
			podAffected[rule]++
			if len(podDrift[rule]) == 0 {
				podDrift[rule] = pres.Changes
			}
			affected = true
		}
		for _, f := range pres.Findings {
			if _, onTemplate := templateFinds[f.Rule]; onTemplate || f.Mode == policy.Suppressed {
				continue // the template's finding says it once
			}
			v := violation{f.Rule, f.Field, f.Message}
			if podViolations[v] == 0 {
				violations = append(violations, v)
			}
			podViolations[v]++
			affected = true
		}
		if affected {
			r.Affected++
		}
	}
	rules := make([]string, 0, len(podDrift))
	for rule := range podDrift {
		rules = append(rules, rule)
	}
	sort.Strings(rules)
	for _, rule := range rules {
		advice := workloadAdvice(r.Ref, podAffected[rule], len(pods), slices.Contains(templateChanged, rule), templateFinds[rule])
		r.Findings = append(r.Findings, drift(eng.Config(), r.Ref, u, rule, podDrift[rule], advice))
	}
	for _, v := range violations {
		f := policy.Finding{Rule: v.rule, Mode: eng.Config().Mode(v.rule), Object: r.Ref, Field: "pods: " + v.field,
			Message: fmt.Sprintf("%d of %d running pods: %s", podViolations[v], len(pods), v.message)}
		r.Findings = append(r.Findings, Finding{Finding: suppressed(eng.Config(), f, u)[0], Kind: KindViolation})
	}
	return r
}

// applicable returns the rules the engine runs on u (or its pod template):
// those of its kind whose Select passes.
func applicable(eng *engine.Engine, u *unstructured.Unstructured) []string {
	gk := u.GroupVersionKind().GroupKind()
	meta := u.Object
	for _, k := range policy.ReviewedKinds() {
		if k.GroupKind() == gk && len(k.Template) > 0 {
			if tmpl, ok, _ := unstructured.NestedMap(u.Object, k.Template...); ok {
				meta = tmpl
			}
		}
	}
	labels, _, _ := unstructured.NestedStringMap(meta, "metadata", "labels")
	annotations, _, _ := unstructured.NestedStringMap(meta, "metadata", "annotations")
	var out []string
	for _, id := range eng.Rules(gk) {
		r, ok := policy.LookupRule(id)
		if !ok {
			continue
		}
		for _, rv := range r.Reviews {
			if !slices.ContainsFunc(rv.Kinds, func(k policy.Kind) bool { return k.GroupKind() == gk }) {
				continue
			}
			if rv.Select == nil || rv.Select(labels, annotations, eng.Config()) {
				out = append(out, id)
			}
		}
	}
	return out
}

// changedRules are the rules with a change, in order.
func changedRules(cs []policy.Change) []string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.Rule) {
			out = append(out, c.Rule)
		}
	}
	return out
}

// drift is the finding that rule would change a stored object: the rule's
// mode, the first changed field and its reason, how many changes, and advice.
func drift(cfg *policy.Config, ref policy.ObjectRef, u *unstructured.Unstructured, rule string, cs []policy.Change, advice string) Finding {
	var first *policy.Change
	n := 0
	for i := range cs {
		if cs[i].Rule != rule {
			continue
		}
		if first == nil {
			first = &cs[i]
		}
		n++
	}
	f := policy.Finding{Rule: rule, Mode: cfg.Mode(rule), Object: ref, Field: first.Field,
		Message: fmt.Sprintf("drift: meshgate would make %d change(s), first %s (%s); %s", n, first.Field, first.Reason, advice)}
	fs := suppressed(cfg, f, u)
	return Finding{Finding: fs[0], Kind: KindDrift}
}

// suppressed applies cfg's suppressions to one finding about u.
func suppressed(cfg *policy.Config, f policy.Finding, u *unstructured.Unstructured) []policy.Finding {
	fs := []policy.Finding{f}
	cfg.Suppress(fs, u.GetLabels())
	return fs
}

func objectAdvice(ref policy.ObjectRef) string {
	return fmt.Sprintf("the stored %s lacks it: apply it again with meshgate's webhook registered, or make the change in its manifest", ref.Kind)
}

// workloadAdvice says what fixes the drift of affected of pods running pods.
// templateChanged says whether meshgate would change the template too (it
// then completes new pods at admission); templateFinding is the rule's
// finding on the template, if any (the template itself is wrong).
func workloadAdvice(ref policy.ObjectRef, affected, pods int, templateChanged bool, templateFinding string) string {
	restart := fmt.Sprintf("kubectl rollout restart %s/%s -n %s", strings.ToLower(ref.Kind), ref.Name, ref.Namespace)
	switch {
	case templateFinding != "":
		return fmt.Sprintf("%d of %d running pods lack it, and the %s's template itself is wrong (%s): fix the template; a restart alone does not help", affected, pods, ref.Kind, templateFinding)
	case templateChanged:
		return fmt.Sprintf("%d of %d running pods lack it; the %s's template is right as meshgate completes it at admission: restart it with meshgate's webhook registered (%s)", affected, pods, ref.Kind, restart)
	}
	return fmt.Sprintf("%d of %d running pods lack it; the %s's template is already right: restart it (%s)", affected, pods, ref.Kind, restart)
}
