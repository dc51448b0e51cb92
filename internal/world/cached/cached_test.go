package cached

import (
	"context"
	"errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

// activate makes w hold kind k, served at gvk, as if its informer ran.
func activate(w *World, k kindSpec, gvk schema.GroupVersionKind) {
	w.specs = append(w.specs, k)
	w.setActive(k, gvk, true)
}

// serviceSpec is how the cache holds Services.
func serviceSpec() kindSpec {
	return kindSpec{kind: policy.KindService, gk: schema.GroupKind{Kind: "Service"}, decl: policy.Services}
}

// TestReadsServicesFromTheInformerStore: the Service informer's store holds
// summaries; the World hands out the Services they summarize, and reads the
// API server on a miss.
func TestReadsServicesFromTheInformerStore(t *testing.T) {
	http := "http"
	full := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "quote", Labels: map[string]string{"app": "quote"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.1", Selector: map[string]string{"app": "quote"},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, AppProtocol: &http}},
		},
	}
	summarized := world.SummarizeService(full).Service()
	late := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "late"}}
	tests := []struct {
		name      string
		stored    client.Object
		lookup    string
		want      *corev1.Service
		wantFound bool
		wantErr   string
	}{
		{name: "a summary is handed out as the Service it summarizes", stored: world.SummarizeService(full), lookup: "quote", want: summarized, wantFound: true},
		{name: "a miss is read from the API server", stored: world.SummarizeService(full), lookup: "late", want: late, wantFound: true},
		{name: "absent from both", stored: world.SummarizeService(full), lookup: "nope"},
		{name: "anything else in the store is an error", stored: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "quote"}}, lookup: "quote",
			wantErr: "the Service cache holds a *v1.Pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{})
			require.NoError(t, store.Add(tt.stored))
			w := New(missCache{}, nil, Options{Live: fake.NewClientBuilder().WithObjects(late).Build()})
			activate(w, serviceSpec(), corev1.SchemeGroupVersion.WithKind("Service"))
			w.stores[schema.GroupKind{Kind: "Service"}] = store

			got, found, err := policy.Get(context.Background(), w, policy.Services, "apps", tt.lookup)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantFound, found)
			if !found {
				return
			}
			assert.Equal(t, tt.want.Name, got.Name)
			assert.Equal(t, tt.want.Spec.Ports, got.Spec.Ports)
			assert.Equal(t, tt.want.Spec.Selector, got.Spec.Selector)
			assert.Equal(t, tt.want.Spec.Type, got.Spec.Type)
		})
	}
}

// missCache is a cache that holds nothing: every Get is NotFound (or fails
// with err), every List is empty (or fails with err).
type missCache struct {
	cache.Cache
	err error
}

func (c missCache) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if c.err != nil {
		return c.err
	}
	return apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, key.Name)
}

func (c missCache) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return c.err
}

// TestReadsLiveOnAMiss: an object the cache has not delivered yet is
// read from the API server; an absence is an absence only when the API server
// says so; a failed read is an error, never an absence.
func TestReadsLiveOnAMiss(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "reviews"}}
	failing := interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return errInjected
	}}
	tests := []struct {
		name      string
		cacheErr  error
		live      client.Reader
		key       string
		wantFound bool
		wantErr   error
	}{
		{name: "cache miss, API server has it", live: fake.NewClientBuilder().WithObjects(svc).Build(), key: "reviews", wantFound: true},
		{name: "cache miss, API server does not have it", live: fake.NewClientBuilder().Build(), key: "reviews"},
		{name: "cache miss, API server read fails", live: fake.NewClientBuilder().WithInterceptorFuncs(failing).Build(), key: "reviews", wantErr: errInjected},
		{name: "cache fails, API server has it", cacheErr: errors.New("cache broken"), live: fake.NewClientBuilder().WithObjects(svc).Build(), key: "reviews", wantFound: true},
		{name: "cache fails, no live reader", cacheErr: errInjected, key: "reviews", wantErr: errInjected},
		{name: "cache miss, no live reader", key: "reviews"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(missCache{err: tt.cacheErr}, nil, Options{Live: tt.live})
			activate(w, serviceSpec(), corev1.SchemeGroupVersion.WithKind("Service"))
			got, found, err := policy.Get(context.Background(), w, policy.Services, "apps", tt.key)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.False(t, found)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantFound, found)
			if tt.wantFound {
				assert.Equal(t, "reviews", got.Name)
			}
		})
	}
}

var errInjected = errors.New("injected: etcdserver: request timed out")
