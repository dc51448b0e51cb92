package cached

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

// objectsCache is a cache holding objs as world.Slim stored them, answering
// Get by key and List by namespace or by the name index.
type objectsCache struct {
	cache.Cache
	objs []client.Object
}

func (c objectsCache) matching(gk schema.GroupKind) []client.Object {
	var out []client.Object
	for _, o := range c.objs {
		if o.GetObjectKind().GroupVersionKind().GroupKind() == gk {
			out = append(out, o)
		}
	}
	return out
}

func (c objectsCache) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	for _, o := range c.matching(gvk.GroupKind()) {
		if o.GetNamespace() != key.Namespace || o.GetName() != key.Name {
			continue
		}
		switch dst := obj.(type) {
		case *metav1.PartialObjectMetadata:
			*dst = *o.(*metav1.PartialObjectMetadata)
		case *unstructured.Unstructured:
			dst.Object = o.(*unstructured.Unstructured).Object
		default:
			return apierrors.NewBadRequest("the cache cannot hand out a typed kind")
		}
		return nil
	}
	return apierrors.NewNotFound(schema.GroupResource{Resource: gvk.Kind}, key.Name)
}

func (c objectsCache) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	gvk := list.GetObjectKind().GroupVersionKind()
	gk := schema.GroupKind{Group: gvk.Group, Kind: strings.TrimSuffix(gvk.Kind, "List")}
	for _, o := range c.matching(gk) {
		if lo.Namespace != "" && o.GetNamespace() != lo.Namespace {
			continue
		}
		if lo.FieldSelector != nil && !lo.FieldSelector.Matches(fields.Set{nameField: o.GetName()}) {
			continue
		}
		switch l := list.(type) {
		case *metav1.PartialObjectMetadataList:
			l.Items = append(l.Items, *o.(*metav1.PartialObjectMetadata))
		case *unstructured.UnstructuredList:
			l.Items = append(l.Items, *o.(*unstructured.Unstructured))
		}
	}
	return nil
}

// sample is an object of API kind k with its identity, labels and
// annotations.
func sample(k policy.WorldKindInfo) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: k.Group, Version: "v1", Kind: k.APIKind})
	u.SetName("x")
	if !k.Decl.Decl().ClusterScoped {
		u.SetNamespace("ns")
	}
	u.SetLabels(map[string]string{"team": "a"})
	u.SetAnnotations(map[string]string{policy.AnnotationAllowedNamespaces: "*"})
	return u
}

// stored is what the server's cache holds of u (its informer's form, through
// world.Slim).
func stored(t *testing.T, k policy.WorldKindInfo, u *unstructured.Unstructured) client.Object {
	t.Helper()
	var form any
	switch d := k.Decl.Decl(); {
	case d.MetadataOnly:
		m := &metav1.PartialObjectMetadata{}
		data, err := json.Marshal(u.Object)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, m))
		form = m
	case d.New != nil:
		typed := d.New()
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed))
		form = typed
	default:
		form = u.DeepCopy()
	}
	slim, ok := world.Slim(form).(client.Object)
	require.True(t, ok, "%s: the cache holds client.Objects", k.Kind)
	return slim
}

// TestEveryDeclaredKindIsHeldByEveryWorld: an object of every declared API
// kind is found, through every lookup its World kind declares, with the same
// answer, in the in-memory World and in the cache-backed one (from what
// world.Slim keeps of it). A declaration whose decoder cannot read the
// cache's form of its kind, or a World that misses a lookup, fails here.
func TestEveryDeclaredKindIsHeldByEveryWorld(t *testing.T) {
	ctx := context.Background()
	for _, k := range policy.WorldKinds() {
		t.Run(k.GroupKind().String(), func(t *testing.T) {
			d := k.Decl.Decl()
			u := sample(k)
			mem := world.NewMemory("default")
			added, err := mem.Add(u)
			require.NoError(t, err)
			require.True(t, added)

			gvk := u.GroupVersionKind()
			slim := stored(t, k, u)
			w := New(objectsCache{objs: []client.Object{slim}}, nil, Options{})
			spec := kindSpec{kind: k.Kind, gk: k.GroupKind(), decl: k.Decl}
			activate(w, spec, gvk)
			if d.New != nil {
				store := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{})
				require.NoError(t, store.Add(slim))
				w.stores[k.GroupKind()] = store
			}
			assert.True(t, mem.Has(k.Kind))
			assert.True(t, w.Has(k.Kind))

			looked := 0
			for _, by := range policy.Lookups {
				if d.Lookups&by == 0 {
					continue
				}
				looked++
				q := policy.Query{By: by, Namespace: u.GetNamespace(), Name: u.GetName()}
				fromMemory, err := mem.Find(ctx, k.Kind, q)
				require.NoError(t, err)
				fromCache, err := w.Find(ctx, k.Kind, q)
				require.NoError(t, err)
				require.NotNil(t, fromMemory, "%s: the in-memory World finds it", by)
				require.NotNil(t, fromCache, "%s: the cache-backed World finds it", by)
				assert.Equal(t, 1, reflect.ValueOf(fromMemory).Len(), by)
				assert.Equal(t, reflect.TypeOf(fromMemory), reflect.TypeOf(fromCache), by)
				assert.Equal(t, rendered(t, fromMemory), rendered(t, fromCache), "%s: the same answer from what the cache keeps", by)

				miss := q
				miss.Name, miss.Namespace = "other", "other"
				got, err := w.Find(ctx, k.Kind, miss)
				require.NoError(t, err)
				assert.Nil(t, got, "%s: nothing else", by)
			}
			assert.Positive(t, looked, "a kind declares a lookup")
		})
	}
}

// rendered renders a World answer without what a typed kind's value carries
// but the rules do not read of it (its metadata's labels and annotations; the
// declared value types name theirs Labels and AllowedNamespaces) and the
// bookkeeping a cache adds.
func rendered(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(data, &out))
	var strip func(any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "resourceVersion")
			delete(v, "creationTimestamp")
			delete(v, "labels")
			delete(v, "annotations")
			for _, e := range v {
				strip(e)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(out)
	data, err = json.Marshal(out)
	require.NoError(t, err)
	return string(data)
}
