package e2e

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// webhookRequests reads from meshgate's metrics how many admission requests
// it received on path (/mutate or /validate), whatever their answer.
func webhookRequests(t *testing.T, path string) int {
	t.Helper()
	total := 0
	sc := bufio.NewScanner(strings.NewReader(scrape(t)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "controller_runtime_webhook_requests_total{") || !strings.Contains(line, `webhook="`+path+`"`) {
			continue
		}
		n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, line)
		total += int(n)
	}
	return total
}

// TestBlastRadius creates pods and Services through the real API server
// with meshgate's registration (webhook.Configurations, default
// configuration) and counts, from meshgate's own metrics, the requests it
// received for each: only the edge proxies in namespaces where the pod rules
// can act, and the Services in the mesh, reach it.
func TestBlastRadius(t *testing.T) {
	ctx := context.Background()
	namespaces, err := cluster.Decode(`
apiVersion: v1
kind: Namespace
metadata: {name: blast-mesh, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: blast-canary, labels: {istio.io/rev: canary}}
---
apiVersion: v1
kind: Namespace
metadata: {name: blast-plain}
---
apiVersion: v1
kind: Namespace
metadata: {name: blast-ambient, labels: {istio.io/dataplane-mode: ambient}}`)
	require.NoError(t, err)
	for _, o := range namespaces {
		require.NoError(t, k.Client.Create(ctx, o))
	}
	ordinaryPod := func(ns, name string, labels string) string {
		return `
apiVersion: v1
kind: Pod
metadata: {name: ` + name + `, namespace: ` + ns + `, labels: {` + labels + `}}
spec: {containers: [{name: app, image: example.com/app:1}]}`
	}
	service := func(ns, name string) string {
		return `
apiVersion: v1
kind: Service
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec: {selector: {app: ` + name + `}, ports: [{name: http, port: 80}]}`
	}
	edgeProxy := func(ns string) string { return strings.Replace(emissaryPod, "NAMESPACE", ns, 1) }
	cases := []struct {
		name     string
		manifest string
		// labels are added to the manifest's.
		labels map[string]string
		// mutate and validate are the requests meshgate must receive.
		mutate, validate int
	}{
		{name: "an ordinary pod in a mesh namespace", manifest: ordinaryPod("blast-mesh", "app", "app: quote")},
		{name: "an ordinary pod in a revision namespace", manifest: ordinaryPod("blast-canary", "app", "app: quote")},
		{name: "an ordinary pod outside the mesh", manifest: ordinaryPod("blast-plain", "app", "app: quote")},
		{name: "an ordinary pod with a sidecar label outside the mesh", manifest: ordinaryPod("blast-plain", "app-injected", "sidecar.istio.io/inject: \"true\"")},
		{name: "an edge proxy in a mesh namespace", manifest: edgeProxy("blast-mesh"), mutate: 1, validate: 1},
		{name: "an edge proxy in a revision namespace", manifest: edgeProxy("blast-canary"), mutate: 1, validate: 1},
		{name: "an edge proxy outside the mesh", manifest: edgeProxy("blast-plain")},
		{name: "an edge proxy in an ambient namespace (nothing to wire)", manifest: edgeProxy("blast-ambient")},
		{name: "an edge proxy opting into a revision outside the mesh", manifest: edgeProxy("blast-plain"), labels: map[string]string{"istio.io/rev": "canary"}, mutate: 1, validate: 1},
		{name: "a Service in a mesh namespace", manifest: service("blast-mesh", "quote"), mutate: 1, validate: 1},
		{name: "a Service in an ambient namespace", manifest: service("blast-ambient", "quote"), mutate: 1, validate: 1},
		{name: "a Service outside the mesh", manifest: service("blast-plain", "quote")},
	}
	// controller-runtime counts a request once its handler has returned, a
	// moment after the API server has the answer: each count is awaited, and
	// the running totals catch a request counted late.
	baseMut, baseVal := webhookRequests(t, "/mutate"), webhookRequests(t, "/validate")
	var wantMut, wantVal int
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := cluster.MustDecode(t, tc.manifest)
			if tc.labels != nil {
				l := obj.GetLabels()
				for k, v := range tc.labels {
					l[k] = v
				}
				obj.SetLabels(l)
				obj.SetName(obj.GetName() + "-labelled")
			}
			require.NoError(t, k.Client.Create(ctx, obj))
			t.Cleanup(func() { _ = k.Client.Delete(context.Background(), obj, client.GracePeriodSeconds(0)) })
			wantMut += tc.mutate
			wantVal += tc.validate
			var mut, val int
			assert.Eventually(t, func() bool {
				mut, val = webhookRequests(t, "/mutate")-baseMut, webhookRequests(t, "/validate")-baseVal
				return mut == wantMut && val == wantVal
			}, 5*time.Second, 20*time.Millisecond, "requests to /mutate and /validate so far: %d and %d, want %d and %d", mut, val, wantMut, wantVal)
		})
	}
	mut, val := webhookRequests(t, "/mutate")-baseMut, webhookRequests(t, "/validate")-baseVal
	assert.Equal(t, wantMut, mut, "requests to /mutate")
	assert.Equal(t, wantVal, val, "requests to /validate")
	t.Logf("%d objects created: meshgate received %d mutating and %d validating requests", len(cases), mut, val)
}
