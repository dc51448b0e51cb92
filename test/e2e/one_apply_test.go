package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// oneApplySet is a small application whose verdicts depend on objects applied
// just before it: namespaces decide the mesh, a Service decides a Mapping's
// port, a PeerAuthentication turns Istio TLS off, a TLSContext and an Istio
// Gateway must be found. {{S}} names the set, so two copies can live side by
// side. Files are applied in name order, documents in file order.
var oneApplySet = map[string]string{
	"00-namespaces.yaml": `
apiVersion: v1
kind: Namespace
metadata: {name: oa-{{S}}-edge, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: oa-{{S}}-mesh, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: oa-{{S}}-plain, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: oa-{{S}}-web}
`,
	"10-world.yaml": `
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: {name: oa-{{S}}-ctx, namespace: oa-{{S}}-edge}
spec: {secret: some-secret}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: mtls-off, namespace: oa-{{S}}-plain}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: oa-{{S}}-gw, namespace: oa-{{S}}-web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
`,
	"20-services.yaml": `
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: oa-{{S}}-mesh}
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: oa-{{S}}-plain}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: bad, namespace: oa-{{S}}-mesh}
spec:
  selector: {app: bad}
  ports: [{name: http2foo, port: 9080}]
`,
	"30-workloads.yaml": `
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge, namespace: oa-{{S}}-edge}
spec:
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge, product: aes, profile: main}}
    spec:
      containers:
      - name: emissary
        image: emissary:3.10
        env: [{name: AMBASSADOR_NAMESPACE, value: oa-{{S}}-edge}]
---
apiVersion: v1
kind: Pod
metadata: {name: edge-0, namespace: oa-{{S}}-edge, labels: {app: edge, product: aes, profile: main}}
spec:
  containers:
  - name: emissary
    image: emissary:3.10
    env: [{name: AMBASSADOR_NAMESPACE, value: oa-{{S}}-edge}]
`,
	"40-routes.yaml": `
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: to-shop, namespace: oa-{{S}}-edge}
spec: {prefix: /shop/, service: shop.oa-{{S}}-mesh}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: to-legacy, namespace: oa-{{S}}-edge}
spec: {prefix: /legacy/, service: legacy.oa-{{S}}-plain}
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: own-ctx, namespace: oa-{{S}}-edge}
spec: {prefix: /own/, service: "shop.oa-{{S}}-mesh:80", tls: oa-{{S}}-ctx}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: site, namespace: oa-{{S}}-web}
spec:
  hosts: [www.example.com]
  gateways: [oa-{{S}}-gw]
  http: [{route: [{destination: {host: shop.oa-{{S}}-mesh.svc.cluster.local}}]}]
`,
}

// oneApplyObjects are the objects of the set that the API server must store
// (every one but the denied Service), as kind/namespace/name.
var oneApplyObjects = []string{
	"Namespace//oa-{{S}}-edge", "Namespace//oa-{{S}}-mesh", "Namespace//oa-{{S}}-plain", "Namespace//oa-{{S}}-web",
	"getambassador.io/v3alpha1/TLSContext/oa-{{S}}-edge/oa-{{S}}-ctx",
	"security.istio.io/v1/PeerAuthentication/oa-{{S}}-plain/mtls-off",
	"networking.istio.io/v1/Gateway/oa-{{S}}-web/oa-{{S}}-gw",
	"Service/oa-{{S}}-mesh/shop", "Service/oa-{{S}}-plain/legacy",
	"apps/v1/Deployment/oa-{{S}}-edge/edge", "Pod/oa-{{S}}-edge/edge-0",
	"getambassador.io/v3alpha1/Mapping/oa-{{S}}-edge/to-shop",
	"getambassador.io/v3alpha1/Mapping/oa-{{S}}-edge/to-legacy",
	"getambassador.io/v3alpha1/Mapping/oa-{{S}}-edge/own-ctx",
	"networking.istio.io/v1/VirtualService/oa-{{S}}-web/site",
}

