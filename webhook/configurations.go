package webhook

import (
	"cmp"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// FailurePolicy (default Fail).
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds (default 10).
	TimeoutSeconds int32
	// ExcludeNamespaces are never sent to meshgate (kube-system and
	// kube-node-lease always are excluded; add meshgate's own).
	ExcludeNamespaces []string
	// ObjectSelector, when set, limits both webhooks to matching objects.
	ObjectSelector *metav1.LabelSelector
}

// Configurations returns the webhook configurations that send the API server's
// requests to meshgate, derived from the registered rules (policy.Rules): the
// mutating webhook for the kinds a mutation rule reviews, the validating one for
// every kind a rule reviews, each on the operations the kind declares (kinds
// that only `meshgate check` reviews, workload pod templates, are not
// registered). Both declare sideEffects None (so --dry-run=server requests
// reach them), admissionReviewVersions v1 and matchPolicy Equivalent; the
// mutating one is re-invoked if a later webhook (Istio's injector) changes the
// object.
func Configurations(o RegistrationOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	if o.Name == "" {
		o.Name = "meshgate"
	}
	if o.FailurePolicy == "" {
		o.FailurePolicy = admissionregistrationv1.Fail
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 10
	}
	excluded := append([]string{"kube-system", "kube-node-lease"}, o.ExcludeNamespaces...)
	nsSel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excluded,
	}}}
	objSel := o.ObjectSelector
	if objSel == nil {
		objSel = &metav1.LabelSelector{}
	}
	mutatingRules, validatingRules := AdmissionRules()
	sideEffects := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent

	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    MutatingWebhookName,
			ClientConfig:            o.ClientConfig(MutatePath),
			Rules:                   mutatingRules,
			FailurePolicy:           ptr.To(o.FailurePolicy),
			MatchPolicy:             &equivalent,
			NamespaceSelector:       nsSel,
			ObjectSelector:          objSel,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          ptr.To(o.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		}},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    ValidatingWebhookName,
			ClientConfig:            o.ClientConfig(ValidatePath),
			Rules:                   validatingRules,
			FailurePolicy:           ptr.To(o.FailurePolicy),
			MatchPolicy:             &equivalent,
			NamespaceSelector:       nsSel,
			ObjectSelector:          objSel,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          ptr.To(o.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	return mutating, validating
}

// AdmissionRules returns the rules of the mutating and the validating webhook:
// one per group, operations and versions, listing its resources; sorted by
// group, then resource, so that the order of the rules' registration does not
// matter.
func AdmissionRules() (mutating, validating []admissionregistrationv1.RuleWithOperations) {
	for _, r := range policy.Rules() {
		for _, rv := range r.Reviews {
			for _, k := range rv.Kinds {
				if len(k.Operations) == 0 {
					continue
				}
				if r.Mutation {
					mutating = addResource(mutating, k)
				}
				validating = addResource(validating, k)
			}
		}
	}
	return sortRules(mutating), sortRules(validating)
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
