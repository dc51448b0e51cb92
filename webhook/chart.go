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
	Mutating    []admissionregistrationv1.RuleWithOperations `json:"mutating"`
	Validating  []admissionregistrationv1.RuleWithOperations `json:"validating"`
	ClusterRole []rbacv1.PolicyRule                          `json:"clusterRole"`
}

// Chart returns the document the Helm chart renders its webhook rules and its
// ClusterRole from, derived from the registered rules and World kinds:
// AdmissionRules and ClusterRoleRules. `make generate` writes it to the chart;
// a test keeps the chart's copy current.
func Chart() ([]byte, error) {
	m, v := AdmissionRules()
	doc, err := yaml.Marshal(chartRules{Mutating: m, Validating: v, ClusterRole: ClusterRoleRules()})
	if err != nil {
		return nil, fmt.Errorf("encode the chart's rules: %w", err)
	}
	header := "# Generated from meshgate's rule registry (webhook.Chart) by `make generate`.\n" +
		"# Do not edit: add or change a rule in mutators/ or validators/ instead.\n"
	return append([]byte(header), doc...), nil
}
