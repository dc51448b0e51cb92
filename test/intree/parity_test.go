package intree

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/golden"
	"github.com/meshgate/meshgate/webhook"
)

// groupLabel puts each input in the group of policies generated for its
// case's configuration: every group's bindings select their own objects, so
// the groups share one API server.
const groupLabel = "parity.meshgate.io/group"

// noGroup selects no binding: the objects the policies must produce are
// created with it, so the API server stores them as it would without policies.
const noGroup = "none"

// Divergence is a known difference between a golden verdict and the in-tree
// policies, with its reason.
type Divergence struct {
	Case   string `json:"case"`
	Aspect string `json:"aspect"`
	Reason string `json:"reason"`
}

// The aspects of a verdict the test compares.
const (
	aspectVerdict  = "verdict"
	aspectMessage  = "message"
	aspectWarnings = "warnings"
	aspectObject   = "object"
)

func loadDivergences(t *testing.T) map[[2]string]string {
	t.Helper()
	data, err := os.ReadFile("divergences.yaml")
	require.NoError(t, err)
	var list []Divergence
	require.NoError(t, yaml.UnmarshalStrict(data, &list))
	out := map[[2]string]string{}
	for _, d := range list {
		require.NotEmpty(t, d.Reason, "divergence %s/%s needs a reason", d.Case, d.Aspect)
		out[[2]string{d.Case, d.Aspect}] = d.Reason
	}
	return out
}

// covered reports whether every input of c is reviewed at admission only by
// rules whose in-tree form is complete (and at least one rule is on).
func covered(c golden.Case) bool {
	for _, in := range c.Inputs {
		gk := in.GroupVersionKind().GroupKind()
		on := 0
		for _, r := range policy.RulesFor(gk) {
			if c.Config.Mode(r.ID) == policy.Off {
				continue
			}
			if !admitted(r, gk) {
				return false
			}
			if r.InTree == nil || !r.InTree.Complete {
				return false
			}
			on++
		}
		if on == 0 {
			return false
		}
	}
	return true
}

// partial reports whether the inputs of c are reviewed at admission by a
// rule whose in-tree form is partial (it wires or checks some objects exactly
// and leaves the others to the webhook), and by no rule without an in-tree
// form that changes objects (validations the webhook keeps are fine: the
// partial test compares stored objects).
func partial(c golden.Case) bool {
	some := false
	for _, in := range c.Inputs {
		gk := in.GroupVersionKind().GroupKind()
		for _, r := range policy.RulesFor(gk) {
			if !admitted(r, gk) {
				return false
			}
			switch {
			case r.InTree != nil && !r.InTree.Complete:
				some = true
			case r.InTree == nil && r.Mutation:
				return false
			}
		}
	}
	return some
}

// admitted reports whether rule r reviews gk on CREATE at admission.
func admitted(r policy.Rule, gk schema.GroupKind) bool {
	for _, rv := range r.Reviews {
		for _, k := range rv.Kinds {
			if k.GroupKind() == gk && slices.Contains(k.Operations, policy.Create) {
				return true
			}
		}
	}
	return false
}

func namespaceOf(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return ns
	}
	return "default"
}

// namespaces collects the namespaces of the cases, with their labels; one
// namespace must mean the same in every case, since the cases share the API
// server.
func namespaces(t *testing.T, cases []golden.Case) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	from := map[string]string{}
	add := func(c golden.Case, name string, labels map[string]string) {
		if labels == nil {
			labels = map[string]string{}
		}
		labels = maps.Clone(labels)
		labels[corev1.LabelMetadataName] = name
		if prev, ok := out[name]; ok && !maps.Equal(prev, labels) {
			t.Fatalf("namespace %s has labels %v in case %s but %v in case %s: the cases share one API server", name, prev, from[name], labels, c.Name)
		}
		out[name], from[name] = labels, c.Name
	}
	for _, c := range cases {
		known := map[string]bool{}
		for _, o := range c.World {
			if o.GetKind() == "Namespace" {
				add(c, o.GetName(), o.GetLabels())
				known[o.GetName()] = true
			}
		}
		for _, in := range c.Inputs {
			if ns := namespaceOf(in); !known[ns] {
				add(c, ns, nil)
			}
		}
	}
	return out
}

