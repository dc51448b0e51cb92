package webhook

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/meshgate/meshgate/internal/policy"
)

var errUnavailable = errors.New("injected: etcdserver: request timed out")

// brokenWorld knows namespaces and Services but cannot read them.
type brokenWorld struct{ policy.World }

func (brokenWorld) Namespace(context.Context, string) (policy.Namespace, bool, error) {
	return policy.Namespace{}, false, errUnavailable
}

func (brokenWorld) Has(policy.WorldKind) bool { return true }

func (brokenWorld) Complete(policy.WorldKind) bool { return true }

// TestUndecidableReviewFailsTheCall: when the World cannot answer, the HTTP
// call fails (503) so that the webhook's failurePolicy decides; it is never a
// verdict. Reviews that need no lookup are still answered.
func TestUndecidableReviewFailsTheCall(t *testing.T) {
	for _, dir := range []Direction{Mutating, Validating} {
		t.Run(string(dir), func(t *testing.T) {
			hook := failClosed(newHook(t, dir, HandlerOptions{World: brokenWorld{}}))
			body := reviewOf(t, objects(t, badPortService)[0], admissionv1.Create, "apps")
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			hook.ServeHTTP(rec, r)
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
			assert.Contains(t, rec.Body.String(), "could not read the cluster state it needs")
			assert.Contains(t, rec.Body.String(), errUnavailable.Error())

			cm := `
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: apps}`
			code, resp := post(t, hook, reviewOf(t, objects(t, cm)[0], admissionv1.Create, "apps"))
			assert.Equal(t, http.StatusOK, code)
			assert.True(t, resp.Allowed, "a kind without rules needs no lookup")
		})
	}
	t.Run("without failClosed it is an error response, not a verdict", func(t *testing.T) {
		code, resp := post(t, newHook(t, Validating, HandlerOptions{World: brokenWorld{}}),
			reviewOf(t, objects(t, badPortService)[0], admissionv1.Create, "apps"))
		assert.Equal(t, http.StatusOK, code)
		assert.False(t, resp.Allowed)
		assert.EqualValues(t, http.StatusServiceUnavailable, resp.Result.Code)
		assert.Equal(t, metav1.StatusReasonServiceUnavailable, resp.Result.Reason)
	})
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

// TestCacheWorldReadsLiveOnAMiss: an object the cache has not delivered yet is
// read from the API server; an absence is an absence only when the API server
// says so; a failed read is an error, never an absence.
func TestCacheWorldReadsLiveOnAMiss(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "reviews"}}
	failing := interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return errUnavailable
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
		{name: "cache miss, API server read fails", live: fake.NewClientBuilder().WithInterceptorFuncs(failing).Build(), key: "reviews", wantErr: errUnavailable},
		{name: "cache fails, API server has it", cacheErr: errors.New("cache broken"), live: fake.NewClientBuilder().WithObjects(svc).Build(), key: "reviews", wantFound: true},
		{name: "cache fails, no live reader", cacheErr: errUnavailable, key: "reviews", wantErr: errUnavailable},
		{name: "cache miss, no live reader", key: "reviews"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewCacheWorld(missCache{err: tt.cacheErr}, nil, CacheWorldOptions{Live: tt.live})
			w.setActive(kindSpec{kind: policy.KindService, gk: schema.GroupKind{Kind: "Service"}}, corev1.SchemeGroupVersion.WithKind("Service"), true)
			got, found, err := w.Service(context.Background(), "apps", tt.key)
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
