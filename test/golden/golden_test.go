package golden

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
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

// TestEveryRuleHasAGoldenCase: a registered rule acts (a finding or a change)
// in at least one case of the corpus, so every front door that runs the corpus
// tests it; a new rule is its file, its golden case and its docs section.
func TestEveryRuleHasAGoldenCase(t *testing.T) {
	cases, err := Load(CorpusDir())
	require.NoError(t, err)
	acted := map[string]bool{}
	for _, c := range cases {
		want, err := c.Want()
		require.NoError(t, err, c.Dir)
		for _, v := range want {
			for _, ch := range v.Changes {
				acted[ch.Rule] = true
			}
			for _, f := range v.Findings {
				acted[f.Rule] = true
			}
		}
	}
	require.NotEmpty(t, policy.Rules(), "the rules register themselves when the engine is linked in")
	for _, r := range policy.Rules() {
		assert.True(t, acted[r.ID], "rule %s acts in no case of %s: add one (make golden writes its want.yaml)", r.ID, CorpusDir())
	}
}