func createNamespaces(ctx context.Context, t *testing.T, all map[string]map[string]string) {
	t.Helper()
	for name, labels := range all {
		ns := &corev1.Namespace{}
		err := k.Client.Get(ctx, client.ObjectKey{Name: name}, ns)
		switch {
		case apierrors.IsNotFound(err):
			ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
			require.NoError(t, k.Client.Create(ctx, ns))
		case err == nil:
			ns.Labels = labels
			require.NoError(t, k.Client.Update(ctx, ns))
		default:
			require.NoError(t, err)
		}
	}
}

// groupPolicies generates the policies for cfg and ties them to group:
// renamed <rule>.<group>.meshgate.io, with bindings that select the group's
// objects only.
func groupPolicies(t *testing.T, cfg *policy.Config, group string) *intree.Set {
	t.Helper()
	set, err := intree.Generate(cfg, intree.Options{})
	require.NoError(t, err)
	rename := func(n string) string { return strings.TrimSuffix(n, ".meshgate.io") + "." + group + ".meshgate.io" }
	selector := func(rules []admissionregistrationv1.NamedRuleWithOperations) *admissionregistrationv1.MatchResources {
		return &admissionregistrationv1.MatchResources{
			ResourceRules:     rules,
			NamespaceSelector: &metav1.LabelSelector{},
			ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{groupLabel: group}},
		}
	}
	for i := range set.Rules {
		rs := &set.Rules[i]
		rules := map[string][]admissionregistrationv1.NamedRuleWithOperations{}
		for j := range rs.Validating {
			rules[rs.Validating[j].Name] = rs.Validating[j].Spec.MatchConstraints.ResourceRules
			rs.Validating[j].Name = rename(rs.Validating[j].Name)
		}
		for j := range rs.ValidatingBindings {
			b := &rs.ValidatingBindings[j]
			b.Spec.MatchResources = selector(rules[b.Spec.PolicyName])
			b.Name, b.Spec.PolicyName = rename(b.Name), rename(b.Spec.PolicyName)
		}
		for j := range rs.Mutating {
			// A mutation that fails to evaluate is ignored in a cluster (the
			// webhook still wires the object); here it must fail loudly, not
			// pass for an object left to the webhook.
			fail := admissionregistrationv1.Fail
			rs.Mutating[j].Spec.FailurePolicy = &fail
			rules[rs.Mutating[j].Name] = rs.Mutating[j].Spec.MatchConstraints.ResourceRules
			rs.Mutating[j].Name = rename(rs.Mutating[j].Name)
		}
		for j := range rs.MutatingBindings {
			b := &rs.MutatingBindings[j]
			b.Spec.MatchResources = selector(rules[b.Spec.PolicyName])
			b.Name, b.Spec.PolicyName = rename(b.Name), rename(b.Spec.PolicyName)
		}
	}
	return set
}

// apply creates every group's objects, policies before bindings, validating
// before mutating, then the probes, and waits until the API server applies
// the probes: its policy informers then hold everything created before them.
func apply(ctx context.Context, t *testing.T, sets []*intree.Set) {
	t.Helper()
	applyTo(ctx, t, k.Client, sets)
}

