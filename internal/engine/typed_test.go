package engine_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	sigsjson "sigs.k8s.io/json"

	"github.com/meshgate/meshgate/internal/benchdata"
	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/golden"
)

var (
	podGVK     = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	serviceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
)

func TestDecodeTyped(t *testing.T) {
	e := engine.New(nil)
	tests := []struct {
		name     string
		raw      string
		gvk      schema.GroupVersionKind
		wantType any
	}{
		{"a pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c"}]}}`, podGVK, &corev1.Pod{}},
		{"a service", `{"apiVersion":"v1","kind":"Service","spec":{"ports":[{"port":80}]}}`, serviceGVK, &corev1.Service{}},
		{"an object without apiVersion and kind takes the request's", ` {"metadata":{"name":"a"}}`, podGVK, &corev1.Pod{}},
		{"a kind whose rules take unstructured objects", `{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping"}`,
			schema.GroupVersionKind{Group: "getambassador.io", Version: "v3alpha1", Kind: "Mapping"}, nil},
		{"a workload whose template the pod rules review", `{"apiVersion":"apps/v1","kind":"Deployment"}`,
			schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, nil},
		{"a kind without rules", `{"apiVersion":"v1","kind":"ConfigMap"}`, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, nil},
		{"null", `null`, podGVK, nil},
		{"a list", `[]`, podGVK, nil},
		{"no object", ``, podGVK, nil},
		{"broken JSON", `{"metadata":`, podGVK, nil},
		{"a field of another JSON type", `{"spec":{"containers":"x"}}`, podGVK, nil},
		{"a float where an integer belongs", `{"spec":{"ports":[{"port":80.0}]}}`, serviceGVK, nil},
		{"an object that states another kind", `{"apiVersion":"v1","kind":"Service"}`, podGVK, nil},
		{"an object that states another version", `{"apiVersion":"v2","kind":"Pod"}`, podGVK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := e.DecodeTyped([]byte(tt.raw), tt.gvk)
			if tt.wantType == nil {
				assert.False(t, ok)
				assert.Nil(t, got)
				return
			}
			require.True(t, ok)
			assert.IsType(t, tt.wantType, got)
			assert.Equal(t, tt.gvk, got.GetObjectKind().GroupVersionKind())
		})
	}
}

