package webhook

import (
	"fmt"

	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/meshgate/meshgate/internal/audit"
)

// AuditLeaseName is the Lease the replicas elect the auditor with.
const AuditLeaseName = "meshgate-audit"

// addAuditor adds the continuous audit to mgr when o.Audit.Interval is set:
// it reviews in the server's World once it has synced.
func addAuditor(mgr manager.Manager, o Options, w *CacheWorld) error {
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
