// Package e2e drives meshgate through a real kube-apiserver and etcd
// (controller-runtime envtest): meshgate's webhooks are registered with the
// API server by URL, and every assertion is on what the API server stored or
// returned. One control plane and one meshgate serve the whole package.
//
// The binaries come from $KUBEBUILDER_ASSETS (else bin/k8s), the CRDs from
// $MESHGATE_CRDS (else bin/crds) and test/crds/emissary; `make test` builds
// them first. Without them the tests fail; -short skips them.
package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/testenv"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

// k is the shared control plane with meshgate registered.
var k *cluster.Cluster

// meshgate's own namespace and service account in the tests.
const (
	ownNamespace      = "meshgate-system"
	ownServiceAccount = "meshgate"
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.MainOptions{
		Name: "e2e",
		// The Gateway API CRDs are installed later, by
		// TestGatewayAPICRDInstalledAfterStart, to prove meshgate picks them up.
		Cluster: cluster.Options{
			CRDDirs: []string{cluster.CRDDir("istio"), cluster.CRDDir("cert-manager"), cluster.EmissaryCRDDir()},
			Meshgate: webhook.Options{
				Namespace: ownNamespace, ServiceAccount: ownServiceAccount, CRDResync: 2 * time.Second,
			},
		},
		Setup: func(c *cluster.Cluster) error {
			k = c
			return setup()
		},
		LogEnv: "E2E_LOG", Level: zapcore.ErrorLevel,
	})
}

// world is what the rules consult, created before the tests.
const world = `
apiVersion: v1
kind: Namespace
metadata: {name: emissary, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ambient-apps, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-ingress}
---
apiVersion: v1
kind: Namespace
metadata: {name: web, labels: {shared-gateway-access: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: meshgate-system, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: quote, namespace: apps}
spec:
  selector: {app: quote}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: {name: istio-upstream, namespace: emissary}
spec: {secret: istio-certs, alpn_protocols: istio}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-ingressgateway, namespace: istio-ingress}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
`

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
	// The webhooks are live once the API server calls them, and the World
	// holds the objects above once a Mapping to quote.apps gets its TLS.
	probe, err := cluster.Decode(`
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: probe, namespace: emissary}
spec: {prefix: /probe/, service: quote.apps}`)
	if err != nil {
		return err
	}
	var last error
	for ctx.Err() == nil {
		m := probe[0].DeepCopy()
		last = k.Client.Create(ctx, m, client.DryRunAll)
		if last == nil {
			if tls, _, _ := unstructured.NestedString(m.Object, "spec", "tls"); tls == "istio-upstream" {
				return nil
			}
			last = fmt.Errorf("the probe Mapping was not mutated: %v", m.Object["spec"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("meshgate never answered the API server: %w", last)
}

// get reads the stored object like u.
func get(t *testing.T, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	t.Helper()
	out := &unstructured.Unstructured{}
	out.SetGroupVersionKind(u.GroupVersionKind())
	err := k.Client.Get(context.Background(), client.ObjectKeyFromObject(u), out)
	return out, err
}

func requireNotStored(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	if _, err := get(t, u); !apierrors.IsNotFound(err) {
		t.Fatalf("%s %s/%s must not be stored (err=%v)", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
}
