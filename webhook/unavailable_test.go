package webhook

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/internal/policy"
)

var errUnavailable = errors.New("injected: etcdserver: request timed out")

// brokenWorld knows namespaces and Services but cannot read them.
type brokenWorld struct{ policy.World }

func (brokenWorld) Find(context.Context, policy.WorldKind, policy.Query) (any, error) {
	return nil, errUnavailable
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
