package webhook

import (
	"cmp"
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
)

// ChartRulesFile is where the chart keeps what Chart renders, relative to the
// chart's directory; its templates read it with .Files.Get.
const ChartRulesFile = "generated/rules.yaml"

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
	// Webhooks are each configuration's kinds, grouped by admission scope.
	Webhooks struct {
		Mutating   []chartGroup `json:"mutating"`
		Validating []chartGroup `json:"validating"`
	} `json:"webhooks"`
	// Scopes are the admission scopes the groups refer to.
	Scopes map[string]chartScope `json:"scopes"`
	// EdgeProxyCondition is how the chart builds the edge-proxy match
	// condition from edgeProxy.selectors (policy.Config.EdgeProxyCondition).
	EdgeProxyCondition chartEdgeProxy `json:"edgeProxyCondition"`
	// Defaults are the defaults of the settings the scopes read, for a chart
	// whose config block leaves them out.
	Defaults chartDefaults `json:"defaults"`
	// ClusterRole is the read-only access the World needs.
	ClusterRole []rbacv1.PolicyRule `json:"clusterRole"`
	// AuditClusterRole is what the audit reads besides the World.
	AuditClusterRole []rbacv1.PolicyRule `json:"auditClusterRole"`
}

// chartGroup is one admission scope's kinds ("" scope: no narrower scope).
type chartGroup struct {
	Scope string                                       `json:"scope,omitempty"`
	Rules []admissionregistrationv1.RuleWithOperations `json:"rules"`
	// FailurePolicy and TimeoutSeconds are the group's OutageDefaults.
	FailurePolicy  admissionregistrationv1.FailurePolicyType `json:"failurePolicy"`
	TimeoutSeconds int32                                     `json:"timeoutSeconds"`
}

type chartScope struct {
	Setting  string                               `json:"setting,omitempty"`
	Variants map[string][]policy.AdmissionWebhook `json:"variants"`
}

type chartEdgeProxy struct {
	Name       string `json:"name"`
	Annotation string `json:"annotation"`
	Selector   string `json:"selector"`
	Label      string `json:"label"`
}

type chartDefaults struct {
	EdgeProxy struct {
		Selectors []map[string]string `json:"selectors"`
		CertMode  string              `json:"certMode"`
	} `json:"edgeProxy"`
	ServicePorts struct {
		Scope string `json:"scope"`
	} `json:"servicePorts"`
}

// Chart returns the document the Helm chart renders its webhooks and its
// ClusterRole from, derived from the registered rules and World kinds: each
// configuration's kinds grouped by admission scope, the scopes' webhooks by
// setting, the pieces of the edge-proxy condition, the defaults of the
// settings they read (the chart reads the rest from its config values, as
// the server does), and ClusterRoleRules. `make generate` writes it to the
// chart; a test keeps the chart's copy current, and the chart's tests
// compare what it renders with Configurations.
func Chart() ([]byte, error) {
	var doc chartRules
	doc.Scopes = map[string]chartScope{}
	for _, mutating := range []bool{true, false} {
		var out []chartGroup
		for _, g := range scopeGroups(mutating) {
			fail, timeout := OutageDefaults(g.rules, mutating)
			out = append(out, chartGroup{Scope: g.id, Rules: g.rules, FailurePolicy: fail, TimeoutSeconds: timeout})
			if g.scope != nil {
				doc.Scopes[g.id] = chartScope{Setting: g.scope.Setting, Variants: g.scope.Variants}
			}
		}
		if mutating {
			doc.Webhooks.Mutating = out
		} else {
			doc.Webhooks.Validating = out
		}
	}
	doc.EdgeProxyCondition = chartEdgeProxy{
		Name: policy.EdgeProxyConditionName, Annotation: policy.CELEdgeProxyAnnotation,
		Selector: policy.CELSelector, Label: policy.CELLabelEquals,
	}
	def := policy.DefaultConfig()
	doc.Defaults.EdgeProxy.Selectors = def.EdgeProxy.Selectors
	doc.Defaults.EdgeProxy.CertMode = def.EdgeProxy.CertMode
	doc.Defaults.ServicePorts.Scope = def.ServicePorts.Scope
	doc.ClusterRole = ClusterRoleRules()
	doc.AuditClusterRole = AuditClusterRoleRules()
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode the chart's rules: %w", err)
	}
	header := "# Generated from meshgate's rule registry (webhook.Chart) by `make generate`.\n" +
		"# Do not edit: add or change a rule in mutators/ or validators/ instead.\n"
	return append([]byte(header), out...), nil
}
