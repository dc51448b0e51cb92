package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
)

// TestSuppressedFindingsDoNotDeny: a suppression keeps the finding, marked
// suppressed, and the object is no longer denied; objects it does not match
// still are.
func TestSuppressedFindingsDoNotDeny(t *testing.T) {
	cfg, err := policy.ParseConfig([]byte(`suppressions: [{rule: service-port-name, selector: {matchLabels: {legacy: "true"}}}]`))
	require.NoError(t, err)
	eng := engine.New(cfg)
	w := ruletest.World(t, `
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}`)
	svc := func(labels string) string {
		return `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: apps, labels: {` + labels + `}}
spec: {selector: {app: reviews}, ports: [{name: http2foo, port: 9080}]}`
	}
	tests := []struct {
		name       string
		labels     string
		wantDenied bool
		wantMode   policy.Mode
	}{
		{"a matching object is not denied, its finding is suppressed", `legacy: "true"`, false, policy.Suppressed},
		{"another object is denied as before", `legacy: "false"`, true, policy.Enforce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := eng.Review(context.Background(), engine.Input{Object: ruletest.Object(t, svc(tc.labels))}, w)
			require.NoError(t, err)
			assert.Equal(t, tc.wantDenied, res.Denied())
			require.Len(t, res.Findings, 1)
			assert.Equal(t, tc.wantMode, res.Findings[0].Mode)
		})
	}
}
