package cached

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

// metadataListCache is a cache whose every metadata List holds items, as the
// cache's transform (world.Slim) stored them.
type metadataListCache struct {
	cache.Cache
	items []metav1.PartialObjectMetadata
}

func (c metadataListCache) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	if l, ok := list.(*metav1.PartialObjectMetadataList); ok {
		l.Items = append(l.Items, c.items...)
	}
	return nil
}

// TestIstioGatewaysKeepTheirSharing: the Istio Gateways the cache
// holds (metadata only) reach the rules with the owner's
// meshgate.io/allowed-namespaces annotation, and nothing else of their
// metadata.
func TestIstioGatewaysKeepTheirSharing(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: policy.GroupIstioNet, Version: "v1", Kind: "Gateway"}
	stored := func(ns string, annotations map[string]string) metav1.PartialObjectMetadata {
		m := &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubeflow-gateway", Labels: map[string]string{"a": "b"}, Annotations: annotations},
		}
		return *world.Slim(m).(*metav1.PartialObjectMetadata)
	}
	c := metadataListCache{items: []metav1.PartialObjectMetadata{
		stored("kubeflow", map[string]string{policy.AnnotationAllowedNamespaces: "auth, oauth2-proxy", "other": "x"}),
		stored("staging", map[string]string{"other": "x"}),
	}}
	w := New(c, nil, Options{})
	activate(w, kindSpec{kind: policy.KindIstioGateway, gk: gvk.GroupKind(), decl: policy.IstioGateways}, gvk)
	got, err := policy.ListByName(context.Background(), w, policy.IstioGateways, "kubeflow-gateway")
	require.NoError(t, err)
	assert.Equal(t, []policy.IstioGateway{
		{ObjectMeta: policy.ObjectMeta{Namespace: "kubeflow", Name: "kubeflow-gateway"}, AllowedNamespaces: "auth, oauth2-proxy", Shared: true},
		{ObjectMeta: policy.ObjectMeta{Namespace: "staging", Name: "kubeflow-gateway"}},
	}, got)
}
