// Package testenv is the TestMain of the test packages that share one local
// control plane (test/e2e/cluster): test/e2e, test/e2e/audit, test/faults and
// test/intree.
package testenv

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// MainOptions configure Main.
type MainOptions struct {
	// Name starts every line Main prints ("e2e", "faults").
	Name string
	// Cluster is the control plane to start.
	Cluster cluster.Options
	// Setup runs once the control plane is up, before the tests: it keeps the
	// cluster (the package's tests use it) and creates what they share.
	Setup func(*cluster.Cluster) error
	// LogEnv, when set in the environment, shows meshgate's and envtest's
	// logs; otherwise they are shown from Level up.
	LogEnv string
	Level  zapcore.Level
	// RunShort runs the tests in -short mode without a control plane (those
	// that need one skip themselves); otherwise -short skips the package.
	RunShort bool
}

// Main is the TestMain of a package whose tests share one control plane: it
// starts it (unless the tests are only listed, or -short), runs o.Setup and the
// tests, stops it and exits with the tests' code.
func Main(m *testing.M, o MainOptions) {
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // listing tests needs no control plane
	}
	if testing.Short() {
		fmt.Printf("%s: control-plane tests skipped in -short mode\n", o.Name)
		if o.RunShort {
			os.Exit(m.Run())
		}
		os.Exit(0)
	}
	os.Exit(run(m, o))
}

func run(m *testing.M, o MainOptions) int {
	if _, err := cluster.Assets(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: FAIL: %v\n", o.Name, err)
		return 1
	}
	if o.LogEnv != "" && os.Getenv(o.LogEnv) != "" {
		ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	} else {
		ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(o.Level)))
	}
	start := time.Now()
	k, err := cluster.Start(o.Cluster)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: FAIL: start the control plane: %v\n", o.Name, err)
		return 1
	}
	defer func() {
		if err := k.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: stop: %v\n", o.Name, err)
		}
	}()
	if err := o.Setup(k); err != nil {
		fmt.Fprintf(os.Stderr, "%s: FAIL: setup: %v\n", o.Name, err)
		return 1
	}
	fmt.Printf("%s: control plane ready in %s\n", o.Name, time.Since(start).Round(time.Millisecond))
	return m.Run()
}
