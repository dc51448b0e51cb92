package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestDemo is make cluster-demo: the examples' namespaces, Emissary
// Deployment and Services applied with kubectl to the cluster where the chart
// installed meshgate, and what meshgate did, shown. The Emissary container
// image is swapped for the node's local pause image (no registry here).
func TestDemo(t *testing.T) {
	needCluster(t)
	if os.Getenv("MESHGATE_DEMO") != "1" {
		t.Skip("make cluster-demo runs it (MESHGATE_DEMO=1)")
	}
	dir := os.Getenv("MESHGATE_EXAMPLES")
	for _, f := range []string{"00-namespaces.yaml", "10-emissary.yaml", "20-services.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		doc := strings.ReplaceAll(string(b), "image: docker.io/emissaryingress/emissary:3.10.0", "image: localhost/meshgate-cluster/pause:1\n        imagePullPolicy: Never")
		out, _ := run(doc, "kubectl", "apply", "-f", "-")
		t.Logf("$ kubectl apply -f examples/%s\n%s", f, out)
	}
	_ = wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := kube.CoreV1().Pods("emissary").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=emissary-ingress"})
		return err == nil && len(l.Items) > 0, nil
	})
	t.Logf("$ kubectl -n emissary get pods (created by the ReplicaSet controller, wired by meshgate)\n%s",
		kubectl(t, "", "-n", "emissary", "get", "pods", "-o", `custom-columns=NAME:.metadata.name,OWNER:.metadata.ownerReferences[0].kind,INJECT:.metadata.annotations.sidecar\.istio\.io/inject,VOLUMES:.spec.volumes[*].name`))
	t.Logf("$ kubectl -n apps get services\n%s", kubectl(t, "", "-n", "apps", "get", "services", "-o", "custom-columns=NAME:.metadata.name,PORT-NAMES:.spec.ports[*].name"))
}
