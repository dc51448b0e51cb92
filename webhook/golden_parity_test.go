package webhook

import (
	"encoding/json"
	"net/http"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/golden"
)

// TestGoldenParity runs every golden case through the real admission handlers
// over HTTP, the way the API server chains them: the mutating webhook's patch
// is applied to the submitted object, and the validating webhook reviews the
// result. The stored object must be want.yaml's mutated object, the warnings
// and the denial must carry exactly want.yaml's findings, and the engine-ops
// patch must give the same object as the PatchResponseFromRaw reference.
func TestGoldenParity(t *testing.T) {
	golden.ForEach(t, func(t *testing.T, c golden.Case, want []golden.Verdict) {
		require.Len(t, want, len(c.Inputs), "want.yaml has one verdict per input")
		w, err := c.BuildWorld()
		require.NoError(t, err)
		o := HandlerOptions{Config: c.Config, World: w}
		mutate := newHook(t, Mutating, o)
		validate := newHook(t, Validating, o)
		reference := diffHook(t, o)

		for i, in := range c.Inputs {
			v := want[i]
			ns := effectiveNamespace(in)
			body := reviewOf(t, in, admissionv1.Create, ns)

			code, mresp := post(t, mutate, body)
			require.Equal(t, http.StatusOK, code)
			require.True(t, mresp.Allowed, "input %d: the mutating webhook denies nothing: %v", i, mresp.Result)
			final := applyPatch(t, in, mresp)
			_, rresp := post(t, reference, body)
			require.JSONEq(t, normalize(t, applyPatch(t, in, rresp)), normalize(t, final),
				"input %d: the engine's ops and PatchResponseFromRaw must give the same object", i)
			if v.Mutated != nil {
				require.JSONEq(t, normalize(t, &unstructured.Unstructured{Object: v.Mutated}), normalize(t, final),
					"input %d: the stored object must be want.yaml's mutated object", i)
			} else {
				require.Empty(t, mresp.Patch, "input %d: want.yaml has no mutation", i)
			}

			ref := policy.ObjectRef{APIVersion: in.GetAPIVersion(), Kind: in.GetKind(), Namespace: ns, Name: in.GetName()}
			if ref.Name == "" {
				ref.Name = in.GetGenerateName()
			}
			var mutWarn, valWarn, deny []policy.Finding
			for _, f := range v.Findings {
				pf := policy.Finding{Rule: f.Rule, Mode: f.Mode, Object: ref, Field: f.Field, Message: f.Message}
				switch {
				case f.Mode == policy.Enforce:
					deny = append(deny, pf)
				case policy.IsMutation(f.Rule):
					mutWarn = append(mutWarn, pf)
				default:
					valWarn = append(valWarn, pf)
				}
			}
			assert.Equal(t, Warnings(mutWarn), mresp.Warnings, "input %d: mutating warnings", i)

			_, vresp := post(t, validate, reviewOf(t, final, admissionv1.Create, ns))
			assert.Equal(t, Warnings(valWarn), vresp.Warnings, "input %d: validating warnings", i)
			if len(deny) == 0 {
				assert.True(t, vresp.Allowed, "input %d: unexpected denial: %v", i, vresp.Result)
				continue
			}
			require.False(t, vresp.Allowed, "input %d: want a denial", i)
			assert.Equal(t, int32(http.StatusForbidden), vresp.Result.Code)
			assert.Equal(t, DenialMessage(deny), vresp.Result.Message, "input %d: denial message", i)
			assert.Len(t, vresp.Result.Details.Causes, len(deny))
		}
	})
}

func effectiveNamespace(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return ns
	}
	return "default"
}

// applyPatch applies the response's JSON patch (if any) to obj.
func applyPatch(t testing.TB, obj *unstructured.Unstructured, resp *admissionv1.AdmissionResponse) *unstructured.Unstructured {
	t.Helper()
	if len(resp.Patch) == 0 {
		return obj
	}
	require.NotNil(t, resp.PatchType)
	require.Equal(t, admissionv1.PatchTypeJSONPatch, *resp.PatchType)
	doc, err := json.Marshal(obj.Object)
	require.NoError(t, err)
	p, err := jsonpatch.DecodePatch(resp.Patch)
	require.NoError(t, err)
	out, err := p.Apply(doc)
	require.NoError(t, err, "patch %s", resp.Patch)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(out))
	return u
}

// normalize renders an object as JSON after a round trip through its typed Go
// form when the kind has one, so that defaulted-empty fields compare equal.
func normalize(t testing.TB, u *unstructured.Unstructured) string {
	t.Helper()
	var obj any = u.Object
	if typed, err := scheme.Scheme.New(u.GroupVersionKind()); err == nil {
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed))
		obj = typed
	}
	b, err := json.Marshal(obj)
	require.NoError(t, err)
	return string(b)
}
