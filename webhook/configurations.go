package webhook

import (
	"cmp"
	"maps"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/policy"
)

// Names of meshgate's webhooks inside its configurations.
const (
	MutatingWebhookName   = "mutate.meshgate.io"
	ValidatingWebhookName = "validate.meshgate.io"
)

// RegistrationOptions shape the webhook configurations Configurations builds.
type RegistrationOptions struct {
	// Name of both configurations (default "meshgate").
	Name string
	// ClientConfig returns how the API server reaches the handler at path.
	ClientConfig func(path string) admissionregistrationv1.WebhookClientConfig
	// FailurePolicy, when set, replaces every webhook's own (see
	// OutageDefaults).
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds, when set, replaces every webhook's own (see
	// OutageDefaults).
	TimeoutSeconds int32
	// ExcludeNamespaces are never sent to meshgate (kube-system and
	// kube-node-lease always are excluded; add meshgate's own).
	ExcludeNamespaces []string
	// ObjectSelector, when set, limits every webhook to matching objects.
	ObjectSelector *metav1.LabelSelector
	// Config is the configuration the server reads (nil: the defaults): its
	// edge-proxy selectors, edgeProxy.certMode and servicePorts.scope shape
	// where the pod and Service webhooks look (see Webhooks).
	Config *policy.Config
}

// Configurations returns the webhook configurations that send the API server's
// requests to meshgate, derived from the registered rules (policy.Rules) and
// the configuration: the mutating configuration for the kinds a mutation rule
// reviews, the validating one for every kind a rule reviews, each on the
// operations the kind declares (kinds that only `meshgate check` reviews,
// workload pod templates, are not registered).
//
// Each configuration holds one webhook per admission scope the rules declare
// (Webhooks): the edge-proxy pods in the namespaces where the pod rules can
// act, the Services where the Service rules apply, and one webhook (named
// MutatingWebhookName or ValidatingWebhookName) for the kinds without a
// narrower scope. Every webhook declares sideEffects None (so
// --dry-run=server requests reach it), admissionReviewVersions v1 and
// matchPolicy Equivalent; the mutating ones are re-invoked if a later webhook
// (Istio's injector) changes the object.
func Configurations(o RegistrationOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	if o.Name == "" {
		o.Name = "meshgate"
	}
	cfg := o.Config
	if cfg == nil {
		cfg = policy.DefaultConfig()
	}
	excluded := []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn,
		Values: append([]string{"kube-system", "kube-node-lease"}, o.ExcludeNamespaces...),
	}}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
	}
	for _, w := range Webhooks(cfg, true) {
		mutating.Webhooks = append(mutating.Webhooks, admissionWebhook(w, o, MutatePath, excluded))
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
	}
	for _, w := range Webhooks(cfg, false) {
		validating.Webhooks = append(validating.Webhooks, validatingWebhook(admissionWebhook(w, o, ValidatePath, excluded)))
	}
	return mutating, validating
}

// admissionWebhook is w as a webhook of a configuration (a MutatingWebhook;
// validatingWebhook turns it into a ValidatingWebhook): its namespace
// selector requires excluded, then w's own namespace requirements; the
// client config, object selector and outage settings come from o.
func admissionWebhook(w Webhook, o RegistrationOptions, path string, excluded []metav1.LabelSelectorRequirement) admissionregistrationv1.MutatingWebhook {
	objSel := o.ObjectSelector
	if objSel == nil {
		objSel = &metav1.LabelSelector{}
	}
	var client admissionregistrationv1.WebhookClientConfig
	if o.ClientConfig != nil {
		client = o.ClientConfig(path)
	}
	var nsSel []metav1.LabelSelectorRequirement
	for _, r := range append(slices.Clone(excluded), w.Namespaces...) {
		nsSel = append(nsSel, *r.DeepCopy())
	}
	return admissionregistrationv1.MutatingWebhook{
		Name:                    w.Name,
		ClientConfig:            client,
		Rules:                   cloneRules(w.Rules),
		FailurePolicy:           ptr.To(cmp.Or(o.FailurePolicy, w.FailurePolicy)),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		NamespaceSelector:       &metav1.LabelSelector{MatchExpressions: nsSel},
		ObjectSelector:          objSel.DeepCopy(),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To(cmp.Or(o.TimeoutSeconds, w.TimeoutSeconds)),
		AdmissionReviewVersions: []string{"v1"},
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		MatchConditions:         slices.Clone(w.MatchConditions),
	}
}

