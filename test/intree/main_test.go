// Package intree proves the in-tree admission policies (`meshgate in-tree`)
// on the real API server: for every golden case whose rules have a complete
// in-tree form, the generated ValidatingAdmissionPolicies and
// MutatingAdmissionPolicies, applied to a kube-apiserver with the case's
// namespaces, must give the verdict, the messages, the warnings and the
// stored object that the golden want.yaml records for the engine (and that
// the webhook's own golden test holds it to): three-way parity. The known
// differences are listed, each with its reason, in divergences.yaml.
//
// One control plane (no meshgate: the policies alone) serves every case;
// TestWebhookWithTheInTreePolicies starts its own, with meshgate, to prove
// the two together.
// Without the control plane's binaries the tests fail; -short skips them.
package intree

import (
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/meshgate/meshgate/internal/testenv"
	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// k is the shared control plane.
var k *cluster.Cluster

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.MainOptions{
		Name: "intree",
		// The CRDs of the kinds the in-tree policies review.
		Cluster: cluster.Options{CRDDirs: []string{cluster.CRDDir("istio"), cluster.EmissaryCRDDir()}, NoMeshgate: true},
		Setup: func(c *cluster.Cluster) error {
			k = c
			return nil
		},
		Level: zapcore.ErrorLevel,
	})
}
