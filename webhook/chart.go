package webhook

import (
	"cmp"
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/policy"
)

// ClusterRoleRules returns the read-only access the server needs: get, list
// and watch on every World kind a registered rule reads, and on
// CustomResourceDefinitions when one of those kinds is served by a CRD.
func ClusterRoleRules() []rbacv1.PolicyRule {
	byGroup := map[string][]string{}
	for _, k := range policy.WorldKindsRead() {
		if !slices.Contains(byGroup[k.Group], k.Resource) {
			byGroup[k.Group] = append(byGroup[k.Group], k.Resource)
		}
		if k.CRD != "" {
			byGroup["apiextensions.k8s.io"] = []string{"customresourcedefinitions"}
		}
	}
	out := make([]rbacv1.PolicyRule, 0, len(byGroup))
	for g, res := range byGroup {
		slices.Sort(res)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: []string{"get", "list", "watch"}})
	}
	slices.SortFunc(out, func(a, b rbacv1.PolicyRule) int { return cmp.Compare(a.APIGroups[0], b.APIGroups[0]) })
	return out
}

// chartRules is the document at ChartRulesFile.
type chartRules struct {
	// Settings are the settings the webhooks switch on, by name (their path
	// in the configuration document), with their defaults.
	Settings map[string]string `json:"settings"`
	// EdgeProxyCondition is how the chart builds the edge-proxy match
	// condition from edgeProxy.selectors (policy.Config.EdgeProxyCondition).
	EdgeProxyCondition chartEdgeProxy `json:"edgeProxyCondition"`
	// Webhooks are every webhook each configuration can hold.
	Webhooks struct {
		Mutating   []chartWebhook `json:"mutating"`
		Validating []chartWebhook `json:"validating"`
	} `json:"webhooks"`
	// ClusterRole is the read-only access the World needs.
	ClusterRole []rbacv1.PolicyRule `json:"clusterRole"`
	// AuditClusterRole is what the audit reads besides the World.
	AuditClusterRole []rbacv1.PolicyRule `json:"auditClusterRole"`
	// AuditReports are, by report format, the writes on its reports.
	AuditReports map[string]rbacv1.PolicyRule `json:"auditReports"`
	// AuditLease is the Lease the replicas elect the auditor with.
	AuditLease string `json:"auditLease"`
}

// chartWebhook is one webhook as Configurations builds it, without what the
// chart sets from its values: the client config, the namespace selector
// (the excluded namespaces, then Namespaces), the object selector and the
// edge-proxy match condition.
type chartWebhook struct {
	// When are the settings and values the configuration holds the webhook
	// for (none: always).
	When map[string]string `json:"when,omitempty"`
	// Namespaces are the webhook's requirements on the namespace's labels.
	Namespaces []metav1.LabelSelectorRequirement `json:"namespaces,omitempty"`
	// EdgeProxy: the edge-proxy match condition comes first.
	EdgeProxy bool `json:"edgeProxy,omitempty"`
	// HandOffRules are the webhook's rules with the in-tree policies
	// installed (HandOff); none: the webhook is dropped then.
	HandOffRules []admissionregistrationv1.RuleWithOperations `json:"handOffRules,omitempty"`
	// Webhook is the rest of the webhook.
	Webhook admissionregistrationv1.MutatingWebhook `json:"webhook"`
}

type chartEdgeProxy struct {
	Name       string `json:"name"`
	Annotation string `json:"annotation"`
	Selector   string `json:"selector"`
	Label      string `json:"label"`
	// Selectors are the default edge-proxy selectors.
	Selectors []map[string]string `json:"selectors"`
}

// Chart returns the document the Helm chart renders its webhooks and its
// ClusterRoles from, derived from the registered rules and World kinds:
// every webhook each configuration can hold, as Configurations builds it,
// with the settings and values it is held for and its rules after HandOff;
// the defaults of those settings; the pieces of the edge-proxy condition;
// ClusterRoleRules, AuditClusterRoleRules, the audit's writes on the reports
// of each format and its Lease. The chart adds what its values
// give: client config, excluded namespaces, object selector, outage
// settings, the edge-proxy selectors. `make generate` writes it to the chart.
func Chart() ([]byte, error) {
	var doc chartRules
	def := policy.DefaultConfig()
	doc.Settings = map[string]string{}
	for name := range policy.Settings() {
		doc.Settings[name] = def.Setting(name)
	}
	for _, mutating := range []bool{true, false} {
		path := ValidatePath
		if mutating {
			path = MutatePath
		}
		var out []chartWebhook
		for _, v := range variants(mutating) {
			w := admissionWebhook(v.webhook, RegistrationOptions{}, path, nil)
			w.ClientConfig, w.NamespaceSelector, w.ObjectSelector = admissionregistrationv1.WebhookClientConfig{}, nil, nil
			w.MatchConditions = v.hook.Conditions
			if !mutating {
				w.ReinvocationPolicy = nil
			}
			cw := chartWebhook{Namespaces: v.webhook.Namespaces, EdgeProxy: v.hook.EdgeProxy, HandOffRules: withoutHandedOff(w.Rules), Webhook: w}
			if v.setting != "" {
				cw.When = map[string]string{v.setting: v.value}
			}
			out = append(out, cw)
		}
		if mutating {
			doc.Webhooks.Mutating = out
		} else {
			doc.Webhooks.Validating = out
		}
	}
	doc.EdgeProxyCondition = chartEdgeProxy{
		Name: policy.EdgeProxyConditionName, Annotation: policy.CELEdgeProxyAnnotation,
		Selector: policy.CELSelector, Label: policy.CELLabelEquals, Selectors: def.EdgeProxy.Selectors,
	}
	doc.ClusterRole = ClusterRoleRules()
	doc.AuditClusterRole = AuditClusterRoleRules()
	doc.AuditReports = map[string]rbacv1.PolicyRule{}
	for _, format := range audit.Formats {
		k, err := audit.KindsOf(format)
		if err != nil {
			return nil, fmt.Errorf("report format %s: %w", format, err)
		}
		doc.AuditReports[format] = rbacv1.PolicyRule{
			APIGroups: []string{k.Namespaced.Group}, Resources: []string{k.Namespaced.Resource, k.Cluster.Resource},
			Verbs: []string{"list", "create", "update", "delete"},
		}
	}
	doc.AuditLease = AuditLeaseName
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode the chart's rules: %w", err)
	}
	header := "# Generated from meshgate's rule registry (webhook.Chart) by `make generate`.\n" +
		"# Do not edit: add or change a rule in mutators/ or validators/ instead.\n"
	return append([]byte(header), out...), nil
}
