// Package faults drives meshgate through failures: bad input on its TLS
// port, serving-certificate rotation under load, a kube-apiserver restart
// while it runs, and meshgate itself gone while its webhooks stay registered.
// One local control plane (kube-apiserver and etcd through envtest, see
// test/e2e/cluster) serves the package; the tests that need their own
// meshgate start one against it, with a certificate directory and CA the
// test controls.
//
// Every load is bounded in requests and time and goes to 127.0.0.1 only.
// -short skips the tests that need the control plane, like test/e2e.
package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/testenv"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

// k is the shared control plane with meshgate registered (nil in -short
// mode).
var k *cluster.Cluster

const (
	ownNamespace      = "meshgate-system"
	ownServiceAccount = "meshgate"
	// meshNamespace has sidecar injection, so service-port-name checks it.
	meshNamespace = "apps"
	// deniedBy ends every denial of meshgate's validating webhooks.
	deniedBy = `validate.meshgate.io" denied the request: `
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.MainOptions{
		Name: "faults",
		Cluster: cluster.Options{
			CRDDirs: []string{cluster.CRDDir("istio"), cluster.EmissaryCRDDir()},
			Meshgate: webhook.Options{
				Namespace: ownNamespace, ServiceAccount: ownServiceAccount, CRDResync: 2 * time.Second,
			},
		},
		Setup: func(c *cluster.Cluster) error {
			k = c
			return setup()
		},
		// The bad input makes controller-runtime log errors on purpose.
		LogEnv: "FAULTS_LOG", Level: zapcore.DPanicLevel,
		RunShort: true,
	})
}

// needCluster skips t in -short mode.
func needCluster(t *testing.T) {
	t.Helper()
	if k == nil {
		t.Skip("needs the local control plane (not in -short mode)")
	}
}

const world = `
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: v1
kind: Namespace
metadata: {name: meshgate-system}
`

// setup creates the namespaces and waits until the API server calls
// meshgate: a Service with a bad port name in the mesh namespace is denied.
func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs, err := cluster.Decode(world)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := k.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("create %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	var last error
	for ctx.Err() == nil {
		svc, err := cluster.Decode(service(meshNamespace, "probe", "http2foo", nil))
		if err != nil {
			return err
		}
		last = k.Client.Create(ctx, svc[0], client.DryRunAll)
		if last != nil && strings.Contains(last.Error(), deniedBy) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("meshgate never denied a bad port name through the API server: %v", last)
}

// service is a Service manifest with one port named portName and labels.
func service(namespace, name, portName string, labels map[string]string) string {
	l := ""
	for k, v := range labels {
		l += fmt.Sprintf("%q: %q, ", k, v)
	}
	return fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s, labels: {%s}}
spec: {selector: {app: %s}, ports: [{name: %s, port: 9080}]}`, name, namespace, strings.TrimSuffix(l, ", "), name, portName)
}
