package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshgate/meshgate/internal/benchdata"
	"github.com/meshgate/meshgate/internal/engine"
)

func TestEncodePatchMatchesJSONMarshal(t *testing.T) {
	tests := []struct {
		name string
		ops  []jsonpatch.Operation
	}{
		{"no operations", []jsonpatch.Operation{}},
		{"add of a string", []jsonpatch.Operation{jsonpatch.NewOperation("add", "/metadata/annotations/a~1b", "x")}},
		{"add and replace of nil carry null", []jsonpatch.Operation{
			jsonpatch.NewOperation("add", "/spec/x", nil), jsonpatch.NewOperation("replace", "/spec/y", nil),
		}},
		{"remove without a value omits it", []jsonpatch.Operation{{Operation: "remove", Path: "/spec/x"}}},
		{"characters JSON escapes for HTML", []jsonpatch.Operation{jsonpatch.NewOperation("add", "/metadata/annotations/<&>", `{"a":"<b>&"}`)}},
		{"typed values", []jsonpatch.Operation{
			jsonpatch.NewOperation("add", "/spec/volumes/-", corev1.Volume{Name: "istio-certs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}),
			jsonpatch.NewOperation("add", "/spec/containers/0/env", []any{corev1.EnvVar{Name: "A", Value: "b"}}),
			jsonpatch.NewOperation("add", "/spec/containers/0/resources/limits", map[string]any{"cpu": resource.MustParse("100m")}),
		}},
		{"unstructured values", []jsonpatch.Operation{
			jsonpatch.NewOperation("add", "/spec/port", int64(80)),
			jsonpatch.NewOperation("replace", "/spec/tls", map[string]any{"b": []any{1.5, true, nil}, "a": "x"}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.ops)
			require.NoError(t, err)
			got, err := encodePatch(tt.ops)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestEncodePatchReportsAValueThatDoesNotEncode(t *testing.T) {
	_, err := encodePatch([]jsonpatch.Operation{jsonpatch.NewOperation("add", "/x", func() {})})
	require.ErrorContains(t, err, "add /x")
}

// BenchmarkEncodePatch compares encodePatch with json.Marshal of the same
// operations: the engine's patch of the benchmarks' Emissary pod.
func BenchmarkEncodePatch(b *testing.B) {
	w, err := benchdata.World()
	require.NoError(b, err)
	pod, err := benchdata.Object(benchdata.EmissaryPod)
	require.NoError(b, err)
	res, err := engine.New(nil).Review(context.Background(), engine.Input{Object: pod, PatchOnly: true}, w)
	require.NoError(b, err)
	require.NotEmpty(b, res.Patch)
	for _, v := range []struct {
		name   string
		encode func([]jsonpatch.Operation) ([]byte, error)
	}{
		{"encodePatch", encodePatch},
		{"json.Marshal", func(ops []jsonpatch.Operation) ([]byte, error) { return json.Marshal(ops) }},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.encode(res.Patch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
