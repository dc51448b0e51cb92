package webhook

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshgate/meshgate/internal/policy"
)

// updateOf is reviewOf for an UPDATE of old to obj.
func updateOf(t *testing.T, old, obj *unstructured.Unstructured, namespace string) []byte {
	t.Helper()
	var review admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(reviewOf(t, obj, admissionv1.Update, namespace), &review))
	raw, err := json.Marshal(old.Object)
	require.NoError(t, err)
	review.Request.OldObject = runtime.RawExtension{Raw: raw}
	body, err := json.Marshal(review)
	require.NoError(t, err)
	return body
}

// TestHandlerUpdateAllowsWhatTheOldObjectHad: the validating webhook reads
// the request's oldObject; a finding the old object had too is a warning
// that says so, what the update adds is denied, and with
// updates.allowExistingFindings off every finding denies.
func TestHandlerUpdateAllowsWhatTheOldObjectHad(t *testing.T) {
	labelled := func(doc string) *unstructured.Unstructured {
		o := objects(t, doc)[0]
		o.SetLabels(map[string]string{"team": "reviews"})
		return o
	}
	withPort := func(doc string) *unstructured.Unstructured {
		o := objects(t, doc)[0]
		ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
		require.NoError(t, unstructured.SetNestedSlice(o.Object, append(ports, map[string]any{"name": "metrics", "port": int64(9090)}), "spec", "ports"))
		return o
	}
	off, err := policy.ParseConfig([]byte("updates: {allowExistingFindings: false}"))
	require.NoError(t, err)
	tests := []struct {
		name        string
		cfg         *policy.Config
		old         string
		new         *unstructured.Unstructured
		wantAllowed bool
		wantWarning string
		wantDenial  string
	}{
		{name: "a label on a Service that already had a bad port name is allowed with a warning",
			old: badPortService, new: labelled(badPortService), wantAllowed: true,
			wantWarning: "[service-port-name] Service apps/reviews: spec.ports[0].name: port name \"http2foo\""},
		{name: "the object as stored (the mutation would name the port) is compared with the old one",
			old: unnamedPortService, new: labelled(unnamedPortService), wantAllowed: true,
			wantWarning: "[service-port-name] Service apps/productpage: spec.ports[0].name: port 80 has no name"},
		{name: "a new bad port is denied",
			old: badPortService, new: withPort(badPortService), wantDenial: "spec.ports[1].name",
			wantWarning: "spec.ports[0].name"},
		{name: "with the switch off the old finding denies",
			cfg: off, old: badPortService, new: labelled(badPortService), wantDenial: "spec.ports[0].name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hook := newHook(t, Validating, HandlerOptions{World: defaultWorld(t), Config: tc.cfg})
			_, resp := post(t, hook, updateOf(t, objects(t, tc.old)[0], tc.new, "apps"))
			assert.Equal(t, tc.wantAllowed, resp.Allowed, "%v", resp.Result)
			if tc.wantDenial != "" {
				assert.Contains(t, resp.Result.Message, tc.wantDenial)
				assert.NotContains(t, resp.Result.Message, policy.ExistingNote, "the denial lists only what the update adds")
			}
			if tc.wantWarning == "" {
				assert.Empty(t, resp.Warnings)
				return
			}
			require.Len(t, resp.Warnings, 1)
			assert.Contains(t, resp.Warnings[0], tc.wantWarning)
			assert.Contains(t, resp.Warnings[0], policy.ExistingNote)
		})
	}
}