// applyTo is apply on the API server c talks to.
func applyTo(ctx context.Context, t *testing.T, c client.Client, sets []*intree.Set) {
	t.Helper()
	var vaps, vapbs, mps, mapbs []client.Object
	for _, s := range sets {
		for i := range s.Rules {
			rs := &s.Rules[i]
			for j := range rs.Validating {
				vaps = append(vaps, &rs.Validating[j])
			}
			for j := range rs.ValidatingBindings {
				vapbs = append(vapbs, &rs.ValidatingBindings[j])
			}
			for j := range rs.Mutating {
				mps = append(mps, &rs.Mutating[j])
			}
			for j := range rs.MutatingBindings {
				mapbs = append(mapbs, &rs.MutatingBindings[j])
			}
		}
	}
	vp, vb, mp, mb := probes()
	np, nb := namespaceProbe()
	for _, objs := range [][]client.Object{vaps, vapbs, {vp, vb}, mps, mapbs, {np, nb, mp, mb}} {
		for _, o := range objs {
			o.SetResourceVersion("")
			require.NoError(t, c.Create(ctx, o), "create %s", o.GetName())
		}
	}
	var last error
	require.Eventually(t, func() bool {
		denied := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "parity-probe", Namespace: "default"}}
		err := c.Create(ctx, denied, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "parity probe") {
			last = fmt.Errorf("the probe ValidatingAdmissionPolicy is not applied yet: %v", err)
			return false
		}
		mutated := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "parity-probe-m", Namespace: "default"}}
		if err := c.Create(ctx, mutated, client.DryRunAll); err != nil || mutated.Labels["parity-probe"] != "mutated" {
			last = fmt.Errorf("the probe MutatingAdmissionPolicy is not applied yet: %v %v", err, mutated.Labels)
			return false
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "the API server never applied the policies: %v", last)
}

func probes() (client.Object, client.Object, client.Object, client.Object) {
	configMaps := &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
		RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
		},
	}}}
	vp := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "parity-probe.meshgate.io"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: configMaps.DeepCopy(),
			Validations:      []admissionregistrationv1.Validation{{Expression: "object.metadata.name != 'parity-probe'", Message: "parity probe"}},
		},
	}
	vb := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "parity-probe.meshgate.io"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: vp.Name, ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	mp := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "parity-probe.meshgate.io"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints:   configMaps.DeepCopy(),
			MatchConditions:    []admissionregistrationv1.MatchCondition{{Name: "probe", Expression: "object.metadata.name == 'parity-probe-m'"}},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{
					Expression: `Object{metadata: Object.metadata{labels: {"parity-probe": "mutated"}}}`,
				},
			}},
		},
	}
	mb := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "parity-probe.meshgate.io"},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: mp.Name},
	}
	return vp, vb, mp, mb
}

// namespaceProbe is a MutatingAdmissionPolicy that annotates a ConfigMap
// named nsProbe with its namespace's labels, as the policies see them.
func namespaceProbe() (client.Object, client.Object) {
	mp := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "parity-ns-probe.meshgate.io"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			MatchConditions:    []admissionregistrationv1.MatchCondition{{Name: "probe", Expression: "object.metadata.name == '" + nsProbe + "'"}},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{
					Expression: `Object{metadata: Object.metadata{annotations: {"` + nsProbe + `": namespaceObject.metadata.?labels.orValue({}).map(k, k + '=' + namespaceObject.metadata.labels[k]).join(',')}}}`,
				},
			}},
		},
	}
	mb := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: mp.Name},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: mp.Name},
	}
	return mp, mb
}

// outcome is what the API server answered to one dry-run create.
type outcome struct {
	verdict  string // allowed, denied or invalid
	message  string
	warnings []string
	object   string
	// stored is the object the API server would store (allowed only).
	stored *unstructured.Unstructured
}

var (
	deniedPrefix  = regexp.MustCompile(`^.*ValidatingAdmissionPolicy '[^']*' with binding '[^']*' denied request: `)
	warningPrefix = regexp.MustCompile(`^Validation failed for ValidatingAdmissionPolicy '[^']*' with binding '[^']*': `)
)

