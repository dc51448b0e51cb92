package intree

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/test/golden"
	"github.com/meshgate/meshgate/webhook"
)

// TestWebhookWithTheInTreePolicies installs what the chart installs with
// inTree.enabled: the in-tree policies, meshgate with
// inTree.enabled in its configuration, and its webhooks without the
// kinds the policies cover completely. Then every object gets one verdict:
// a Service is judged by the API server alone, a VirtualService's finding
// that the policy reports is not repeated by the webhook, and an edge-proxy
// pod ends as the golden corpus says whether the policy or the webhook wired
// it.
func TestWebhookWithTheInTreePolicies(t *testing.T) {
	ctx := context.Background()
	cfg, err := policy.ParseConfig([]byte("inTree: {enabled: true}\nrules: {virtualservice-gateway-ref: warn}\n"))
	require.NoError(t, err)
	const ownNamespace, ownServiceAccount = "meshgate-system", "meshgate"
	c, err := cluster.Start(cluster.Options{
		CRDDirs: []string{cluster.CRDDir("istio"), cluster.EmissaryCRDDir()},
		Meshgate: webhook.Options{
			Config: cfg, Namespace: ownNamespace, ServiceAccount: ownServiceAccount, CRDResync: 2 * time.Second,
		},
		HandOff: true,
	})
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Stop()) }()

	for name, labels := range map[string]map[string]string{
		ownNamespace: nil, "shop": {"istio-injection": "enabled"}, "emissary": {"istio-injection": "enabled"},
	} {
		require.NoError(t, client.IgnoreAlreadyExists(c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})))
	}
	set, err := intree.Generate(cfg, intree.Options{
		ExcludeNamespaces:  []string{ownNamespace},
		ServiceAccountUser: "system:serviceaccount:" + ownNamespace + ":" + ownServiceAccount,
	})
	require.NoError(t, err)
	applyTo(ctx, t, c.Client, []*intree.Set{set})

	wc, warnings, err := c.WarningClient()
	require.NoError(t, err)
	send := func(t *testing.T, obj *unstructured.Unstructured) error {
		t.Helper()
		warnings.Drain()
		return wc.Create(ctx, obj, client.DryRunAll)
	}

	t.Run("a Service is judged by the API server alone", func(t *testing.T) {
		svc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": "web", "namespace": "shop"},
			"spec": map[string]any{"selector": map[string]any{"app": "web"},
				"ports": []any{map[string]any{"name": "web", "port": int64(8080)}}},
		}}
		err := send(t, svc)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ValidatingAdmissionPolicy 'service-port-name.meshgate.io'")
		assert.Contains(t, err.Error(), `port name "web" (port 8080) does not give Istio a protocol`)
		assert.NotContains(t, err.Error(), "admission webhook", "Services are handed off: meshgate is not called")
	})

	t.Run("a VirtualService's finding is reported once", func(t *testing.T) {
		vs := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
			"metadata": map[string]any{"name": "reviews", "namespace": "shop"},
			"spec": map[string]any{
				"hosts": []any{"reviews"},
				// The webhook reports the first (only it reads whether the
				// Gateway is shared), the policy the second.
				"gateways": []any{"infra/edge", "Edge"},
				"http":     []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "reviews"}}}}},
			},
		}}
		require.NoError(t, send(t, vs))
		got := warnings.Get()
		var cross, invalid int
		for _, w := range got {
			cross += strings.Count(w, "points into namespace infra")
			invalid += strings.Count(w, `gateway reference "Edge" is invalid`)
		}
		assert.Equal(t, 1, cross, "the policy's finding, once: %q", got)
		assert.Equal(t, 1, invalid, "the webhook's finding, once: %q", got)
	})

	t.Run("a TLSContext is denied by the policy, or by the webhook where the policy cannot read it", func(t *testing.T) {
		tc := func(alpn string) *unstructured.Unstructured {
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "getambassador.io/v3alpha1", "kind": "TLSContext",
				"metadata": map[string]any{"name": "istio-upstream", "namespace": "emissary"},
				"spec":     map[string]any{"secret": "istio-certs", "alpn_protocols": alpn},
			}}
		}
		err := send(t, tc("h2"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ValidatingAdmissionPolicy 'mapping-tls-context.meshgate.io'")
		assert.Contains(t, err.Error(), `alpn_protocols of the Istio TLSContext "istio-upstream" is "h2"`)
		err = send(t, tc(`h2,"istio"`))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "admission webhook")
		assert.Contains(t, err.Error(), `is "h2,\"istio\""`, "the webhook quotes as Go does")
		require.NoError(t, send(t, tc("h2,istio")))
	})

	for _, name := range []string{"pod-emissary-helm-sidecar", "pod-already-injected", "pod-proxy-config-merge", "pod-env-conflict"} {
		t.Run("edge-proxy pod "+name, func(t *testing.T) {
			gc, err := golden.LoadCase(filepath.Join(golden.CorpusDir(), name))
			require.NoError(t, err)
			want, err := gc.Want()
			require.NoError(t, err)
			require.Len(t, gc.Inputs, 1)
			in := gc.Inputs[0].DeepCopy()
			require.NoError(t, client.IgnoreAlreadyExists(c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name: in.GetNamespace(), Labels: namespaceLabels(gc, in.GetNamespace()),
			}})))
			final := &unstructured.Unstructured{Object: want[0].Mutated}
			require.NoError(t, c.Client.Create(ctx, final, client.DryRunAll), "the golden object as the API server stores it")
			require.NoError(t, send(t, in))
			assert.Equal(t, stored(t, final), stored(t, in), "the stored pod")
			ref := policy.ObjectRef{APIVersion: in.GetAPIVersion(), Kind: in.GetKind(), Namespace: in.GetNamespace(), Name: in.GetName()}
			var fs []policy.Finding
			for _, f := range want[0].Findings {
				fs = append(fs, policy.Finding{Rule: f.Rule, Mode: f.Mode, Object: ref, Field: f.Field, Message: f.Message})
			}
			assert.Equal(t, webhook.Warnings(fs), warnings.Get(), "the warnings, each once")
		})
	}
}

// namespaceLabels are the labels c's World gives namespace ns.
func namespaceLabels(c golden.Case, ns string) map[string]string {
	for _, o := range c.World {
		if o.GetKind() == "Namespace" && o.GetName() == ns {
			return o.GetLabels()
		}
	}
	return nil
}
