package intree_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/validators"
	"github.com/meshgate/meshgate/webhook"
)

// TestVirtualServiceGatewayRefPolicyAgreesWithTheRule evaluates
// virtualservice-gateway-ref's ValidatingAdmissionPolicy in-process on
// references of every form, well-formed or not: it must deny with exactly
// the findings the rule marks as the policy's (Finding.InTree), and admit
// everything else (the webhook's part, which reads Gateways).
func TestVirtualServiceGatewayRefPolicyAgreesWithTheRule(t *testing.T) {
	set, err := intree.Generate(policy.DefaultConfig(), intree.Options{})
	require.NoError(t, err)
	p := ruleSet(t, set, policy.VirtualServiceGatewayRef).Validating[0]
	v := validator(t, &p)

	w := world.NewMemory("default")
	for _, gw := range []struct{ ns, name string }{{"istio-ingress", "istio-ingressgateway"}, {"infra", "gw"}, {"shop", "shop-gw"}} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("networking.istio.io/v1")
		u.SetKind("Gateway")
		u.SetNamespace(gw.ns)
		u.SetName(gw.name)
		_, err := w.Add(u)
		require.NoError(t, err)
	}
	long := strings.Repeat("g", 64)
	refs := []string{
		"mesh", "shop-gw", "infra/gw", "gw.infra", "gw.infra.svc.cluster.local", "istio-ingress/istio-ingressgateway",
		"Edge", "", "shop/", "/shop-gw", "./shop-gw", "*/istio-ingressgateway", "./Edge", "Infra/Edge", "Infra/gw",
		long, "shop/" + long, long + "/Edge", "a.b/C", "shop/a.b", "shop/a/b", "shop/a_b", ".gw", "gw.", "Gw.infra",
		"gw..x", "shop/-x", "shop/x-", "shop/é", `shop/a"b`, `a\b`, "shop/a b", "UPPER.lower", "x.Infra",
	}
	denials := 0
	for _, ref := range refs {
		for _, where := range []string{"spec", "http match"} {
			t.Run(where+" "+ref, func(t *testing.T) {
				spec := map[string]any{"hosts": []any{"a.example.com"}}
				if where == "spec" {
					spec["gateways"] = []any{ref, "mesh"}
				} else {
					spec["http"] = []any{map[string]any{}, map[string]any{"match": []any{map[string]any{}, map[string]any{"gateways": []any{"mesh", ref}}}}}
				}
				vs := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
					"metadata": map[string]any{"name": "vs", "namespace": "shop"}, "spec": spec,
				}}
				target := policy.Target{Object: policy.ObjectRef{APIVersion: "networking.istio.io/v1", Kind: "VirtualService", Namespace: "shop", Name: "vs"}, Namespace: "shop"}
				rep, err := validators.VirtualServiceGatewayRef(context.Background(), vs, target, w, policy.DefaultConfig())
				require.NoError(t, err)
				var inTree []policy.Finding
				for _, f := range rep.Findings {
					if f.InTree {
						inTree = append(inTree, f)
					}
				}
				var want []string
				if len(inTree) > 0 {
					want = []string{strings.ReplaceAll(webhook.DenialMessage(inTree), "\n", " ")}
				}
				got := evaluateVirtualService(t, v, vs)
				assert.Equal(t, want, got, "findings of the rule: %v", rep.Findings)
				if len(got) > 0 {
					denials++
				}
			})
		}
	}
	assert.Greater(t, denials, 20, "the samples must exercise the messages")
}

// evaluateVirtualService runs v on vs, created in its namespace, and returns
// the denial messages (none: admitted).
func evaluateVirtualService(t *testing.T, v validating.Validator, vs *unstructured.Unstructured) []string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: vs.GetNamespace(), Labels: map[string]string{corev1.LabelMetadataName: vs.GetNamespace()}}}
	denials, evalErr, failed := decide(v, admissionReview{obj: vs, gvk: vs.GroupVersionKind(), resource: "virtualservices", ns: ns})
	require.False(t, failed, "evaluation error: %s", evalErr)
	return denials
}
