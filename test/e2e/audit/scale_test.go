package audit

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/policy"
)

// scaleEnv sets how many objects TestAuditScale audits (it is skipped
// without it): AUDIT_SCALE=10000 is the measurement docs/audit.md reports.
const scaleEnv = "AUDIT_SCALE"

// TestAuditScale measures one audit of AUDIT_SCALE Services (one in ten with
// a port name Istio cannot read) on top of the scenario: the first audit,
// which creates every report, and the next, which finds nothing changed. It
// prints wall time and API calls; it asserts only what the audit must do.
func TestAuditScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(scaleEnv))
	if n <= 0 {
		t.Skipf("set %s=N to measure an audit of N objects", scaleEnv)
	}
	ctx := context.Background()
	ns := "scale"
	require.NoError(t, k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"istio-injection": "enabled"}}}))
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				name := "http"
				if i%10 == 0 {
					name = "http2foo"
				}
				svc := &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%05d", i), Namespace: ns},
					// Headless: envtest's Service IP range holds 254 addresses.
					Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{{Name: name, Port: 80}}},
				}
				if err := k.Client.Create(ctx, svc); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("created %d Services in %s", n, time.Since(start).Round(time.Millisecond))

	dyn, err := dynamic.NewForConfig(k.Config)
	require.NoError(t, err)
	world := k.Server.World()
	for _, tc := range []struct {
		name string
		opts audit.Options
	}{
		{"first audit, every report created (writes not paced)", audit.Options{Workers: 4, WritesPerSecond: -1}},
		{"next audit, nothing changed (default pacing)", audit.Options{}},
	} {
		tc.opts.Interval = time.Hour
		a, err := audit.NewAuditor(tc.opts, policy.DefaultConfig(), world, nil, dyn, k.Client.RESTMapper(), nil, logr.Discard())
		require.NoError(t, err)
		st, err := a.Run(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, st.Resources, n)
		t.Logf("%s: %d objects, %d resources, %d findings in %s; API calls: %d list pages for the objects, %d for the reports, %d creates, %d updates, %d deletes, %d unchanged",
			tc.name, st.Objects, st.Resources, st.Findings, st.Duration.Round(time.Millisecond), st.Lists, st.Writes.Lists,
			st.Writes.Created, st.Writes.Updated, st.Writes.Deleted, st.Writes.Unchanged)
	}
}
