package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/world"
)

const benchWorld = `
apiVersion: v1
kind: Namespace
metadata: {name: emissary, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: quote, namespace: apps}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: {name: istio-upstream, namespace: emissary}
spec: {secret: istio-certs, alpn_protocols: istio}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-ingressgateway, namespace: istio-ingress}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: istio-ingress}
spec:
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: All}}
`

var benchObjects = map[string]string{
	"plain-pod": `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: apps, labels: {app: web}}
spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}`,
	"emissary-pod": `
apiVersion: v1
kind: Pod
metadata:
  name: emissary-ingress-abc
  namespace: emissary
  labels: {product: aes, profile: main, app.kubernetes.io/name: emissary-ingress}
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  serviceAccountName: emissary-ingress
  containers:
  - name: emissary-ingress
    image: docker.io/emissaryingress/emissary:3.10.0
    ports: [{name: http, containerPort: 8080}, {name: https, containerPort: 8443}, {name: admin, containerPort: 8877}]
    env: [{name: AMBASSADOR_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}]`,
	"emissary-deployment": `
apiVersion: apps/v1
kind: Deployment
metadata: {name: emissary-ingress, namespace: emissary}
spec:
  selector: {matchLabels: {product: aes}}
  template:
    metadata:
      labels: {product: aes, profile: main, app.kubernetes.io/name: emissary-ingress}
    spec:
      serviceAccountName: emissary-ingress
      containers:
      - name: emissary-ingress
        image: docker.io/emissaryingress/emissary:3.10.0
        ports: [{name: http, containerPort: 8080}, {name: https, containerPort: 8443}, {name: admin, containerPort: 8877}]
        env: [{name: AMBASSADOR_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}]`,
	"service": `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: apps}
spec: {ports: [{name: http2foo, port: 9080}, {port: 80}]}`,
	"mapping": `
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: quote, namespace: emissary}
spec: {prefix: /backend/, service: quote.apps}`,
	"virtualservice": `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: grafana, namespace: apps}
spec:
  hosts: [grafana.example.com]
  gateways: [istio-ingressgateway]`,
	"httproute": `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: quote, namespace: apps}
spec: {parentRefs: [{name: shared, namespace: istio-ingress}]}`,
}

// BenchmarkReview measures one review per kind, over the same World: the
// whole result, and (patch-only) what the admission server and the audit ask
// for.
func BenchmarkReview(b *testing.B) {
	w := world.NewMemory("default")
	objs, err := manifest.Decode("world", strings.NewReader(benchWorld))
	require.NoError(b, err)
	for _, o := range objs {
		_, err := w.Add(o)
		require.NoError(b, err)
	}
	e := New(nil)
	for _, name := range []string{"plain-pod", "emissary-pod", "emissary-deployment", "service", "mapping", "virtualservice", "httproute"} {
		docs, err := manifest.Decode(name, strings.NewReader(benchObjects[name]))
		require.NoError(b, err)
		for _, patchOnly := range []bool{false, true} {
			in := Input{Object: docs[0], PatchOnly: patchOnly}
			sub := name
			if patchOnly {
				sub += "/patch-only"
			}
			b.Run(sub, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Review(context.Background(), in, w); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