// TestOneApplyEqualsOneByOne applies a directory with one `kubectl apply -f`
// (objects reviewed right after the ones they depend on, before the World's
// informers may have seen those) and the same objects one `kubectl apply` at a
// time: the API server must store the same objects, and kubectl must show the
// same denials and warnings.
func TestOneApplyEqualsOneByOne(t *testing.T) {
	all := writeSet(t, "all")
	allOut, _ := kubectl(t, "apply", "-f", all)

	var oneOut []string
	files, err := filepath.Glob(filepath.Join(writeSet(t, "one"), "*.yaml"))
	require.NoError(t, err)
	sort.Strings(files)
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, doc := range strings.Split(string(b), "\n---\n") {
			p := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", filepath.Base(f), i))
			require.NoError(t, os.WriteFile(p, []byte(doc), 0o644))
			out, _ := kubectl(t, "apply", "-f", p)
			oneOut = append(oneOut, out)
		}
	}

	assert.Equal(t, kubectlLines(allOut, "all"), kubectlLines(strings.Join(oneOut, "\n"), "one"),
		"one apply of the directory must show what applying each object does")
	for _, ref := range oneApplyObjects {
		assert.JSONEq(t, stored(t, ref, "one"), stored(t, ref, "all"), "%s must be stored alike", ref)
	}

	// And both are right: what meshgate decides with the whole World known.
	assert.Contains(t, allOut, `denied the request`)
	assert.Contains(t, allOut, `http2foo`)
	assert.NotContains(t, allOut, "not known to meshgate", "every object the set depends on was found")
	assert.NotContains(t, allOut, "does not exist", "the TLSContext applied just before was found")
	shop := getObject(t, "getambassador.io/v3alpha1/Mapping/oa-all-edge/to-shop")
	assert.Equal(t, "istio-upstream", shop.Object["spec"].(map[string]any)["tls"], "the Mapping to the meshed Service gets Istio TLS")
	assert.Equal(t, "shop.oa-all-mesh:80", shop.Object["spec"].(map[string]any)["service"])
	legacy := getObject(t, "getambassador.io/v3alpha1/Mapping/oa-all-edge/to-legacy")
	assert.NotContains(t, legacy.Object["spec"], "tls", "the PeerAuthentication applied before disables Istio TLS")
	pod := getObject(t, "Pod/oa-all-edge/edge-0")
	assert.Contains(t, names(pod.Object["spec"].(map[string]any)["volumes"].([]any)), "istio-certs", "the edge pod is wired")
}

// writeSet renders oneApplySet for set into a fresh directory.
func writeSet(t *testing.T, set string) string {
	t.Helper()
	dir := t.TempDir()
	for name, doc := range oneApplySet {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(doc, "{{S}}", set)), 0o644))
	}
	return dir
}

var fileInMessage = regexp.MustCompile(`when (creating|applying patch to) "[^"]*"`)

// kubectlLines is kubectl's output with the set's name and the file names
// taken out, sorted: what a user reads, independent of the order.
func kubectlLines(out, set string) []string {
	out = strings.ReplaceAll(out, "oa-"+set+"-", "oa-X-")
	out = fileInMessage.ReplaceAllString(out, "when $1 FILE")
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}

// getObject reads the object ref ("[group/]version/Kind/namespace/name", the
// apiVersion left out for core v1) from the API server.
func getObject(t *testing.T, ref string) *unstructured.Unstructured {
	t.Helper()
	parts := strings.Split(ref, "/")
	ns, name := parts[len(parts)-2], parts[len(parts)-1]
	kind := parts[len(parts)-3]
	apiVersion := strings.Join(parts[:len(parts)-3], "/")
	if apiVersion == "" {
		apiVersion = "v1"
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u), ref)
	return u
}

// stored is the object ref of set as stored, without what the API server sets
// per object, with the set's name taken out.
func stored(t *testing.T, ref, set string) string {
	t.Helper()
	u := getObject(t, strings.ReplaceAll(ref, "{{S}}", set))
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration")
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "spec", "clusterIP") // allocated per Service
	unstructured.RemoveNestedField(u.Object, "spec", "clusterIPs")
	b, err := json.Marshal(u.Object)
	require.NoError(t, err)
	return strings.ReplaceAll(string(b), "oa-"+set+"-", "oa-X-")
}
