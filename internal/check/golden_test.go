package check

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/test/golden"
)

// TestGoldenParity runs the CLI's code path (files read and positioned by
// manifest, World built from the inputs plus the case's World files as --world, config.yaml as
// --config, parallel review) over the whole golden corpus: every case must give
// exactly the changes, findings and mutated objects of its want.yaml, as the
// engine and the webhook paths do.
func TestGoldenParity(t *testing.T) {
	golden.ForEach(t, func(t *testing.T, c golden.Case, want []golden.Verdict) {

		o := Options{Files: []string{filepath.Join(c.Dir, "input.yaml")}, KeepObjects: true, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
		o.WorldFiles = c.WorldFiles
		if cfg := filepath.Join(c.Dir, "config.yaml"); exists(cfg) {
			o.ConfigFile = cfg
		}
		require.NoError(t, o.defaults())
		res, err := Check(context.Background(), &o)
		require.NoError(t, err)
		require.Empty(t, res.Errors)
		require.Len(t, res.Objects, len(want), "one verdict per input object")

		got := make([]golden.Verdict, len(res.Objects))
		for i, r := range res.Objects {
			require.NotNil(t, r.Result)
			got[i] = golden.VerdictOf(r.Ref, r.Result)
			assert.Equal(t, golden.RefOf(r.Object.Object), r.Ref)
			// Every finding and change is placed in input.yaml.
			for _, f := range r.Findings {
				assert.Positive(t, f.Line, "finding %s %s has a line", f.Rule, f.Field)
			}
			for _, ch := range r.Changes {
				assert.Positive(t, ch.Line, "change %s %s has a line", ch.Rule, ch.Field)
			}
		}
		gotYAML, err := golden.Marshal(got)
		require.NoError(t, err)
		wantYAML, err := golden.Marshal(want)
		require.NoError(t, err)
		assert.Equal(t, string(wantYAML), string(gotYAML), "the CLI must give exactly want.yaml")
		checkCIFormats(t, res, o.WorkDir)
	})
}