func TestDecodeTypedLeavesOutManagedFields(t *testing.T) {
	raw := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"app":"b"},` +
		`"managedFields":[{"manager":"kubectl","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{}}}],` +
		`"annotations":{"c":"d"}},"spec":{"containers":[{"name":"c"}]}}`
	got, ok := engine.New(nil).DecodeTyped([]byte(raw), podGVK)
	require.True(t, ok)
	pod := got.(*corev1.Pod)
	assert.Empty(t, pod.ManagedFields)
	assert.Equal(t, "a", pod.Name)
	assert.Equal(t, map[string]string{"app": "b"}, pod.Labels)
	assert.Equal(t, map[string]string{"c": "d"}, pod.Annotations)
	assert.Equal(t, "c", pod.Spec.Containers[0].Name)
}

// TestTypedReviewMatchesUnstructured reviews every Pod and Service of the
// golden corpus both ways, as the admission server may: decoded straight into
// its Go type, and as an unstructured object. The verdicts must be the same.
func TestTypedReviewMatchesUnstructured(t *testing.T) {
	cases, err := golden.Load(golden.CorpusDir())
	require.NoError(t, err)
	typed := 0
	for _, c := range cases {
		w, err := c.BuildWorld()
		require.NoError(t, err)
		e := engine.New(c.Config)
		for _, in := range c.Inputs {
			raw, err := json.Marshal(in.Object)
			require.NoError(t, err)
			if !assertSameReview(t, e, w, raw, in.GroupVersionKind(), c.Name) {
				continue
			}
			typed++
		}
	}
	assert.Greater(t, typed, 20, "the corpus's Pods and Services are reviewed typed")

	// Objects as kube-apiserver sends them: defaulted, with managedFields.
	w, err := benchdata.World()
	require.NoError(t, err)
	for _, name := range []string{benchdata.EmissaryPod, benchdata.OrdinaryPod, benchdata.Service} {
		raw := benchRaw(t, name)
		assert.True(t, assertSameReview(t, engine.New(nil), w, raw, podOrService(name), name), "%s is reviewed typed", name)
	}
}

func benchRaw(t testing.TB, name string) []byte {
	t.Helper()
	obj, err := benchdata.Object(name)
	require.NoError(t, err)
	raw, err := json.Marshal(obj.Object)
	require.NoError(t, err)
	return raw
}

func podOrService(name string) schema.GroupVersionKind {
	if name == benchdata.Service {
		return serviceGVK
	}
	return podGVK
}

// FuzzTypedReview: for any object DecodeTyped reads, the typed review and the
// unstructured one agree.
func FuzzTypedReview(f *testing.F) {
	cases, err := golden.Load(golden.CorpusDir())
	require.NoError(f, err)
	for _, c := range cases {
		for _, in := range c.Inputs {
			raw, err := json.Marshal(in.Object)
			require.NoError(f, err)
			f.Add(raw, in.GetKind() == "Service")
		}
	}
	for _, name := range []string{benchdata.EmissaryPod, benchdata.OrdinaryPod, benchdata.Service} {
		f.Add(benchRaw(f, name), name == benchdata.Service)
	}
	f.Add([]byte(`{"metadata":{"labels":{"product":"aes","profile":"main"}},"spec":{"containers":[{"name":"x","env":null}]}}`), false)
	w, err := benchdata.World()
	require.NoError(f, err)
	e := engine.New(nil)
	f.Fuzz(func(t *testing.T, raw []byte, service bool) {
		gvk := podGVK
		if service {
			gvk = serviceGVK
		}
		assertSameReview(t, e, w, raw, gvk, "fuzz")
	})
}

// assertSameReview reviews raw typed (when DecodeTyped reads it) and
// unstructured, and asserts the verdicts agree; it reports whether raw was
// read typed.
func assertSameReview(t *testing.T, e *engine.Engine, w policy.World, raw []byte, gvk schema.GroupVersionKind, name string) bool {
	t.Helper()
	typed, ok := e.DecodeTyped(raw, gvk)
	if !ok {
		return false
	}
	if strict, err := sigsjson.UnmarshalStrict(raw, &map[string]any{}, sigsjson.DisallowDuplicateFields); err == nil && len(strict) > 0 {
		// A key repeated within an object (kube-apiserver never sends one)
		// reads differently into a struct and a map: see DecodeTyped.
		return true
	}
	m := map[string]any{}
	require.NoError(t, utiljson.Unmarshal(raw, &m), "%s: DecodeTyped read what is not a JSON object", name)
	u := &unstructured.Unstructured{Object: m}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		u.SetAPIVersion(gvk.GroupVersion().String())
		u.SetKind(gvk.Kind)
	}
	ctx := context.Background()
	want, werr := e.Review(ctx, engine.Input{Object: u, Namespace: "apps", PatchOnly: true}, w)
	got, gerr := e.Review(ctx, engine.Input{Typed: typed, Namespace: "apps", PatchOnly: true}, w)
	require.NoError(t, gerr, "%s: the typed review fails", name)
	require.NoError(t, werr, "%s: the unstructured review fails where the typed one does not", name)
	assert.Equal(t, want.Changes, got.Changes, "%s: changes", name)
	assert.Equal(t, want.Findings, got.Findings, "%s: findings", name)
	wantPatch, err := json.Marshal(want.Patch)
	require.NoError(t, err)
	gotPatch, err := json.Marshal(got.Patch)
	require.NoError(t, err)
	assert.JSONEq(t, string(wantPatch), string(gotPatch), "%s: patch", name)
	if want.Mutated != nil {
		// The typed decode leaves out managedFields, which no rule reads.
		want.Mutated.(metav1.Object).SetManagedFields(nil)
	}
	assert.Equal(t, want.Mutated, got.Mutated, "%s: mutated object", name)
	assert.Nil(t, got.Object, "%s: a typed review builds no final object", name)
	if got.Mutated != nil {
		assert.Same(t, typed, got.Mutated, "%s: the mutations change the typed input in place", name)
	}
	return true
}
