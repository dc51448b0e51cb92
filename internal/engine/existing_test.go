package engine_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
)

// TestUpdateKeepsWhatTheOldObjectHad: on an UPDATE, a finding the old object
// had too (same rule, same field) is a warning that says so; what the update
// adds is denied; with updates.allowExistingFindings off, and on CREATE,
// every finding counts.
func TestUpdateKeepsWhatTheOldObjectHad(t *testing.T) {
	w := ruletest.World(t, `
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}`)
	svc := func(labels, ports string) string {
		return `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: apps, labels: {` + labels + `}}
spec: {selector: {app: reviews}, ports: [` + ports + `]}`
	}
	const bad = `{name: web, port: 9080}`
	off, err := policy.ParseConfig([]byte("updates: {allowExistingFindings: false}"))
	require.NoError(t, err)
	tests := []struct {
		name         string
		cfg          *policy.Config
		op           policy.Operation
		old, new     string
		json         bool
		wantDenied   bool
		wantExisting []bool // per finding, in order
	}{
		{name: "an unrelated label on an object that had the finding is allowed with a warning",
			op: policy.Update, old: svc("", bad), new: svc("team: a", bad), wantExisting: []bool{true}},
		{name: "the old object as JSON works the same",
			op: policy.Update, old: svc("", bad), new: svc("team: a", bad), json: true, wantExisting: []bool{true}},
		{name: "a new bad port is denied, the old one stays a warning",
			op: policy.Update, old: svc("", bad), new: svc("", bad+`, {name: metrics, port: 9090}`), wantDenied: true, wantExisting: []bool{true, false}},
		{name: "the same rule on another field is new",
			op: policy.Update, old: svc("", `{name: http, port: 80}, `+bad), new: svc("", bad+`, {name: http, port: 80}`), wantDenied: true, wantExisting: []bool{false}},
		{name: "an old object without the finding does not excuse it",
			op: policy.Update, old: svc("", `{name: http, port: 9080}`), new: svc("", bad), wantDenied: true, wantExisting: []bool{false}},
		{name: "with the switch off every finding counts",
			cfg: off, op: policy.Update, old: svc("", bad), new: svc("team: a", bad), wantDenied: true, wantExisting: []bool{false}},
		{name: "a CREATE has no old object to compare with",
			op: policy.Create, old: svc("", bad), new: svc("", bad), wantDenied: true, wantExisting: []bool{false}},
		{name: "an UPDATE without an old object (meshgate check) counts every finding",
			op: policy.Update, new: svc("", bad), wantDenied: true, wantExisting: []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := engine.Input{Object: ruletest.Object(t, tc.new), Operation: tc.op}
			if tc.old != "" {
				old := ruletest.Object(t, tc.old)
				if tc.json {
					b, err := json.Marshal(old.Object)
					require.NoError(t, err)
					in.OldJSON = b
				} else {
					in.OldObject = old
				}
			}
			res, err := engine.New(tc.cfg).Review(context.Background(), in, w)
			require.NoError(t, err)
			assert.Equal(t, tc.wantDenied, res.Denied())
			require.Len(t, res.Findings, len(tc.wantExisting))
			for i, f := range res.Findings {
				assert.Equal(t, tc.wantExisting[i], f.Existing, "finding %d: %s", i, f)
				if f.Existing {
					assert.Equal(t, policy.Warn, f.Mode)
					assert.Contains(t, f.Message, policy.ExistingNote)
				} else {
					assert.Equal(t, policy.Enforce, f.Mode)
					assert.NotContains(t, f.Message, policy.ExistingNote)
				}
			}
		})
	}
}