// validatingWebhook is m as a ValidatingWebhook: the same fields but the
// reinvocation policy, which only mutating webhooks have.
func validatingWebhook(m admissionregistrationv1.MutatingWebhook) admissionregistrationv1.ValidatingWebhook {
	return admissionregistrationv1.ValidatingWebhook{
		Name: m.Name, ClientConfig: m.ClientConfig, Rules: m.Rules, FailurePolicy: m.FailurePolicy,
		MatchPolicy: m.MatchPolicy, NamespaceSelector: m.NamespaceSelector, ObjectSelector: m.ObjectSelector,
		SideEffects: m.SideEffects, TimeoutSeconds: m.TimeoutSeconds, AdmissionReviewVersions: m.AdmissionReviewVersions,
		MatchConditions: m.MatchConditions,
	}
}

// Webhook is one webhook of a configuration, as Webhooks derives it.
type Webhook struct {
	// Name is the webhook's name: MutatingWebhookName or ValidatingWebhookName
	// for the kinds without a narrower scope, "<scope>[-<name>]." before it
	// for a scope's webhooks.
	Name string
	// Rules are the kinds and operations it receives.
	Rules []admissionregistrationv1.RuleWithOperations
	// Namespaces are requirements on the namespace's labels, besides the
	// excluded namespaces.
	Namespaces []metav1.LabelSelectorRequirement
	// MatchConditions are the CEL conditions on the object.
	MatchConditions []admissionregistrationv1.MatchCondition
	// FailurePolicy and TimeoutSeconds are what the API server does when
	// meshgate cannot answer, and how long it waits (OutageDefaults).
	FailurePolicy  admissionregistrationv1.FailurePolicyType
	TimeoutSeconds int32
}

// Timeouts of meshgate's webhooks. meshgate answers in well under a
// millisecond from its cache; a live read on a cache miss is one API call.
// A timeout only matters when a replica hangs: then every request it gets
// waits this long.
const (
	// FailClosedTimeoutSeconds is the timeout of a webhook that fails
	// closed: the time the answer may take before the request is rejected.
	FailClosedTimeoutSeconds int32 = 5
	// FailOpenTimeoutSeconds is the timeout of a webhook that fails open:
	// the latency a hung replica adds before the object is admitted
	// unchecked.
	FailOpenTimeoutSeconds int32 = 3
)

// OutageDefaults returns the failurePolicy and timeout of a webhook with
// rules, mutating or not. Only the mutation of Pods fails closed: a Pod
// admitted without it runs without the certificate wiring (its mTLS to the
// mesh fails, silently) until it is recreated, and a rejected Pod is retried
// by its controller, so it self-heals once meshgate is back. Every other
// webhook fails open, so that an outage of meshgate never blocks shifting
// traffic (VirtualServices, Mappings, routes) or deploying Services: what a
// skipped review would have changed or refused, the audit reports (drift,
// violation) on its next run.
func OutageDefaults(rules []admissionregistrationv1.RuleWithOperations, mutating bool) (admissionregistrationv1.FailurePolicyType, int32) {
	if mutating {
		for _, r := range rules {
			if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "pods") {
				return admissionregistrationv1.Fail, FailClosedTimeoutSeconds
			}
		}
	}
	return admissionregistrationv1.Ignore, FailOpenTimeoutSeconds
}

// scopeGroup is the kinds of one admission scope in one configuration.
type scopeGroup struct {
	// id is the scope's id, "" for the kinds without a narrower scope.
	id    string
	scope *policy.AdmissionScope
	rules []admissionregistrationv1.RuleWithOperations
}

// scopeGroups groups the kinds of the mutating (or validating) configuration
// by admission scope: a kind whose reviews in that configuration all declare
// one scope is sent only there; any other kind (a review without a scope, or
// reviews that disagree) is in the group of no scope, id "". The groups are
// sorted by id (so that one comes first). Each group's
// rules are one per API group, operations and versions, listing its
// resources, sorted by group, then resource, so that the order of the rules'
// registration does not matter.
func scopeGroups(mutating bool) []*scopeGroup {
	type kindScope struct {
		kind  policy.Kind
		scope *policy.AdmissionScope
		mixed bool
	}
	var order []schema.GroupKind
	kinds := map[schema.GroupKind]*kindScope{}
	for _, r := range policy.Rules() {
		if mutating && !r.Mutation {
			continue
		}
		for _, rv := range r.Reviews {
			for _, k := range rv.Kinds {
				if len(k.Operations) == 0 {
					continue
				}
				ks, seen := kinds[k.GroupKind()]
				switch {
				case !seen:
					kinds[k.GroupKind()] = &kindScope{kind: k, scope: rv.Admission, mixed: rv.Admission == nil}
					order = append(order, k.GroupKind())
				case rv.Admission == nil || ks.scope == nil || ks.scope.ID != rv.Admission.ID:
					ks.mixed = true
				}
			}
		}
	}
	groups := map[string]*scopeGroup{}
	for _, gk := range order {
		ks := kinds[gk]
		id, scope := "", ks.scope
		if ks.mixed {
			scope = nil
		} else {
			id = scope.ID
		}
		g := groups[id]
		if g == nil {
			g = &scopeGroup{id: id, scope: scope}
			groups[id] = g
		}
		g.rules = addResource(g.rules, ks.kind)
	}
	out := make([]*scopeGroup, 0, len(groups))
	for _, g := range groups {
		g.rules = sortRules(g.rules)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *scopeGroup) int { return cmp.Compare(a.id, b.id) })
	return out
}

