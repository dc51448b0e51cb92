package webhook

import (
	"context"
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

// TestCacheWorldReadsServicesFromTheInformerStore: the Service informer's
// store holds summaries (or, with whole objects cached, Services); the World
// hands out Services either way, and reads the API server on a miss.
func TestCacheWorldReadsServicesFromTheInformerStore(t *testing.T) {
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
		{name: "a whole Service is handed out as it is", stored: full, lookup: "quote", want: full, wantFound: true},
		{name: "a miss is read from the API server", stored: world.SummarizeService(full), lookup: "late", want: late, wantFound: true},
		{name: "absent from both", stored: world.SummarizeService(full), lookup: "nope"},
		{name: "anything else in the store is an error", stored: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "quote"}}, lookup: "quote",
			wantErr: "the Service cache holds a *v1.Pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{})
			require.NoError(t, store.Add(tt.stored))
			w := NewCacheWorld(missCache{}, nil, CacheWorldOptions{Live: fake.NewClientBuilder().WithObjects(late).Build()})
			w.setActive(kindSpec{kind: policy.KindService, gk: schema.GroupKind{Kind: "Service"}}, corev1.SchemeGroupVersion.WithKind("Service"), true)
			w.services = store

			got, found, err := w.Service(context.Background(), "apps", tt.lookup)
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
