package live

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	// The rules register the kinds they review.
	_ "github.com/meshgate/meshgate/mutators"
	_ "github.com/meshgate/meshgate/validators"
)

func object(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

var (
	gvrPod        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrService    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrDeployment = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// cluster serves Pods, Services and Deployments; no CRD is installed.
func cluster(t *testing.T, objs ...runtime.Object) (*dynamicfake.FakeDynamicClient, meta.RESTMapper) {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}, {Group: "apps", Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gvrPod: "PodList", gvrService: "ServiceList", gvrDeployment: "DeploymentList",
	}, objs...)
	return dyn, mapper
}

func TestReadReviewed(t *testing.T) {
	objs := []runtime.Object{
		object("v1", "Pod", "emissary", "edge-0"),
		object("v1", "Service", "apps", "reviews"),
		object("apps/v1", "Deployment", "emissary", "edge"),
	}
	tests := []struct {
		name      string
		namespace string
		want      []string
	}{
		{"every namespace", "", []string{"edge-0", "edge", "reviews"}},
		{"one namespace", "emissary", []string{"edge-0", "edge"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dyn, mapper := cluster(t, objs...)
			r := NewReader(dyn, mapper)
			got, err := r.ReadReviewed(context.Background(), tc.namespace)
			require.NoError(t, err)
			var names []string
			for _, u := range got.Objects {
				names = append(names, u.GetName())
			}
			assert.ElementsMatch(t, tc.want, names)
			assert.ElementsMatch(t, []schema.GroupKind{{Kind: "Pod"}, {Kind: "Service"}, {Group: "apps", Kind: "Deployment"}}, got.Kinds,
				"kinds the cluster does not serve (the CRDs, the other workload kinds here) are skipped")
			assert.Empty(t, got.Warnings)
			for _, a := range dyn.Actions() {
				assert.Equal(t, "list", a.GetVerb(), "the cluster is only read")
				assert.Equal(t, tc.namespace, a.GetNamespace())
			}
			assert.Equal(t, int64(len(dyn.Actions())), r.Calls(), "every list call is counted")
		})
	}
}

func TestReadReviewedSkipsForbiddenKinds(t *testing.T) {
	dyn, mapper := cluster(t)
	dyn.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no RBAC"))
	})
	got, err := NewReader(dyn, mapper).ReadReviewed(context.Background(), "")
	require.NoError(t, err)
	assert.NotContains(t, got.Kinds, schema.GroupKind{Kind: "Pod"})
	require.Len(t, got.Warnings, 1)
	assert.Contains(t, got.Warnings[0], "cannot list pods")
}
