package policy

import (
	"encoding/json"
	"testing"

	evanphx "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFieldPointer(t *testing.T) {
	annotations := field.NewPath("metadata", "annotations")
	tests := []struct {
		name string
		fld  *field.Path
		want string
	}{
		{"nil path is the whole document", nil, ""},
		{"one field name", field.NewPath("spec"), "/spec"},
		{"nested field names", field.NewPath("spec", "template", "spec"), "/spec/template/spec"},
		{"list index", field.NewPath("spec", "ports").Index(0).Child("name"), "/spec/ports/0/name"},
		{"consecutive indexes", field.NewPath("spec", "matrix").Index(12).Index(3), "/spec/matrix/12/3"},
		{"map key with dots and a slash", annotations.Key("sidecar.istio.io/inject"), "/metadata/annotations/sidecar.istio.io~1inject"},
		{"map key with a tilde", annotations.Key("a~b"), "/metadata/annotations/a~0b"},
		{"tilde before slash escapes each once", annotations.Key("~/"), "/metadata/annotations/~0~1"},
		{"escape sequence as text is escaped again", annotations.Key("~1"), "/metadata/annotations/~01"},
		{"empty map key", annotations.Key(""), "/metadata/annotations/"},
		{"map key that reads as a number", annotations.Key("3"), "/metadata/annotations/3"},
		{"map key with '['", annotations.Key("a[b"), "/metadata/annotations/a[b"},
		{"field after a map key", field.NewPath("data").Key("x/y").Child("z"), "/data/x~1y/z"},
		{"field after an index", field.NewPath("spec", "containers").Index(1).Child("env").Index(0).Child("value"), "/spec/containers/1/env/0/value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, FieldPointer(tc.fld))
		})
	}
}

func TestFieldPointerKeyAndChildAgree(t *testing.T) {
	// An unstructured field (spec.tls) and a map key (spec[tls]) are the same
	// JSON member.
	assert.Equal(t, FieldPointer(field.NewPath("spec", "tls")), FieldPointer(field.NewPath("spec").Key("tls")))
}

func TestFieldPointerPanicsOnUnreadableKey(t *testing.T) {
	for _, key := range []string{"a].b", "a]b", "]"} {
		t.Run(key, func(t *testing.T) {
			assert.Panics(t, func() { FieldPointer(field.NewPath("metadata", "annotations").Key(key)) })
		})
	}
}

