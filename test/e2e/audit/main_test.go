// Package audit proves the audit on a real kube-apiserver and etcd (envtest):
// a cluster that holds wrong objects before meshgate is registered, audited
// once by `meshgate check --live` and continuously by `meshgate serve
// --audit-interval`, whose reports the API server validates against the real
// OpenReports CRDs.
package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/testenv"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

// k is the control plane, with meshgate running (auditing every second) but
// not registered.
var k *cluster.Cluster

// leaseNamespace holds the audit's Lease.
const leaseNamespace = "kube-system"

func TestMain(m *testing.M) {
	// The measurement runs its own audits: the server's would compete.
	interval := time.Second
	if os.Getenv(scaleEnv) != "" {
		interval = time.Hour
	}
	testenv.Main(m, testenv.MainOptions{
		Name: "e2e/audit",
		Cluster: cluster.Options{
			CRDDirs:      append(cluster.DefaultCRDDirs(), cluster.CRDDir("openreports")),
			Unregistered: true,
			Meshgate: webhook.Options{
				Namespace: leaseNamespace, CRDResync: 2 * time.Second,
				Audit: audit.Options{Interval: interval, Workers: 2, WritesPerSecond: 200},
			},
		},
		Setup: func(c *cluster.Cluster) error {
			k = c
			return createScenario()
		},
		LogEnv: "E2E_LOG", Level: zapcore.ErrorLevel,
	})
}

// createScenario creates internal/audit/testdata/scenario.yaml as a cluster
// would hold it: the ReplicaSet controlled by the Deployment, the pods by the
// ReplicaSet.
func createScenario() error {
	data, err := os.ReadFile(filepath.Join(cluster.RepoRoot(), "internal", "audit", "testdata", "scenario.yaml"))
	if err != nil {
		return err
	}
	objs, err := cluster.Decode(string(data))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	owners := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		switch u.GetKind() {
		case "ReplicaSet":
			controlledBy(u, owners["Deployment"])
		case "Pod":
			controlledBy(u, owners["ReplicaSet"])
		}
		if err := k.Client.Create(ctx, u); err != nil {
			return fmt.Errorf("create %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		owners[u.GetKind()] = u
	}
	return nil
}

func controlledBy(u, owner *unstructured.Unstructured) {
	u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(owner, owner.GroupVersionKind())})
}
