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
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// k is the shared control plane.
var k *cluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	if testing.Short() {
		fmt.Println("intree: skipped in -short mode (the tests need a control plane)")
		os.Exit(0)
	}
	if _, err := cluster.Assets(); err != nil {
		fmt.Fprintln(os.Stderr, "intree: FAIL:", err)
		os.Exit(1)
	}
	start := time.Now()
	var err error
	// The CRDs of the kinds the in-tree policies review.
	k, err = cluster.Start(cluster.Options{CRDDirs: []string{cluster.CRDDir("istio"), cluster.EmissaryCRDDir()}, NoMeshgate: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "intree: FAIL: start the control plane:", err)
		os.Exit(1)
	}
	fmt.Printf("intree: control plane ready in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if err := k.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "intree: stop:", err)
	}
	os.Exit(code)
}
