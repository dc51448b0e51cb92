package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

const policyLabel = "faults.meshgate.io/failure-policy"

// TestMeshgateStopped registers a second meshgate twice, once with
// failurePolicy Fail and once with Ignore (each limited by an object label to
// the objects of this test), stops it, and shows on the real API server what
// each policy does to the objects in scope, and that objects the webhooks do
// not match are created even with Fail: kinds meshgate does not review,
// kube-system, and, since the registration follows the rules' admission
// scopes, ordinary pods in mesh namespaces, edge proxies outside the mesh and
// Services outside the mesh.
func TestMeshgateStopped(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	m := startOwnMeshgate(t)
	for _, policy := range []admissionregistrationv1.FailurePolicyType{admissionregistrationv1.Fail, admissionregistrationv1.Ignore} {
		name := "faults-" + strings.ToLower(string(policy))
		mutating, validating := webhook.Configurations(webhook.RegistrationOptions{
			Name: name, ClientConfig: webhook.URLClientConfig(m.url, m.ca.pem), FailurePolicy: policy, TimeoutSeconds: 5,
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{policyLabel: string(policy)}},
		})
		require.NoError(t, k.Client.Create(ctx, mutating))
		require.NoError(t, k.Client.Create(ctx, validating))
		t.Cleanup(func() {
			_ = k.Client.Delete(context.Background(), mutating)
			_ = k.Client.Delete(context.Background(), validating)
		})
	}
	// The second meshgate answers: a bad port name with the Fail label is
	// denied (by both meshgates), a good one passes.
	require.Eventually(t, func() bool {
		err := k.Client.Create(ctx, cluster.MustDecode(t, service(meshNamespace, "probe", "http2foo", map[string]string{policyLabel: "Fail"})), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), deniedBy)
	}, 30*time.Second, 100*time.Millisecond)
	require.NoError(t, k.Client.Create(ctx, cluster.MustDecode(t, service(meshNamespace, "probe", "http", map[string]string{policyLabel: "Fail"})), client.DryRunAll))

	m.stop(t)

	pod := func(namespace, name, policy string) string {
		return `
apiVersion: v1
kind: Pod
metadata: {name: ` + name + `, namespace: ` + namespace + `, labels: {` + policyLabel + `: ` + policy + `}}
spec: {containers: [{name: app, image: example.com/app:1}]}`
	}
	// An edge proxy: the Emissary YAML's selector label.
	edgePod := func(namespace, name, policy string) string {
		return `
apiVersion: v1
kind: Pod
metadata: {name: ` + name + `, namespace: ` + namespace + `, labels: {service: ambassador, ` + policyLabel + `: ` + policy + `}}
spec: {containers: [{name: ambassador, image: docker.io/emissaryingress/emissary:3.10, env: [{name: AMBASSADOR_NAMESPACE, value: ` + namespace + `}]}]}`
	}
	cases := []struct {
		name     string
		manifest string
		// wantErr is a part of the API server's error; "" means created.
		wantErr string
	}{
		{name: "Fail: a Service in a mesh namespace is rejected", manifest: service(meshNamespace, "fail-svc", "http", map[string]string{policyLabel: "Fail"}),
			wantErr: `failed calling webhook "mesh-services-injection.mutate.meshgate.io"`},
		{name: "Fail: an edge proxy in a mesh namespace is rejected", manifest: edgePod(meshNamespace, "fail-edge", "Fail"),
			wantErr: `failed calling webhook "edge-proxy-pods-injection.mutate.meshgate.io"`},
		{name: "Fail: a Mapping in scope is rejected", manifest: `
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: fail-mapping, namespace: apps, labels: {` + policyLabel + `: Fail}}
spec: {prefix: /q/, service: quote}`,
			wantErr: `failed calling webhook "mutate.meshgate.io"`},
		{name: "Fail: a VirtualService (validated only) in scope is rejected", manifest: `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: fail-vs, namespace: apps, labels: {` + policyLabel + `: Fail}}
spec: {hosts: [quote], http: [{route: [{destination: {host: quote}}]}]}`,
			wantErr: `failed calling webhook "validate.meshgate.io"`},
		{name: "Ignore: a Service in scope is created", manifest: service(meshNamespace, "ignore-svc", "http", map[string]string{policyLabel: "Ignore"})},
		{name: "Ignore: an edge proxy in a mesh namespace is created", manifest: edgePod(meshNamespace, "ignore-edge", "Ignore")},
		{name: "Fail: an ordinary Pod in a mesh namespace is created (no pod webhook matches it)", manifest: pod(meshNamespace, "fail-pod", "Fail")},
		{name: "Fail: an edge proxy outside the mesh is created (namespace not matched)", manifest: edgePod("plain", "fail-edge-plain", "Fail")},
		{name: "Fail: a Service outside the mesh is created (namespace not matched)", manifest: service("plain", "fail-svc-plain", "http", map[string]string{policyLabel: "Fail"})},
		{name: "Fail: a Service in kube-system is created (namespace not matched)", manifest: service("kube-system", "fail-system", "http", map[string]string{policyLabel: "Fail"})},
		{name: "Fail: a ConfigMap is created (kind not registered)", manifest: `
apiVersion: v1
kind: ConfigMap
metadata: {name: fail-cm, namespace: apps, labels: {` + policyLabel + `: Fail}}
data: {a: b}`},
		{name: "Fail: a Secret is created (kind not registered)", manifest: `
apiVersion: v1
kind: Secret
metadata: {name: fail-secret, namespace: apps, labels: {` + policyLabel + `: Fail}}
stringData: {a: b}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := cluster.MustDecode(t, tc.manifest)
			start := time.Now()
			err := k.Client.Create(ctx, obj)
			elapsed := time.Since(start)
			if err == nil {
				t.Cleanup(func() { _ = k.Client.Delete(context.Background(), obj) })
			}
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Less(t, elapsed, 5*time.Second, "rejected at once (connection refused), not after the timeout")
			t.Logf("rejected in %s: %s", elapsed.Round(time.Millisecond), err)
		})
	}
}