// create sends obj, in group, with dry-run=server and reads the answer.
func create(ctx context.Context, t *testing.T, obj *unstructured.Unstructured, group string) outcome {
	t.Helper()
	c, w, err := k.WarningClient()
	require.NoError(t, err)
	obj = obj.DeepCopy()
	obj.SetNamespace(namespaceOf(obj))
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[groupLabel] = group
	obj.SetLabels(labels)
	err = c.Create(ctx, obj, client.DryRunAll)
	var o outcome
	for _, warning := range w.Get() {
		o.warnings = append(o.warnings, warningPrefix.ReplaceAllString(warning, ""))
	}
	switch {
	case err == nil:
		o.verdict, o.object, o.stored = "allowed", stored(t, obj), obj
	case deniedPrefix.MatchString(err.Error()):
		o.verdict, o.message = "denied", deniedPrefix.ReplaceAllString(err.Error(), "")
	case apierrors.IsInvalid(err):
		o.verdict, o.message = "invalid", err.Error()
	default:
		require.NoError(t, err, "dry-run create")
	}
	return o
}

// stored renders what the API server would store, without what differs
// between two creates of the same object.
func stored(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	o := u.DeepCopy().Object
	md := o["metadata"].(map[string]any)
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"} {
		delete(md, f)
	}
	if labels, ok := md["labels"].(map[string]any); ok {
		delete(labels, groupLabel)
		if len(labels) == 0 {
			delete(md, "labels")
		}
	}
	if spec, ok := o["spec"].(map[string]any); ok && u.GetKind() == "Service" {
		delete(spec, "clusterIP")
		delete(spec, "clusterIPs")
	}
	b, err := json.MarshalIndent(o, "", "  ")
	require.NoError(t, err)
	return string(b)
}

// expected is what the webhook path gives for input i of c: the object
// want.yaml says meshgate stores (as the API server stores it), its denial
// message and its warnings, in the form the in-tree policies can give them.
func expected(ctx context.Context, t *testing.T, in *unstructured.Unstructured, v golden.Verdict) outcome {
	t.Helper()
	final := in
	if v.Mutated != nil {
		final = &unstructured.Unstructured{Object: v.Mutated}
	}
	o := create(ctx, t, final, noGroup)
	ref := policy.ObjectRef{APIVersion: in.GetAPIVersion(), Kind: in.GetKind(), Namespace: namespaceOf(in), Name: in.GetName()}
	var deny, warn []policy.Finding
	for _, f := range v.Findings {
		pf := policy.Finding{Rule: f.Rule, Mode: f.Mode, Object: ref, Field: f.Field, Message: f.Message}
		if f.Mode == policy.Enforce {
			deny = append(deny, pf)
		} else {
			warn = append(warn, pf)
		}
	}
	if o.verdict == "invalid" {
		// The API server's own validation rejects what meshgate would
		// store, before any validating policy or webhook is called.
		return o
	}
	return asPolicies(o, deny, warn)
}

// asPolicies is o with the findings deny and warn as a validating policy
// gives them.
func asPolicies(o outcome, deny, warn []policy.Finding) outcome {
	if len(deny) > 0 {
		// One line per finding; the API server allows no line break in a
		// policy's message, so the in-tree form separates them by a space.
		o = outcome{verdict: "denied", message: strings.ReplaceAll(webhook.DenialMessage(deny), "\n", " ")}
	}
	o.warnings = nil
	if len(warn) > 0 {
		// A policy gives one warning per validation: its findings joined.
		ws := webhook.Warnings(warn)
		if len(ws) == 1 {
			o.warnings = ws
		} else {
			o.warnings = []string{fmt.Sprintf("%d problems: %s", len(ws), strings.Join(ws, " "))}
		}
	}
	return o
}

