package world

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

const objects = `
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: quote}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: getambassador.io/v2
kind: TLSContext
metadata: {name: istio-upstream, namespace: emissary}
spec: {secret: istio-certs, alpn_protocols: [istio, h2]}
---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: {name: istio-upstream, namespace: other}
spec: {alpn_protocols: istio}
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: istio-ingress}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: plain, port: 80, protocol: HTTP}
  - name: picky
    port: 8080
    protocol: HTTP
    allowedRoutes:
      namespaces: {from: Selector, selector: {matchLabels: {team: a}}}
      kinds: [{kind: HTTPRoute}, {group: example.com, kind: Other}]
  - {name: passthrough, port: 443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: terminate, port: 8443, protocol: TLS, tls: {certificateRefs: [{name: cert}]}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: apps}
spec: {mtls: {mode: STRICT}, selector: {matchLabels: {app: quote}}}
---
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: ambassador, namespace: emissary}
spec: {config: {use_ambassador_namespace_for_service_resolution: true, resolver: endpoint}}
---
apiVersion: getambassador.io/v3alpha1
kind: ConsulResolver
metadata: {name: consul-dc1, namespace: emissary}
spec: {address: consul-server.consul:8500, datacenter: dc1}
---
apiVersion: getambassador.io/v2
kind: KubernetesEndpointResolver
metadata: {name: endpoint, namespace: emissary}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-world}
`

func TestMemory(t *testing.T) {
	objs, err := manifest.Decode("objects", strings.NewReader(objects))
	require.NoError(t, err)
	w := NewMemory("")
	added := 0
	for _, o := range objs {
		ok, err := w.Add(o)
		require.NoError(t, err)
		if ok {
			added++
		}
	}
	assert.Equal(t, len(objs)-1, added, "everything but the ConfigMap is a World kind")

	ctx := context.Background()
	ns, ok, _ := policy.Get(ctx, w, policy.Namespaces, "", "apps")
	require.True(t, ok)
	assert.Equal(t, "enabled", ns.Labels["istio-injection"])
	_, ok, _ = policy.Get(ctx, w, policy.Namespaces, "", "nope")
	assert.False(t, ok)

	svc, ok, _ := policy.Get(ctx, w, policy.Services, "default", "quote")
	require.True(t, ok, "a Service without a namespace lands in the default namespace")
	assert.Equal(t, int32(80), svc.Spec.Ports[0].Port)

	tls, _ := policy.ListByName(ctx, w, policy.TLSContexts, "istio-upstream")
	require.Len(t, tls, 2, "TLSContext names are cluster-global: both namespaces are returned")
	assert.Equal(t, policy.TLSContext{ObjectMeta: policy.ObjectMeta{Namespace: "emissary", Name: "istio-upstream"}}, tls[0])

	assert.Equal(t, []policy.IstioGateway{{ObjectMeta: policy.ObjectMeta{Namespace: "istio-ingress", Name: "gw"}}}, must(policy.ListByName(ctx, w, policy.IstioGateways, "gw")))

	gw, ok, _ := policy.Get(ctx, w, policy.Gateways, "infra", "shared")
	require.True(t, ok)
	assert.Equal(t, "istio", gw.ClassName)
	assert.Equal(t, []policy.Listener{
		{Name: "plain", From: "Same", Port: 80, Protocol: "HTTP"},
		{Name: "picky", From: "Selector", Port: 8080, Protocol: "HTTP",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			Kinds:    []string{"gateway.networking.k8s.io/HTTPRoute", "example.com/Other"}},
		{Name: "passthrough", From: "Same", Port: 443, Protocol: "TLS", TLSMode: "Passthrough"},
		{Name: "terminate", From: "Same", Port: 8443, Protocol: "TLS", TLSMode: "Terminate"},
	}, gw.Listeners)

	assert.Equal(t, []policy.PeerAuthentication{{ObjectMeta: policy.ObjectMeta{Namespace: "apps", Name: "default"}, Selector: map[string]string{"app": "quote"}, Mode: "STRICT"}},
		must(policy.ListInNamespace(ctx, w, policy.PeerAuthentications, "apps")))
	assert.Equal(t, []policy.Module{{ObjectMeta: policy.ObjectMeta{Namespace: "emissary", Name: "ambassador"}, UseAmbassadorNamespaceForServiceResolution: true, Resolver: "endpoint"}},
		must(policy.ListByName(ctx, w, policy.Modules, "ambassador")))
	consul := must(policy.ListByName(ctx, w, policy.Resolvers, "consul-dc1"))
	require.Len(t, consul, 1)
	assert.False(t, consul[0].ResolvesToService(), "a Consul resolver does not resolve to a Kubernetes Service")
	endpoint := must(policy.ListByName(ctx, w, policy.Resolvers, "endpoint"))
	require.Len(t, endpoint, 1)
	assert.True(t, endpoint[0].ResolvesToService())
	assert.Empty(t, must(policy.ListByName(ctx, w, policy.Resolvers, "nope")))
	assert.True(t, w.Has(policy.KindModule))
	assert.True(t, w.Has(policy.KindResolver))

	for _, k := range []policy.WorldKind{policy.KindNamespace, policy.KindService, policy.KindTLSContext, policy.KindIstioGateway, policy.KindGateway, policy.KindPeerAuthentication} {
		assert.True(t, w.Has(k), k)
		assert.False(t, w.Complete(k), "%s: objects read from files are never all of the cluster's", k)
	}
	empty := NewMemory("x")
	assert.False(t, empty.Has(policy.KindGateway))
	empty.MarkKnown(policy.KindGateway)
	assert.True(t, empty.Has(policy.KindGateway), "MarkKnown: the cluster has the CRD but no object")
	assert.True(t, empty.Complete(policy.KindGateway), "MarkKnown: the cluster was listed for the kind")
}

func TestAddRejectsAServiceThatIsNotOne(t *testing.T) {
	objs, err := manifest.Decode("bad", strings.NewReader("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: 80}\n"))
	require.NoError(t, err)
	_, err = NewMemory("").Add(objs[0])
	assert.ErrorContains(t, err, "Service default/s")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestMemoryIstioGatewaySharing(t *testing.T) {
	objs, err := manifest.Decode("objects", strings.NewReader(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kubeflow-gateway, namespace: kubeflow, annotations: {meshgate.io/allowed-namespaces: "auth, oauth2-proxy", other: x}}
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: kubeflow-gateway, namespace: staging, annotations: {meshgate.io/allowed-namespaces: ""}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kubeflow-gateway}
`))
	require.NoError(t, err)
	w := NewMemory("")
	for _, o := range objs {
		_, err := w.Add(o)
		require.NoError(t, err)
	}
	assert.Equal(t, []policy.IstioGateway{
		{ObjectMeta: policy.ObjectMeta{Namespace: "kubeflow", Name: "kubeflow-gateway"}, AllowedNamespaces: "auth, oauth2-proxy", Shared: true},
		{ObjectMeta: policy.ObjectMeta{Namespace: "staging", Name: "kubeflow-gateway"}, Shared: true},
		{ObjectMeta: policy.ObjectMeta{Namespace: "default", Name: "kubeflow-gateway"}},
	}, must(policy.ListByName(context.Background(), w, policy.IstioGateways, "kubeflow-gateway")), "the annotation as written, and whether it is there at all")
}
