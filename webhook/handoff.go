package webhook

import (
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/policy"
)

// HandOff narrows meshgate's webhook configurations for a cluster where the
// in-tree policies (`meshgate in-tree`) are installed: the resources of the
// kinds they cover completely (policy.HandedOffKinds) are no longer sent to
// meshgate, and a webhook left without rules is dropped. It post-processes
// whatever Configurations builds, whatever the number of webhooks in them.
func HandOff(m *admissionregistrationv1.MutatingWebhookConfiguration, v *admissionregistrationv1.ValidatingWebhookConfiguration) {
	if m != nil {
		for i := range m.Webhooks {
			m.Webhooks[i].Rules = withoutHandedOff(m.Webhooks[i].Rules)
		}
		m.Webhooks = slices.DeleteFunc(m.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return len(w.Rules) == 0 })
	}
	if v != nil {
		for i := range v.Webhooks {
			v.Webhooks[i].Rules = withoutHandedOff(v.Webhooks[i].Rules)
		}
		v.Webhooks = slices.DeleteFunc(v.Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool { return len(w.Rules) == 0 })
	}
}

// withoutHandedOff returns rules without the handed-off kinds' resources,
// dropping the rules left with none.
func withoutHandedOff(rules []admissionregistrationv1.RuleWithOperations) []admissionregistrationv1.RuleWithOperations {
	kinds := policy.HandedOffKinds()
	var out []admissionregistrationv1.RuleWithOperations
	for _, r := range rules {
		r = *r.DeepCopy()
		r.Resources = slices.DeleteFunc(r.Resources, func(res string) bool {
			return slices.ContainsFunc(kinds, func(k policy.Kind) bool {
				return k.Resource == res && slices.Contains(r.APIGroups, k.Group)
			})
		})
		if len(r.Resources) > 0 {
			out = append(out, r)
		}
	}
	return out
}