func TestInTreeParity(t *testing.T) {
	ctx := context.Background()
	divergences := loadDivergences(t)
	all, err := golden.Load(golden.CorpusDir())
	require.NoError(t, err)
	var cases []golden.Case
	kind := map[string]string{}
	for _, c := range all {
		switch {
		case covered(c):
			kind[c.Name] = "complete"
		case partial(c):
			kind[c.Name] = "partial"
		default:
			continue
		}
		cases = append(cases, c)
	}
	require.NotEmpty(t, cases)

	groups := map[string]string{}
	var sets []*intree.Set
	groupOf := map[string]string{}
	for _, c := range cases {
		hash, err := intree.ConfigHash(c.Config)
		require.NoError(t, err)
		g, ok := groups[hash]
		if !ok {
			g = fmt.Sprintf("g%d", len(groups)+1)
			groups[hash] = g
			sets = append(sets, groupPolicies(t, c.Config, g))
		}
		groupOf[c.Name] = g
	}
	apply(ctx, t, sets)

	seen := map[[2]string]bool{}
	var names []string
	var wiredBy, unchanged, left []string
	reported = map[string]bool{}
	for _, round := range rounds(t, cases) {
		labels := namespaces(t, round)
		createNamespaces(ctx, t, labels)
		waitForNamespaces(ctx, t, labels)
		for _, c := range round {
			names = append(names, c.Name)
			t.Run(c.Name, func(t *testing.T) {
				want, err := c.Want()
				require.NoError(t, err)
				require.Len(t, want, len(c.Inputs))
				var diffs map[string][]string
				if kind[c.Name] == "complete" {
					diffs = compareComplete(ctx, t, c, want, groupOf[c.Name])
				} else {
					var done partialResult
					diffs, done = comparePartial(ctx, t, c, want, groupOf[c.Name])
					switch done {
					case wiredByPolicies:
						wiredBy = append(wiredBy, c.Name)
					case nothingToDo:
						unchanged = append(unchanged, c.Name)
					default:
						left = append(left, c.Name)
					}
				}
				for _, aspect := range []string{aspectVerdict, aspectMessage, aspectWarnings, aspectObject} {
					key := [2]string{c.Name, aspect}
					seen[key] = true
					reason, listed := divergences[key]
					switch {
					case len(diffs[aspect]) > 0 && !listed:
						t.Errorf("%s differs from the golden verdict:\n%s", aspect, strings.Join(diffs[aspect], "\n"))
					case len(diffs[aspect]) > 0:
						t.Logf("known divergence (%s): %s", aspect, reason)
					case listed:
						t.Errorf("divergences.yaml lists %s/%s, but the policies agree with the golden verdict: remove it", c.Name, aspect)
					}
				}
			})
		}
	}
	for key := range divergences {
		if !seen[key] {
			t.Errorf("divergences.yaml lists %s/%s, which is not a covered case (covered: %s)", key[0], key[1], strings.Join(names, ", "))
		}
	}
	sort.Strings(names)
	t.Logf("%d golden cases covered by the in-tree policies: %s", len(names), strings.Join(names, ", "))
	t.Logf("partial in-tree forms: %d cases changed exactly by the policies alone (%s); %d with nothing to change (%s); %d left to the webhook (%s)",
		len(wiredBy), strings.Join(wiredBy, ", "), len(unchanged), strings.Join(unchanged, ", "), len(left), strings.Join(left, ", "))
	var byPolicies []string
	for name := range reported {
		byPolicies = append(byPolicies, name)
	}
	sort.Strings(byPolicies)
	t.Logf("partial validating forms: findings reported by the policies in %d cases (%s)", len(byPolicies), strings.Join(byPolicies, ", "))
	require.NotEmpty(t, byPolicies, "no golden case exercises a partial validating form")
	// The edge-proxy pod policy must do the common cases itself, not leave
	// everything to the webhook.
	require.Greater(t, len(wiredBy), 2*len(left), "the partial in-tree forms leave too many cases to the webhook")
}

