package chart_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// The control plane the server-side tests share, started by the first one
// that needs it (the render and lint tests need none).
var (
	apiOnce sync.Once
	apiEnv  *envtest.Environment
	apiCfg  *rest.Config
	apiErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if apiEnv != nil {
		if err := apiEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "chart: stop the control plane:", err)
		}
	}
	os.Exit(code)
}

// apiServer returns a client for a real kube-apiserver and etcd (the e2e
// harness's binaries) with the cert-manager CRDs installed. It skips in
// -short mode and fails when the binaries are missing.
func apiServer(t *testing.T) (client.Client, *rest.Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane (KUBEBUILDER_ASSETS); skipped in -short mode")
	}
	apiOnce.Do(func() {
		assets, err := cluster.Assets()
		if err != nil {
			apiErr = err
			return
		}
		env := &envtest.Environment{
			BinaryAssetsDirectory: assets,
			CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{cluster.CRDDir("cert-manager")}, ErrorIfPathMissing: true},
		}
		// As in cluster.Start: kube-apiserver 1.37 refuses a loopback
		// advertise address unless it leaves the kubernetes endpoints alone.
		env.ControlPlane.GetAPIServer().Configure().Set("advertise-address", "127.0.0.1").Set("endpoint-reconciler-type", "none")
		apiCfg, apiErr = env.Start()
		if apiErr == nil {
			apiEnv = env
		}
	})
	if apiErr != nil {
		t.Fatalf("start the control plane: %v", apiErr)
	}
	c, err := client.New(apiCfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, apiCfg
}

// createNamespace creates ns for real (namespaced objects need it even in a
// dry run).
func createNamespace(t *testing.T, c client.Client, ns string) {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
}

// TestServerSideDryRun sends every rendered object to the API server with
// dryRun=All and strict field validation: the API server (and the real
// cert-manager CRDs' schemas) must accept each, for every TLS variant.
func TestServerSideDryRun(t *testing.T) {
	c, _ := apiServer(t)
	tests := []struct {
		name      string
		ns        string
		values    string
		wantKinds []string
	}{
		{name: "cert-manager", ns: "dry-certmanager", wantKinds: []string{"Issuer", "Certificate", "Deployment", "MutatingWebhookConfiguration"}},
		{name: "generated TLS", ns: "dry-generated", values: noCertManager, wantKinds: []string{"Secret", "Deployment", "ValidatingWebhookConfiguration"}},
		{
			name: "user TLS, fail open, one replica, extra settings", ns: "dry-user",
			values: `certManager: {enabled: false}
tls: {existingSecret: mine, caBundle: Q0E=}
replicaCount: 1
webhook: {failurePolicy: Ignore, timeoutSeconds: 3, excludeNamespaces: [istio-system], objectSelector: {matchExpressions: [{key: meshgate.io/skip, operator: DoesNotExist}]}}
podDisruptionBudget: {maxUnavailable: 1}
config: {rules: {service-port-name: warn}}
podAnnotations: {example.com/a: b}
tolerations: [{key: dedicated, operator: Exists}]
affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, preference: {matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux]}]}}]}}
server: {extraArgs: [--zap-encoder=console], extraEnv: [{name: GOMAXPROCS, value: "2"}]}`,
			wantKinds: []string{"Deployment", "MutatingWebhookConfiguration"},
		},
		{
			name: "operations: network policy, flow control, secure metrics, critical priority", ns: "dry-ops",
			values: `networkPolicy: {enabled: true, webhookFrom: [{ipBlock: {cidr: 10.0.0.0/24}}], apiServer: {cidrs: [10.0.0.10/32]}}
flowControl: {enabled: true}
metrics: {secure: true, readers: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]}
monitoring: {dashboard: {enabled: true}}`,
			wantKinds: []string{"NetworkPolicy", "FlowSchema", "PriorityLevelConfiguration", "ResourceQuota", "ClusterRole", "ConfigMap", "Service"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderErr(t, releaseName, tt.ns, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, o := range objs {
				seen[o.GetKind()] = true
			}
			for _, k := range tt.wantKinds {
				if !seen[k] {
					t.Errorf("rendered no %s: %v", k, kinds(objs))
				}
			}
			createNamespace(t, c, tt.ns)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, o := range objs {
				if err := c.Create(ctx, o, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
					t.Errorf("the API server refused %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		})
	}
}

// TestGeneratedTLSIsKeptOnUpgrade: without cert-manager the chart looks its
// Secret up, so an upgrade keeps the certificate and the webhooks' caBundle
// instead of rotating them (which would break in-flight pods' trust).
func TestGeneratedTLSIsKeptOnUpgrade(t *testing.T) {
	c, cfg := apiServer(t)
	const ns = "upgrade"
	createNamespace(t, c, ns)
	ctx := context.Background()

	first := renderWithCluster(t, cfg, ns, noCertManager, false)
	secrets := ofKind(first, "Secret")
	if len(secrets) != 2 {
		t.Fatalf("install rendered %d Secrets, want the serving certificate's and the CA's", len(secrets))
	}
	for _, s := range secrets {
		if err := c.Create(ctx, s.DeepCopy()); err != nil {
			t.Fatalf("create Secret %s: %v", s.GetName(), err)
		}
	}
	installed := servingSecret(t, secrets)

	again := renderWithCluster(t, cfg, ns, noCertManager, true)
	upgraded := []*unstructured.Unstructured{servingSecret(t, ofKind(again, "Secret"))}
	for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
		before, _, _ := unstructured.NestedString(installed.Object, "data", key)
		after, _, _ := unstructured.NestedString(upgraded[0].Object, "data", key)
		if before == "" || before != after {
			t.Errorf("%s changed on upgrade", key)
		}
	}
	caBundle := func(objs []*unstructured.Unstructured, kind string) string {
		hooks, _, _ := unstructured.NestedSlice(ofKind(objs, kind)[0].Object, "webhooks")
		s, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
		return s
	}
	wantCA, _, _ := unstructured.NestedString(installed.Object, "data", "ca.crt")
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if got := caBundle(again, kind); got != wantCA {
			t.Errorf("%s caBundle changed on upgrade", kind)
		}
	}

	// Without the Secret (a fresh namespace) the certificates are new.
	createNamespace(t, c, "upgrade-fresh")
	fresh := servingSecret(t, ofKind(renderWithCluster(t, cfg, "upgrade-fresh", noCertManager, false), "Secret"))
	if got, _, _ := unstructured.NestedString(fresh.Object, "data", "ca.crt"); got == wantCA {
		t.Error("a fresh install reused another namespace's CA")
	}
}

// servingSecret returns the serving certificate's Secret among secrets.
func servingSecret(t *testing.T, secrets []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	for _, s := range secrets {
		if s.GetName() == "meshgate-tls" {
			return s
		}
	}
	t.Fatalf("no Secret meshgate-tls among %v", kinds(secrets))
	return nil
}
