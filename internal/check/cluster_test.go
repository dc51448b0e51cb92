package check

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

func obj(apiVersion, kind, ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	if labels != nil {
		u.SetLabels(labels)
	}
	return u
}

var (
	gvrNamespace  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrService    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrTLSContext = schema.GroupVersionResource{Group: "getambassador.io", Version: "v3alpha1", Resource: "tlscontexts"}
	gvrGateway    = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
)

// fakeCluster serves Namespaces, Services, TLSContexts (none) and Gateway API
// Gateways; the Istio CRDs are not installed.
func fakeCluster(t *testing.T, objs ...runtime.Object) (*dynamicfake.FakeDynamicClient, meta.RESTMapper) {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}, {Group: "getambassador.io", Version: "v3alpha1"}, {Group: "gateway.networking.k8s.io", Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "getambassador.io", Version: "v3alpha1", Kind: "TLSContext"}, meta.RESTScopeNamespace)
	mapper.AddSpecific(schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}, gvrGateway, schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateway"}, meta.RESTScopeNamespace)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gvrNamespace:  "NamespaceList",
		gvrService:    "ServiceList",
		gvrTLSContext: "TLSContextList",
		gvrGateway:    "GatewayList",
	}, objs...)
	return dyn, mapper
}

func TestReadCluster(t *testing.T) {
	dyn, mapper := fakeCluster(t,
		obj("v1", "Namespace", "", "emissary", map[string]string{"istio-injection": "enabled"}),
		obj("v1", "Service", "shop", "quote", nil),
	)
	// Created through the client: the fake's object tracker would guess the
	// resource name "gatewaies" for an object passed to its constructor.
	_, err := dyn.Resource(gvrGateway).Namespace("infra").Create(context.Background(), obj("gateway.networking.k8s.io/v1", "Gateway", "infra", "public", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	cw, err := readCluster(context.Background(), dyn, mapper)
	require.NoError(t, err)
	assert.Len(t, cw.Objects, 3)
	for _, a := range dyn.Actions()[1:] {
		assert.Equal(t, "list", a.GetVerb(), "the cluster is only read")
	}
	assert.ElementsMatch(t, []policy.WorldKind{policy.KindNamespace, policy.KindService, policy.KindTLSContext, policy.KindGateway}, cw.Known,
		"listed kinds are known even without objects; kinds without a CRD are not")
	assert.Empty(t, cw.Warnings)
}

func TestReadClusterSkipsForbiddenKinds(t *testing.T) {
	dyn, mapper := fakeCluster(t)
	dyn.PrependReactor("list", "services", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", errors.New("no RBAC"))
	})
	cw, err := readCluster(context.Background(), dyn, mapper)
	require.NoError(t, err)
	assert.NotContains(t, cw.Known, policy.KindService, "a kind that could not be listed stays unknown")
	require.Len(t, cw.Warnings, 1)
	assert.Contains(t, cw.Warnings[0], "cannot list services")
}

func TestInputsOverrideClusterObjects(t *testing.T) {
	b := newWorldBuilder("default")
	b.addCluster(&ClusterWorld{
		Objects: []*unstructured.Unstructured{
			obj("v1", "Namespace", "", "shop", map[string]string{"istio-injection": "enabled"}),
			obj("v1", "Namespace", "", "other", map[string]string{"from": "cluster"}),
			obj("getambassador.io/v3alpha1", "TLSContext", "emissary", "istio-upstream", nil),
		},
		Known: []policy.WorldKind{policy.KindNamespace, policy.KindTLSContext, policy.KindPeerAuthentication},
	})
	b.add(&manifest.Object{Object: obj("v1", "Namespace", "", "shop", map[string]string{"istio.io/dataplane-mode": "ambient"})}, false)
	b.add(&manifest.Object{Object: obj("getambassador.io/v3alpha1", "TLSContext", "emissary", "istio-upstream", nil)}, false)
	bw, errs := b.build()
	w := bw.w
	require.Empty(t, errs)
	ctx := context.Background()
	shop, ok, err := policy.Get(ctx, w, policy.Namespaces, "", "shop")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, map[string]string{"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"}, shop.Labels,
		"the manifest's namespace is merged over the cluster's, as applying it would: its labels win, the cluster's others stay")
	require.Len(t, bw.overlays, 1, "the change to the cluster's namespace is recorded")
	assert.Equal(t, "Namespace shop", bw.overlays[0].id.String())
	other, _, _ := policy.Get(ctx, w, policy.Namespaces, "", "other")
	assert.Equal(t, "cluster", other.Labels["from"])
	assert.Len(t, ruletestMust(policy.ListByName(ctx, w, policy.TLSContexts, "istio-upstream")), 1, "the same object from both sources is in the World once")
	assert.True(t, w.Has(policy.KindPeerAuthentication), "kinds the cluster listed are known")
	assert.False(t, w.Has(policy.KindIstioGateway))
}

// TestClusterWorldDrivesTheRules: the emissary Deployment is wired only because
// the cluster says its namespace has sidecar injection.
func TestClusterWorldDrivesTheRules(t *testing.T) {
	dyn, mapper := fakeCluster(t, obj("v1", "Namespace", "", "emissary", map[string]string{"istio-injection": "enabled"}))
	files := []string{"testdata/scenario/emissary.yaml"}

	without := runCheck(t, Options{Files: files, Format: FormatJSON})
	require.NoError(t, without.err)
	assert.Empty(t, decodeJSON(t, without.stdout).Changes)

	with := runCheck(t, Options{Files: files, Format: FormatJSON, cluster: func(ctx context.Context) (*ClusterWorld, error) {
		return readCluster(ctx, dyn, mapper)
	}})
	require.NoError(t, with.err)
	assert.NotEmpty(t, decodeJSON(t, with.stdout).Changes)
}

func TestUnreachableClusterIsAnError(t *testing.T) {
	r := runCheck(t, Options{Files: []string{cli + "/clean"}, Kubeconfig: "testdata/nosuch-kubeconfig"})
	require.Error(t, r.err)
	assert.Equal(t, ExitBadInput, r.code)
	assert.Empty(t, r.stdout)
}

func ruletestMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