// compareComplete holds the policies alone to the golden verdicts of c: the
// verdict, the denial message, the warnings and the stored object.
func compareComplete(ctx context.Context, t *testing.T, c golden.Case, want []golden.Verdict, group string) map[string][]string {
	t.Helper()
	diffs := map[string][]string{}
	for i, in := range c.Inputs {
		exp := expected(ctx, t, in, want[i])
		got := create(ctx, t, in, group)
		if got.verdict != exp.verdict {
			diffs[aspectVerdict] = append(diffs[aspectVerdict], fmt.Sprintf("input %d: %s, want %s (%s)", i, got.verdict, exp.verdict, got.message+exp.message))
			continue
		}
		if exp.verdict == "denied" && got.message != exp.message {
			diffs[aspectMessage] = append(diffs[aspectMessage], fmt.Sprintf("input %d:\n got: %s\nwant: %s", i, got.message, exp.message))
		}
		if !slices.Equal(got.warnings, exp.warnings) {
			diffs[aspectWarnings] = append(diffs[aspectWarnings], fmt.Sprintf("input %d:\n got: %q\nwant: %q", i, got.warnings, exp.warnings))
		}
		if exp.verdict == "allowed" && got.object != exp.object {
			diffs[aspectObject] = append(diffs[aspectObject], fmt.Sprintf("input %d:\n got: %s\nwant: %s", i, got.object, exp.object))
		}
	}
	return diffs
}

// reported collects the cases in which a partial validating form reported
// findings itself.
var reported map[string]bool

// partialResult says what a partial in-tree form did with a case.
type partialResult int

const (
	// wiredByPolicies: the policies alone stored every golden object.
	wiredByPolicies partialResult = iota
	// nothingToDo: the golden verdicts change nothing, nor did the policies.
	nothingToDo
	// leftToWebhook: the policies left at least one input as it was.
	leftToWebhook
)

// comparePartial holds a partial in-tree form to c: the policies alone must
// store either the golden object (they did all of it) or the input as it
// was (they left it to the webhook), never something in between; and the
// engine (the webhook) run on what the policies stored must end where it
// ends without them, with the same findings: the webhook after the policies
// is the webhook alone.
func comparePartial(ctx context.Context, t *testing.T, c golden.Case, want []golden.Verdict, group string) (map[string][]string, partialResult) {
	t.Helper()
	diffs := map[string][]string{}
	w, err := c.BuildWorld()
	require.NoError(t, err)
	e := engine.New(c.Config)
	done := nothingToDo
	for i, in := range c.Inputs {
		untouched := create(ctx, t, in, noGroup)
		if untouched.verdict == "invalid" {
			continue // the API server rejects the input itself
		}
		final := in
		if want[i].Mutated != nil {
			final = &unstructured.Unstructured{Object: want[i].Mutated}
		}
		exp := create(ctx, t, final, noGroup)
		got := create(ctx, t, in, group)
		// The findings the in-tree forms report (Finding.InTree), as the
		// engine finds them on the input: the policies must give exactly
		// those, and the webhook leaves them out.
		inTree := inTreeOutcome(ctx, t, e, w, in)
		if inTree.verdict != "allowed" || len(inTree.warnings) > 0 {
			reported[c.Name] = true
		}
		if got.verdict != inTree.verdict {
			diffs[aspectVerdict] = append(diffs[aspectVerdict], fmt.Sprintf("input %d: %s (%s), want %s (%s)", i, got.verdict, got.message, inTree.verdict, inTree.message))
			continue
		}
		if got.verdict == "denied" {
			if got.message != inTree.message {
				diffs[aspectMessage] = append(diffs[aspectMessage], fmt.Sprintf("input %d:\n got: %s\nwant: %s", i, got.message, inTree.message))
			}
			continue
		}
		if !slices.Equal(got.warnings, inTree.warnings) {
			diffs[aspectWarnings] = append(diffs[aspectWarnings], fmt.Sprintf("input %d: the policies warn:\n got: %q\nwant: %q", i, got.warnings, inTree.warnings))
		}
		switch got.object {
		case untouched.object:
			if exp.object != untouched.object {
				done = leftToWebhook
			}
		case exp.object:
			if done == nothingToDo {
				done = wiredByPolicies
			}
		default:
			diffs[aspectObject] = append(diffs[aspectObject], fmt.Sprintf("input %d: the policies did part of the wiring:\n got: %s\nwant: %s\n  or: %s", i, got.object, exp.object, untouched.object))
			continue
		}
		// The webhook after the policies.
		after := got.stored.DeepCopy()
		res, err := e.Review(ctx, engine.Input{Object: after}, w)
		require.NoError(t, err)
		v := golden.VerdictOf(golden.RefOf(in), res)
		if end := res.Object; end != nil {
			if o := create(ctx, t, end, noGroup); o.object != exp.object {
				diffs[aspectObject] = append(diffs[aspectObject], fmt.Sprintf("input %d: the webhook after the policies stores:\n got: %s\nwant: %s", i, o.object, exp.object))
			}
		}
		if gf, wf := findingLines(v.Findings), findingLines(want[i].Findings); !slices.Equal(gf, wf) {
			diffs[aspectWarnings] = append(diffs[aspectWarnings], fmt.Sprintf("input %d: the webhook after the policies finds:\n got: %q\nwant: %q", i, gf, wf))
		}
	}
	return diffs, done
}

