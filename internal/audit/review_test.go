package audit

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
)

// scenario reads testdata/scenario.yaml as the cluster holds it: UIDs set,
// the ReplicaSet controlled by the Deployment, the pods by the ReplicaSet.
func scenario(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("testdata/scenario.yaml")
	require.NoError(t, err)
	objs, err := manifest.Decode("scenario.yaml", strings.NewReader(string(data)))
	require.NoError(t, err)
	var out []*unstructured.Unstructured
	byKind := map[string]*unstructured.Unstructured{}
	for i, u := range objs {
		u.SetUID(types.UID(fmt.Sprintf("uid-%d", i)))
		byKind[u.GetKind()] = u
		out = append(out, u)
	}
	own := func(u, owner *unstructured.Unstructured) {
		u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(owner, owner.GroupVersionKind())})
	}
	own(byKind["ReplicaSet"], byKind["Deployment"])
	for _, u := range out {
		if u.GetKind() == "Pod" {
			own(u, byKind["ReplicaSet"])
		}
	}
	return out
}

func byRef(rs []Resource) map[string]Resource {
	out := map[string]Resource{}
	for _, r := range rs {
		out[r.Ref.String()] = r
	}
	return out
}

func TestReviewScenario(t *testing.T) {
	objs := scenario(t)
	rs := Review(context.Background(), engine.New(nil), ruletest.SyncedWorldOf(t, objs...), objs, 2)
	got := byRef(rs)

	assert.NotContains(t, got, "ReplicaSet emissary/emissary-ingress-5d8f7", "a Deployment's ReplicaSet is reported on the Deployment")
	assert.NotContains(t, got, "Pod emissary/emissary-ingress-5d8f7-a", "a workload's pods are reported on the workload")

	deploy := got["Deployment emissary/emissary-ingress"]
	require.NoError(t, deploy.Err)
	assert.Equal(t, 2, deploy.Pods)
	assert.Equal(t, 2, deploy.Affected)
	require.NotEmpty(t, deploy.Findings)
	d := deploy.Findings[0]
	assert.Equal(t, KindDrift, d.Kind)
	assert.Equal(t, policy.EdgeProxyIstioCerts, d.Rule)
	assert.Contains(t, d.Message, "2 of 2 running pods lack it")
	assert.Contains(t, d.Message, "restart it")
	assert.Contains(t, deploy.Rules, policy.EdgeProxyIstioCerts)

	svc := got["Service apps/reviews"]
	require.NotEmpty(t, svc.Findings)
	assert.Equal(t, KindViolation, findingOf(svc, policy.ServicePortName).Kind)
	assert.Equal(t, policy.Enforce, findingOf(svc, policy.ServicePortName).Mode)

	mapping := got["Mapping emissary/quote-backend"]
	assert.Equal(t, KindDrift, findingOf(mapping, policy.MappingIstioTLS).Kind, "%+v", mapping.Findings)

	vs := got["VirtualService apps/kiali"]
	assert.Equal(t, KindViolation, findingOf(vs, policy.VirtualServiceGatewayRef).Kind, "%+v", vs.Findings)

	quote := got["Service apps/quote"]
	assert.Empty(t, quote.Findings, "a right object has no finding")
	assert.NotEmpty(t, quote.Rules, "but its rules are listed: they passed")
}

func TestReviewTemplateAlreadyRight(t *testing.T) {
	objs := scenario(t)
	w := ruletest.SyncedWorldOf(t, objs...)
	eng := engine.New(nil)
	// Make the Deployment's template what meshgate makes of it: restarting fixes the pods.
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		res, err := eng.Review(context.Background(), engine.Input{Object: u}, w)
		require.NoError(t, err)
		require.True(t, res.Changed())
		*u = *res.Object
	}
	got := byRef(Review(context.Background(), eng, w, objs, 1))
	d := findingOf(got["Deployment emissary/emissary-ingress"], policy.EdgeProxyIstioCerts)
	assert.Equal(t, KindDrift, d.Kind)
	assert.Contains(t, d.Message, "template is already right: restart it (kubectl rollout restart deployment/emissary-ingress -n emissary)")
}

func TestReviewSuppressed(t *testing.T) {
	objs := scenario(t)
	cfg, err := policy.ParseConfig([]byte(`
suppressions:
- rule: service-port-name
  namespace: app*
  name: reviews
  reason: legacy client, fixed in Q3
- rule: edge-proxy-istio-certs
  kind: Deployment
`))
	require.NoError(t, err)
	got := byRef(Review(context.Background(), engine.New(cfg), ruletest.SyncedWorldOf(t, objs...), objs, 1))
	f := findingOf(got["Service apps/reviews"], policy.ServicePortName)
	assert.Equal(t, policy.Suppressed, f.Mode)
	assert.Contains(t, f.Message, "(suppressed: legacy client, fixed in Q3)")
	d := findingOf(got["Deployment emissary/emissary-ingress"], policy.EdgeProxyIstioCerts)
	assert.Equal(t, policy.Suppressed, d.Mode, "a workload's drift is suppressed on the workload")
	assert.Equal(t, KindDrift, d.Kind)
}

func findingOf(r Resource, rule string) Finding {
	for _, f := range r.Findings {
		if f.Rule == rule {
			return f
		}
	}
	return Finding{}
}

// TestReviewSharedGateway: the audit judges VirtualServices with the same
// engine as admission, so a Gateway its owner shares passes, and one it does
// not share is a violation that names both fixes.
func TestReviewSharedGateway(t *testing.T) {
	objs, err := manifest.Decode("shared.yaml", strings.NewReader(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kubeflow-gateway, namespace: kubeflow, annotations: {meshgate.io/allowed-namespaces: "auth, oauth2-proxy"}}
spec: {selector: {istio: ingressgateway}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: dex, namespace: auth, uid: vs-1}
spec: {hosts: ["*"], gateways: [kubeflow/kubeflow-gateway], http: [{route: [{destination: {host: dex}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reports, namespace: team-reports, uid: vs-2}
spec: {hosts: ["*"], gateways: [kubeflow/kubeflow-gateway], http: [{route: [{destination: {host: reports}}]}]}
`))
	require.NoError(t, err)
	got := byRef(Review(context.Background(), engine.New(nil), ruletest.SyncedWorldOf(t, objs...), objs, 1))
	dex := got["VirtualService auth/dex"]
	require.NoError(t, dex.Err)
	assert.Empty(t, dex.Findings, "shared with auth")
	f := findingOf(got["VirtualService team-reports/reports"], policy.VirtualServiceGatewayRef)
	assert.Equal(t, KindViolation, f.Kind)
	assert.Equal(t, policy.Enforce, f.Mode)
	assert.Contains(t, f.Message, `is shared only with "auth, oauth2-proxy" (annotation meshgate.io/allowed-namespaces): its owner can add team-reports there, or add kubeflow to gatewayRefs.allowedNamespaces`)
}
