package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
)

// reviewOf builds the AdmissionReview the API server would send for obj.
func reviewOf(t testing.TB, obj *unstructured.Unstructured, op admissionv1.Operation, namespace string) []byte {
	t.Helper()
	raw, err := json.Marshal(obj.Object)
	require.NoError(t, err)
	return reviewRaw(t, raw, obj.GroupVersionKind(), op, namespace, "jane")
}

func reviewRaw(t testing.TB, raw []byte, gvk schema.GroupVersionKind, op admissionv1.Operation, namespace, user string) []byte {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("0d7a6f64-3b8c-4a0b-9d39-3f0c3b0f5c11"),
		Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Operation: op,
		Namespace: namespace,
		UserInfo:  authenticationv1.UserInfo{Username: user},
		Object:    runtime.RawExtension{Raw: raw},
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	require.NoError(t, err)
	return body
}

// post sends body to hook over HTTP the way the API server does and decodes
// the answer.
func post(t testing.TB, hook http.Handler, body []byte) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	hook.ServeHTTP(rec, r)
	var review admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &review), "body: %s", rec.Body.String())
	require.NotNil(t, review.Response, "body: %s", rec.Body.String())
	return rec.Code, review.Response
}

// newHook returns the handler for dir wrapped as the server wraps it.
func newHook(t testing.TB, dir Direction, o HandlerOptions) *admission.Webhook {
	t.Helper()
	h, err := NewHandler(dir, o)
	require.NoError(t, err)
	return &admission.Webhook{Handler: h}
}

// diffHook is the reference mutating webhook: it reviews the object with the
// engine and answers with admission.PatchResponseFromRaw's diff of the
// submitted and the final documents, the way a webhook without its own patch
// operations would. The real handler's patch must give the same object.
func diffHook(t testing.TB, o HandlerOptions) *admission.Webhook {
	t.Helper()
	require.NotNil(t, o.World)
	e := engine.New(o.Config)
	return &admission.Webhook{Handler: admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		obj, err := decodeObject(req)
		if err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		res, err := e.Review(ctx, engine.Input{Object: obj, Namespace: req.Namespace, Operation: policy.Operation(req.Operation)}, o.World)
		if err != nil {
			return admission.Errored(http.StatusUnprocessableEntity, err)
		}
		if !res.Changed() {
			return admission.Allowed("")
		}
		final, err := json.Marshal(res.Object.Object)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		return admission.PatchResponseFromRaw(req.Object.Raw, final)
	})}
}

// objects decodes a multi-document YAML string.
func objects(t testing.TB, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	out := make([]*unstructured.Unstructured, 0, len(docs))
	for _, d := range docs {
		m := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(d), &m))
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}
