package golden

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/meshgate/meshgate/internal/engine"
)

// TestEngineGolden runs the engine over the whole corpus: verdicts must match
// want.yaml, the patch must produce exactly the object the mutators produced,
// and a second review of the result must change nothing.
func TestEngineGolden(t *testing.T) {
	ForEach(t, func(t *testing.T, c Case, _ []Verdict) {
		verdicts, results, err := c.Run()
		require.NoError(t, err)
		require.NoError(t, c.Check(verdicts))

		w, err := c.BuildWorld()
		require.NoError(t, err)
		e := engine.New(c.Config)
		for i, res := range results {
			if res.Mutated != nil {
				require.JSONEq(t, normalize(t, res.Mutated), normalize(t, res.Object),
					"input %d: applying the patch must give the object the mutators produced", i)
			}
			again, err := e.Review(context.Background(), engine.Input{Object: res.Object}, w)
			require.NoError(t, err)
			require.Empty(t, again.Patch, "input %d: a second review must change nothing (idempotency)", i)
			require.Equal(t, res.Findings, again.Findings, "input %d: a second review must find the same", i)
		}
	})
}

// normalize renders an object as JSON after a round trip through its typed Go
// form when the kind has one, so defaulted-empty fields compare equal.
func normalize(t *testing.T, obj runtime.Object) string {
	t.Helper()
	if u, ok := obj.(*unstructured.Unstructured); ok {
		if typed, err := scheme.Scheme.New(u.GroupVersionKind()); err == nil {
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed))
			obj = typed
		} else {
			b, err := json.Marshal(u.Object)
			require.NoError(t, err)
			return string(b)
		}
	}
	b, err := json.Marshal(obj)
	require.NoError(t, err)
	return string(b)
}
