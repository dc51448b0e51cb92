package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// TestDemoOneShot runs `make demo` one-shot against the real examples, so the
// demo cannot rot: it must show the pod wiring as a diff and at least one
// rejection with meshgate's message. It needs the local control plane (fails
// without it; -short skips it).
func TestDemoOneShot(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo needs a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, &out, options{examples: filepath.Join(cluster.RepoRoot(), "examples"), oneshot: true})
	require.NoError(t, err, out.String())
	s := out.String()
	assert.Contains(t, s, "changed by meshgate:")
	assert.Contains(t, s, "+++ as stored")
	assert.Contains(t, s, "+    - name: AMBASSADOR_ISTIO_SECRET_DIR", "the Emissary pod's wiring is shown as a diff")
	assert.Regexp(t, `ReplicaSet emissary/emissary-ingress-[a-z0-9]+ created 2 pod\(s\) for Deployment emissary/emissary-ingress`, s,
		"the Emissary pods come from the Deployment's ReplicaSet")
	assert.Contains(t, s, "requested by system:serviceaccount:kube-system:replicaset-controller, changed by meshgate:",
		"the controller's own identity creates them, and meshgate wires them")
	assert.Contains(t, s, "stay Pending")
	assert.NotContains(t, s, "+  name: emissary-ingress-", "the name the API server gives after admission is not meshgate's change")
	assert.NotContains(t, s, "no pod within")
	assert.Contains(t, s, "✗ REJECTED")
	assert.Contains(t, s, `validate.meshgate.io" denied the request: [`)
	assert.NotContains(t, s, "could not create")
	assert.NotContains(t, s, "clusterIP", "allocation noise stays out of the diffs")
	assert.NotContains(t, s, "KUBECONFIG", "one-shot does not wait for the user")
}
