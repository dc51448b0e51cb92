package golden

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
)

// errInjected is what failingWorld answers to every lookup.
var errInjected = errors.New("injected: the API server is unavailable")

// failingWorld knows the same kinds as its inner World (so rules ask it) but
// fails every lookup, as a World whose cache and API server reads fail does.
type failingWorld struct{ inner policy.World }

func (f failingWorld) Find(context.Context, policy.WorldKind, policy.Query) (any, error) {
	return nil, errInjected
}

func (f failingWorld) Has(kind policy.WorldKind) bool { return f.inner.Has(kind) }

func (f failingWorld) Complete(kind policy.WorldKind) bool { return f.inner.Complete(kind) }

// TestFailingWorldNeverDecides reviews every input of the corpus against a
// World whose every lookup fails: a review either fails with a WorldError that
// carries the lookup's error, or its verdict did not depend on the World at
// all and is exactly the verdict with the real World. A failed read never
// becomes a denial, a warning or a skipped mutation.
func TestFailingWorldNeverDecides(t *testing.T) {
	failed := 0
	ForEach(t, func(t *testing.T, c Case, _ []Verdict) {
		_, want, err := c.Run()
		require.NoError(t, err)
		w, err := c.BuildWorld()
		require.NoError(t, err)
		e := engine.New(c.Config)
		for i, in := range c.Inputs {
			got, err := e.Review(context.Background(), engine.Input{Object: in}, failingWorld{inner: w})
			if err != nil {
				require.True(t, engine.IsWorldError(err), "input %d: %v", i, err)
				require.ErrorIs(t, err, errInjected, "input %d", i)
				failed++
				continue
			}
			require.Equal(t, want[i].Patch, got.Patch, "input %d: a verdict without the World must be the verdict with it", i)
			require.Equal(t, want[i].Findings, got.Findings, "input %d: a verdict without the World must be the verdict with it", i)
		}
	})
	require.Positive(t, failed, "some reviews of the corpus must need the World")
}

// TestCancelledReviewIsNoVerdict: a review whose context has ended (the API
// server gave up on the request) fails instead of deciding.
func TestCancelledReviewIsNoVerdict(t *testing.T) {
	cases, err := Load(CorpusDir())
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	c := cases[0]
	w, err := c.BuildWorld()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = engine.New(c.Config).Review(ctx, engine.Input{Object: c.Inputs[0]}, w)
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, engine.IsWorldError(err))
}