// inTreeOutcome is what the policies must answer to in: allowed, or the
// denial or warnings of the findings the engine marks as the in-tree forms'.
func inTreeOutcome(ctx context.Context, t *testing.T, e *engine.Engine, w policy.World, in *unstructured.Unstructured) outcome {
	t.Helper()
	u := in.DeepCopy()
	u.SetNamespace(namespaceOf(in))
	res, err := e.Review(ctx, engine.Input{Object: u}, w)
	require.NoError(t, err)
	var deny, warn []policy.Finding
	for _, f := range res.Findings {
		switch {
		case !f.InTree:
		case f.Mode == policy.Enforce:
			deny = append(deny, f)
		default:
			warn = append(warn, f)
		}
	}
	return asPolicies(outcome{verdict: "allowed"}, deny, warn)
}

func findingLines(fs []golden.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s: %s", f.Rule, f.Mode, f.Field, f.Message))
	}
	return out
}

// rounds splits cases into groups that agree on the labels of every
// namespace they share: the cases of one round run together, with the
// namespaces labelled as they say.
func rounds(t *testing.T, cases []golden.Case) [][]golden.Case {
	t.Helper()
	var out [][]golden.Case
	var labels []map[string]map[string]string
next:
	for _, c := range cases {
		mine := namespaces(t, []golden.Case{c})
		for r := range out {
			if agree(labels[r], mine) {
				out[r] = append(out[r], c)
				maps.Copy(labels[r], mine)
				continue next
			}
		}
		out = append(out, []golden.Case{c})
		labels = append(labels, maps.Clone(mine))
	}
	return out
}

func agree(a, b map[string]map[string]string) bool {
	for ns, l := range b {
		if prev, ok := a[ns]; ok && !maps.Equal(prev, l) {
			return false
		}
	}
	return true
}

// nsProbe names the ConfigMap the namespace probe policy annotates with its
// namespace's labels.
const nsProbe = "parity-ns-probe"

// waitForNamespaces waits until the API server's policies see the
// namespaces with the labels given (namespaceObject comes from its cache).
func waitForNamespaces(ctx context.Context, t *testing.T, all map[string]map[string]string) {
	t.Helper()
	for name, labels := range all {
		want := make([]string, 0, len(labels))
		for k, v := range labels {
			want = append(want, k+"="+v)
		}
		sort.Strings(want)
		var last string
		require.Eventually(t, func() bool {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: nsProbe, Namespace: name}}
			if err := k.Client.Create(ctx, cm, client.DryRunAll); err != nil {
				last = err.Error()
				return false
			}
			got := strings.Split(cm.Annotations[nsProbe], ",")
			sort.Strings(got)
			last = strings.Join(got, ",")
			return slices.Equal(got, want)
		}, 30*time.Second, 50*time.Millisecond, "the policies never saw namespace %s labelled %v (last: %s)", name, want, last)
	}
}
