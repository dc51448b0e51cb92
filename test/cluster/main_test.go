// Package cluster tests meshgate installed the way users install it: its
// image on a real node, cert-manager issuing its certificates, `helm install`
// of its chart, the API server calling it through its Service. It needs the
// cluster of hack/cluster/test.sh (make test-cluster): KUBECONFIG,
// CLUSTER_BIN (kubectl, helm), MESHGATE_CHART, MESHGATE_IMAGE_REPO and
// MESHGATE_IMAGE_TAG. Without them every test is skipped.
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// release and namespace of the default install.
	release   = "meshgate"
	namespace = "meshgate-system"
	// deniedBy ends every denial of meshgate's validating webhooks.
	deniedBy = `validate.meshgate.io" denied the request: `
)

var (
	binDir, chart, imageRepo, imageTag string
	kube                               *kubernetes.Clientset
	ready                              bool
)

func TestMain(m *testing.M) {
	binDir, chart = os.Getenv("CLUSTER_BIN"), os.Getenv("MESHGATE_CHART")
	imageRepo, imageTag = os.Getenv("MESHGATE_IMAGE_REPO"), os.Getenv("MESHGATE_IMAGE_TAG")
	if os.Getenv("KUBECONFIG") == "" || binDir == "" || chart == "" {
		fmt.Println("cluster tests skipped: run them with make test-cluster (KUBECONFIG, CLUSTER_BIN, MESHGATE_CHART unset)")
		os.Exit(m.Run())
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = 100, 200
	kube = kubernetes.NewForConfigOrDie(cfg)
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
	ready = true
	os.Exit(m.Run())
}

// setup creates the mesh namespaces and meshgate's namespace (restricted Pod
// Security Standard enforced), then installs the chart with its defaults.
func setup() error {
	ns := `
apiVersion: v1
kind: Namespace
metadata: {name: emissary, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: ` + namespace + `
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
`
	if out, err := run(ns, "kubectl", "apply", "-f", "-"); err != nil {
		return fmt.Errorf("namespaces: %v: %s", err, out)
	}
	start := time.Now()
	if out, err := helmInstall(release, namespace); err != nil {
		return fmt.Errorf("helm install: %v: %s", err, out)
	}
	fmt.Printf("helm install --wait with defaults (cert-manager): %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// helmInstall installs the chart with its default values (and extra --set
// arguments) and waits for it to be Ready.
func helmInstall(name, ns string, args ...string) (string, error) {
	a := []string{"install", name, chart, "--namespace", ns, "--wait", "--timeout", "5m"}
	if imageRepo != "" {
		a = append(a, "--set", "image.repository="+imageRepo)
	}
	if imageTag != "" {
		a = append(a, "--set", "image.tag="+imageTag)
	}
	return run("", "helm", append(a, args...)...)
}

// run runs one of the cluster's tools (kubectl, helm) with stdin, returning
// standard output and standard error together.
func run(stdin, tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, tool), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// needCluster skips a test when the cluster is not there.
func needCluster(t *testing.T) {
	t.Helper()
	if !ready {
		t.Skip("no cluster: run make test-cluster")
	}
}

// kubectl runs kubectl and fails the test on error.
func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := run(stdin, "kubectl", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
