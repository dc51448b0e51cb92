package faults

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

// readyz is the status of meshgate's /readyz.
func readyz() string {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(k.HealthURL + "/readyz")
	if err != nil {
		return "error: " + err.Error()
	}
	resp.Body.Close()
	return resp.Status
}

// TestAPIServerRestart stops kube-apiserver for a few seconds while meshgate
// runs (etcd keeps the data) and starts it again on the same port with the
// same certificates: meshgate keeps running and ready, answers reviews from
// its cache during the gap, and judges right after the restart, including
// objects in a namespace created after it.
func TestAPIServerRestart(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	require.Equal(t, "200 OK", readyz())
	c := tlsClient(t, k.Env.WebhookInstallOptions.LocalServingCAData, true)

	start := time.Now()
	require.NoError(t, k.StopAPIServer())
	restarted := false
	defer func() {
		if !restarted { // leave the shared control plane running for the next tests
			if err := k.StartAPIServer(); err != nil {
				t.Errorf("restart the API server: %v", err)
			}
		}
	}()
	stoppedIn := time.Since(start)

	// The gap: /readyz and direct reviews, for 3s.
	gapStatuses := map[string]int{}
	var reviews, allowed int
	for gapEnd := time.Now().Add(3 * time.Second); time.Now().Before(gapEnd); {
		gapStatuses[readyz()]++
		a, err := post(c, k.WebhookURL+webhook.ValidatePath, "application/json", bytes.NewReader(goodServiceReview()))
		reviews++
		if err == nil && a.allowed() {
			allowed++
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("API server down for 3s (stopped in %s): /readyz answered %v; %d of %d direct reviews of a good Service allowed",
		stoppedIn.Round(time.Millisecond), gapStatuses, allowed, reviews)
	assert.Equal(t, reviews, allowed, "meshgate answers from its cache while the API server is down")
	assert.Equal(t, map[string]int{"200 OK": gapStatuses["200 OK"]}, gapStatuses,
		"meshgate stays ready: only the API server calls it, so readiness has nothing to protect")

	start = time.Now()
	require.NoError(t, k.StartAPIServer())
	restarted = true
	t.Logf("API server serving again after %s", time.Since(start).Round(time.Millisecond))

	// The API server calls meshgate again once its own webhook configuration
	// informer has synced; the first create must not slip through before.
	svc := cluster.MustDecode(t, service(meshNamespace, "after-restart", "http2foo", nil))
	var err error
	firstVerdict := time.Now()
	require.Eventually(t, func() bool {
		err = k.Client.Create(ctx, svc.DeepCopy(), client.DryRunAll)
		return err == nil || strings.Contains(err.Error(), "admission webhook")
	}, 30*time.Second, 100*time.Millisecond, "the API server answers again: %v", err)
	require.Error(t, err, "a bad port name in a mesh namespace is denied after the restart")
	assert.Contains(t, err.Error(), deniedBy+"[service-port-name]")
	t.Logf("first verdict through the API server %s after it was ready", time.Since(firstVerdict).Round(time.Millisecond))

	// A namespace created after the restart is judged with its labels.
	ns := cluster.MustDecode(t, `
apiVersion: v1
kind: Namespace
metadata: {name: after-restart, labels: {istio-injection: enabled}}`)
	require.NoError(t, k.Client.Create(ctx, ns))
	t.Cleanup(func() { _ = k.Client.Delete(context.Background(), ns) })
	plain := cluster.MustDecode(t, `
apiVersion: v1
kind: Namespace
metadata: {name: after-restart-plain}`)
	require.NoError(t, k.Client.Create(ctx, plain))
	t.Cleanup(func() { _ = k.Client.Delete(context.Background(), plain) })

	bad := cluster.MustDecode(t, service("after-restart", "reviews", "http2foo", nil))
	err = k.Client.Create(ctx, bad)
	require.Error(t, err, "the new mesh namespace's Service with a bad port name is denied at once")
	assert.Contains(t, err.Error(), deniedBy+"[service-port-name] Service after-restart/reviews")
	outside := cluster.MustDecode(t, service("after-restart-plain", "reviews", "http2foo", nil))
	require.NoError(t, k.Client.Create(ctx, outside), "outside the mesh the port name is not checked")
	good := cluster.MustDecode(t, service("after-restart", "details", "http", nil))
	require.NoError(t, k.Client.Create(ctx, good))

	// The cache resumed: a review in the new namespace is answered without a
	// live read from the API server (meshgate_world_live_reads_total stays).
	require.Eventually(t, func() bool {
		before, _ := metricSum(t, k.MetricsURL, "meshgate_world_live_reads_total")
		if err := k.Client.Create(ctx, cluster.MustDecode(t, service("after-restart", "probe", "http", nil)), client.DryRunAll); err != nil {
			return false
		}
		after, _ := metricSum(t, k.MetricsURL, "meshgate_world_live_reads_total")
		return after == before
	}, 60*time.Second, 200*time.Millisecond, "meshgate's cache holds the namespace created after the restart (the informers re-watch with client-go's backoff)")

	assert.True(t, k.Running(), "meshgate's Start has not returned: it was never restarted")
	assert.Equal(t, "200 OK", readyz())
}