// Webhooks returns the webhooks of the mutating (or validating)
// configuration for cfg: first the one for the kinds without a narrower
// admission scope, if any, then each scope's webhooks by scope id.
func Webhooks(cfg *policy.Config, mutating bool) []Webhook {
	var out []Webhook
	for _, v := range variants(mutating) {
		if cfg.Setting(v.setting) != v.value {
			continue
		}
		w := v.webhook
		w.MatchConditions = v.hook.MatchConditions(cfg)
		out = append(out, w)
	}
	return out
}

// variant is a webhook the mutating (or validating) configuration holds
// when its admission scope's setting has value (setting "": always).
type variant struct {
	setting, value string
	// hook is the scope's webhook (zero for the kinds without a scope).
	hook policy.AdmissionWebhook
	// webhook is the webhook without the match conditions that depend on
	// the configuration (hook.MatchConditions adds them).
	webhook Webhook
}

// variants returns every webhook the mutating (or validating) configuration
// can hold, whatever the configuration: in the order Webhooks returns them,
// each scope's setting values in sorted order.
func variants(mutating bool) []variant {
	base := ValidatingWebhookName
	if mutating {
		base = MutatingWebhookName
	}
	var out []variant
	for _, g := range scopeGroups(mutating) {
		fail, timeout := OutageDefaults(g.rules, mutating)
		if g.scope == nil {
			out = append(out, variant{webhook: Webhook{Name: base, Rules: g.rules, FailurePolicy: fail, TimeoutSeconds: timeout}})
			continue
		}
		for _, value := range slices.Sorted(maps.Keys(g.scope.Variants)) {
			for _, h := range g.scope.Variants[value] {
				name := g.scope.ID
				if h.Name != "" {
					name += "-" + h.Name
				}
				out = append(out, variant{setting: g.scope.Setting, value: value, hook: h, webhook: Webhook{
					Name:           name + "." + base,
					Rules:          cloneRules(g.rules),
					Namespaces:     slices.Clone(h.Namespaces),
					FailurePolicy:  fail,
					TimeoutSeconds: timeout,
				}})
			}
		}
	}
	return out
}

func cloneRules(rules []admissionregistrationv1.RuleWithOperations) []admissionregistrationv1.RuleWithOperations {
	out := make([]admissionregistrationv1.RuleWithOperations, len(rules))
	for i := range rules {
		rules[i].DeepCopyInto(&out[i])
	}
	return out
}

func addResource(rules []admissionregistrationv1.RuleWithOperations, k policy.Kind) []admissionregistrationv1.RuleWithOperations {
	ops := make([]admissionregistrationv1.OperationType, len(k.Operations))
	for i, op := range k.Operations {
		ops[i] = admissionregistrationv1.OperationType(op)
	}
	for i := range rules {
		r := &rules[i]
		if r.APIGroups[0] == k.Group && slices.Equal(r.APIVersions, k.Versions) && slices.Equal(r.Operations, ops) {
			if !slices.Contains(r.Resources, k.Resource) {
				r.Resources = append(r.Resources, k.Resource)
			}
			return rules
		}
	}
	return append(rules, admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{k.Group}, APIVersions: slices.Clone(k.Versions), Resources: []string{k.Resource},
			Scope: ptr.To(admissionregistrationv1.NamespacedScope),
		},
	})
}

func sortRules(rules []admissionregistrationv1.RuleWithOperations) []admissionregistrationv1.RuleWithOperations {
	for _, r := range rules {
		slices.Sort(r.Resources)
	}
	slices.SortFunc(rules, func(a, b admissionregistrationv1.RuleWithOperations) int {
		return cmp.Or(cmp.Compare(a.APIGroups[0], b.APIGroups[0]), cmp.Compare(a.Resources[0], b.Resources[0]))
	})
	return rules
}

// URLClientConfig returns a ClientConfig function for a server reached at
// baseURL (for example "https://127.0.0.1:9443") and trusted through caBundle.
func URLClientConfig(baseURL string, caBundle []byte) func(string) admissionregistrationv1.WebhookClientConfig {
	return func(path string) admissionregistrationv1.WebhookClientConfig {
		url := baseURL + path
		return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
	}
}