// TestChangeHelpers checks that every helper records fld as the change's Field
// and the operation at fld's pointer, and that the operations, applied in order
// as a JSON patch, make the object the in-place edits make.
func TestChangeHelpers(t *testing.T) {
	annotations := field.NewPath("metadata", "annotations")
	volumes := field.NewPath("spec", "volumes")
	tests := []struct {
		name      string
		submitted string
		record    func(r *Report)
		wantField []string
		wantOps   []jsonpatch.Operation
		wantDoc   string
	}{
		{
			name:      "Add creates an absent member",
			submitted: `{"spec":{"service":"quote"}}`,
			record:    func(r *Report) { r.Add("rule", field.NewPath("spec", "tls"), "istio-upstream", "why") },
			wantField: []string{"spec.tls"},
			wantOps:   []jsonpatch.Operation{{Operation: "add", Path: "/spec/tls", Value: "istio-upstream"}},
			wantDoc:   `{"spec":{"service":"quote","tls":"istio-upstream"}}`,
		},
		{
			name:      "Replace sets an existing list item's field",
			submitted: `{"spec":{"ports":[{"port":80},{"port":81,"name":"x"}]}}`,
			record: func(r *Report) {
				r.Replace("rule", field.NewPath("spec", "ports").Index(1).Child("name"), "http", "why")
			},
			wantField: []string{"spec.ports[1].name"},
			wantOps:   []jsonpatch.Operation{{Operation: "replace", Path: "/spec/ports/1/name", Value: "http"}},
			wantDoc:   `{"spec":{"ports":[{"port":80},{"port":81,"name":"http"}]}}`,
		},
		{
			name:      "Append creates an absent list, then adds at its end",
			submitted: `{"spec":{}}`,
			record: func(r *Report) {
				r.Append("rule", volumes, 0, map[string]any{"name": "a"}, "why")
				r.Append("rule", volumes, 1, map[string]any{"name": "b"}, "why")
			},
			wantField: []string{"spec.volumes", "spec.volumes"},
			wantOps: []jsonpatch.Operation{
				{Operation: "add", Path: "/spec/volumes", Value: []any{map[string]any{"name": "a"}}},
				{Operation: "add", Path: "/spec/volumes/-", Value: map[string]any{"name": "b"}},
			},
			wantDoc: `{"spec":{"volumes":[{"name":"a"},{"name":"b"}]}}`,
		},
		{
			name:      "Append replaces an empty list",
			submitted: `{"spec":{"volumes":[]}}`,
			record:    func(r *Report) { r.Append("rule", volumes, 0, "x", "why") },
			wantField: []string{"spec.volumes"},
			wantOps:   []jsonpatch.Operation{{Operation: "add", Path: "/spec/volumes", Value: []any{"x"}}},
			wantDoc:   `{"spec":{"volumes":["x"]}}`,
		},
		{
			name:      "SetKey creates an absent map",
			submitted: `{"metadata":{}}`,
			record: func(r *Report) {
				r.SetKey("rule", annotations, nil, "sidecar.istio.io/inject", "false", "why")
			},
			wantField: []string{"metadata.annotations[sidecar.istio.io/inject]"},
			wantOps:   []jsonpatch.Operation{{Operation: "add", Path: "/metadata/annotations", Value: map[string]any{"sidecar.istio.io/inject": "false"}}},
			wantDoc:   `{"metadata":{"annotations":{"sidecar.istio.io/inject":"false"}}}`,
		},
		{
			name:      "SetKey adds a key with a slash and a tilde",
			submitted: `{"metadata":{"annotations":{"a":"1"}}}`,
			record: func(r *Report) {
				r.SetKey("rule", annotations, map[string]string{"a": "1"}, "x/~y", "", "why")
			},
			wantField: []string{"metadata.annotations[x/~y]"},
			wantOps:   []jsonpatch.Operation{{Operation: "add", Path: "/metadata/annotations/x~1~0y", Value: ""}},
			wantDoc:   `{"metadata":{"annotations":{"a":"1","x/~y":""}}}`,
		},
		{
			name:      "SetKey replaces an existing key",
			submitted: `{"metadata":{"annotations":{"a/b":"1"}}}`,
			record: func(r *Report) {
				r.SetKey("rule", annotations, map[string]string{"a/b": "1"}, "a/b", "2", "why")
			},
			wantField: []string{"metadata.annotations[a/b]"},
			wantOps:   []jsonpatch.Operation{{Operation: "replace", Path: "/metadata/annotations/a~1b", Value: "2"}},
			wantDoc:   `{"metadata":{"annotations":{"a/b":"2"}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Report{Object: ObjectRef{Kind: "Pod", Name: "p"}}
			tc.record(&r)
			var fields []string
			for _, c := range r.Changes {
				fields = append(fields, c.Field)
				assert.Equal(t, "rule", c.Rule)
				assert.Equal(t, "why", c.Reason)
				assert.Equal(t, r.Object, c.Object)
			}
			assert.Equal(t, tc.wantField, fields)
			assert.Equal(t, tc.wantOps, r.Ops())

			raw, err := json.Marshal(r.Ops())
			require.NoError(t, err)
			patch, err := evanphx.DecodePatch(raw)
			require.NoError(t, err)
			got, err := patch.Apply([]byte(tc.submitted))
			require.NoError(t, err, "patch %s", raw)
			assert.JSONEq(t, tc.wantDoc, string(got))
		})
	}
}

func TestOpsEncodeEmptyStringValues(t *testing.T) {
	// An annotation set to "" must keep its value in the encoded patch.
	r := Report{}
	r.Add("rule", field.NewPath("metadata", "annotations").Key("k"), "", "why")
	raw, err := json.Marshal(r.Ops())
	require.NoError(t, err)
	assert.JSONEq(t, `[{"op":"add","path":"/metadata/annotations/k","value":""}]`, string(raw))
}
