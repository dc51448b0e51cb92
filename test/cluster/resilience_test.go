package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// podLoop creates (and deletes again) edge-proxy pods (the opt-in
// annotation) in the mesh namespace apps as fast as one client can until stop
// is called, which returns how many creates succeeded and the errors of those
// that failed. Every create goes through both meshgate webhooks
// (failurePolicy Fail): ordinary pods would not reach meshgate at all.
func podLoop(t *testing.T) (stop func() (int64, []string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var ok atomic.Int64
	var mu sync.Mutex
	var failures []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					GenerateName: "loop-", Namespace: "apps", Labels: map[string]string{"meshgate-test": "loop"},
					Annotations: map[string]string{"meshgate.io/edge-proxy": "true"},
				},
				Spec: corev1.PodSpec{
					NodeName:   "does-not-exist", // never scheduled, never run: only admission matters
					Containers: []corev1.Container{{Name: "c", Image: "localhost/meshgate-cluster/pause:1"}},
				},
			}
			created, err := kube.CoreV1().Pods("apps").Create(context.Background(), p, metav1.CreateOptions{})
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %v", time.Now().Format(time.RFC3339Nano), err))
				mu.Unlock()
				continue
			}
			ok.Add(1)
			_ = kube.CoreV1().Pods("apps").Delete(context.Background(), created.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		}
	}()
	return func() (int64, []string) {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return ok.Load(), failures
	}
}

// waitReplicas waits until the default release has n Ready pods.
func waitReplicas(t *testing.T, n int) {
	t.Helper()
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 3*time.Minute, true,
		func(context.Context) (bool, error) { return len(meshgatePods(t)) == n, nil }), "%d Ready meshgate pods", n)
}

func TestDeletingAMeshgatePodFailsNoCreate(t *testing.T) {
	needCluster(t)
	waitReplicas(t, 2)
	stop := podLoop(t)
	time.Sleep(3 * time.Second)
	victim := meshgatePods(t)[0].Name
	kubectl(t, "", "-n", namespace, "delete", "pod", victim, "--wait=false")
	waitReplicas(t, 2)
	time.Sleep(3 * time.Second)
	created, failures := stop()
	t.Logf("pods created during the deletion of %s: %d, failed: %d", victim, created, len(failures))
	assert.Greater(t, created, int64(10), "the loop ran")
	assert.Empty(t, failures, "no create failed while a meshgate pod went away")
}

// renew asks cert-manager to re-issue a Certificate now, as `cmctl renew`
// does: it sets the Issuing condition.
func renew(t *testing.T, name string) {
	t.Helper()
	patch := fmt.Sprintf(`[{"op": "add", "path": "/status/conditions/-", "value": {"type": "Issuing", "status": "True", "reason": "ManuallyTriggered", "message": "renewal forced by the cluster tests", "lastTransitionTime": %q}}]`,
		time.Now().UTC().Format(time.RFC3339))
	kubectl(t, "", "-n", namespace, "patch", "certificates.cert-manager.io", name, "--subresource=status", "--type=json", "-p", patch)
}

// secretCert is the tls.crt of a Secret in meshgate's namespace.
func secretCert(t *testing.T, name string) string {
	t.Helper()
	s, err := kube.CoreV1().Secrets(namespace).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return string(s.Data["tls.crt"])
}

func TestCertificateRenewalFailsNoRequest(t *testing.T) {
	needCluster(t)
	waitReplicas(t, 2)
	for _, tc := range []struct {
		name, certificate, secret string
	}{
		{name: "the serving certificate", certificate: release + "-serving", secret: release + "-tls"},
		{name: "the CA, then the serving certificate it signs", certificate: release + "-ca", secret: release + "-ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := secretCert(t, tc.secret)
			servingBefore := secretCert(t, release+"-tls")
			stop := podLoop(t)
			time.Sleep(2 * time.Second)
			renew(t, tc.certificate)
			require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 2*time.Minute, true,
				func(context.Context) (bool, error) { return secretCert(t, tc.secret) != before, nil }), "cert-manager re-issued %s", tc.certificate)
			if tc.certificate == release+"-ca" {
				renew(t, release+"-serving")
				require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 2*time.Minute, true,
					func(context.Context) (bool, error) { return secretCert(t, release+"-tls") != servingBefore, nil }), "serving certificate re-issued by the new CA")
			}
			// meshgate reloads the certificate from its mounted Secret; the
			// API server learns the new CA from cainjector.
			time.Sleep(90 * time.Second)
			created, failures := stop()
			t.Logf("pods created during the renewal: %d, failed: %d", created, len(failures))
			assert.Greater(t, created, int64(10), "the loop ran")
			assert.Empty(t, failures, "no request failed while the certificate was renewed")
			out, err := run(`{apiVersion: v1, kind: Service, metadata: {name: after-renewal, namespace: apps}, spec: {ports: [{name: http2foo, port: 9080}]}}`, "kubectl", "apply", "--dry-run=server", "-f", "-")
			require.Error(t, err)
			assert.Contains(t, out, deniedBy, "meshgate answers with the renewed certificate")
		})
	}
}

func TestDrainIsHeldByThePodDisruptionBudget(t *testing.T) {
	needCluster(t)
	waitReplicas(t, 2)
	node := kubectl(t, "", "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
	t.Cleanup(func() { _, _ = run("", "kubectl", "uncordon", node) })
	stop := podLoop(t)
	// One node: the evicted pod's replacement cannot be scheduled while the
	// node is cordoned, so the PodDisruptionBudget (minAvailable 1) must keep
	// the second pod, and the drain must time out on it.
	out, err := run("", "kubectl", "drain", node, "--pod-selector=app.kubernetes.io/name=meshgate", "--timeout=30s", "--ignore-daemonsets", "--delete-emptydir-data")
	require.Error(t, err, "the drain cannot finish: %s", out)
	assert.Contains(t, out, "disruption budget")
	assert.Len(t, meshgatePods(t), 1, "one meshgate pod kept by the PodDisruptionBudget")
	created, failures := stop()
	t.Logf("pods created during the drain: %d, failed: %d", created, len(failures))
	assert.Empty(t, failures, "no create failed during the drain")
	kubectl(t, "", "uncordon", node)
	waitReplicas(t, 2)
	assert.False(t, strings.Contains(kubectl(t, "", "get", "node", node, "-o", "jsonpath={.spec.unschedulable}"), "true"))
}
