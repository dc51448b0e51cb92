package webhook

import (
	"cmp"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world/cached"
)

// AuditLeaseName is the Lease the replicas elect the auditor with.
const AuditLeaseName = "meshgate-audit"

// addAuditor adds the continuous audit to mgr when o.Audit.Interval is set:
// it reviews in the server's World once it has synced.
func addAuditor(mgr manager.Manager, o Options, w *cached.World) error {
	if o.Audit.Interval <= 0 {
		return nil
	}
	dyn, err := dynamic.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("audit: dynamic client: %w", err)
	}
	m, err := audit.NewMetrics(o.Registry)
	if err != nil {
		return err
	}
	a, err := audit.NewAuditor(o.Audit, o.Config, w, w.Synced, dyn, mgr.GetRESTMapper(), m, o.Logger.WithName("audit"))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := mgr.Add(a); err != nil {
		return fmt.Errorf("add the audit: %w", err)
	}
	return nil
}

// AuditClusterRoleRules returns the read-only access the audit needs besides
// the World's: list on every kind a registered rule reviews (the audit lists
// them page by page; it does not watch them). The report kinds it writes
// depend on --audit-format and are in the chart's template.
func AuditClusterRoleRules() []rbacv1.PolicyRule {
	byGroup := map[string][]string{}
	for _, k := range policy.ReviewedKinds() {
		if !slices.Contains(byGroup[k.Group], k.Resource) {
			byGroup[k.Group] = append(byGroup[k.Group], k.Resource)
		}
	}
	out := make([]rbacv1.PolicyRule, 0, len(byGroup))
	for g, res := range byGroup {
		slices.Sort(res)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: []string{"list"}})
	}
	slices.SortFunc(out, func(a, b rbacv1.PolicyRule) int { return cmp.Compare(a.APIGroups[0], b.APIGroups[0]) })
	return out
}
