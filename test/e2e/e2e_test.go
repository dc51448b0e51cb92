package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// deniedBy ends every denial of meshgate's validating webhooks (named
// validate.meshgate.io, or <scope>-<class>.validate.meshgate.io).
const deniedBy = `validate.meshgate.io" denied the request: `

// emissaryPod is a Pod of the Emissary chart's shape, as its ReplicaSet creates it.
const emissaryPod = `
apiVersion: v1
kind: Pod
metadata:
  name: emissary-ingress-0
  namespace: NAMESPACE
  labels: {app.kubernetes.io/name: emissary-ingress, product: aes, profile: main}
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  serviceAccountName: emissary-ingress
  containers:
  - name: emissary-ingress
    image: docker.io/emissaryingress/emissary:3.10.0
    ports:
    - {name: http, containerPort: 8080}
    - {name: admin, containerPort: 8877}
    env:
    - name: AMBASSADOR_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}`

func pod(t *testing.T, namespace, name string, annotations map[string]string) *unstructured.Unstructured {
	t.Helper()
	p := cluster.MustDecode(t, strings.Replace(emissaryPod, "NAMESPACE", namespace, 1))
	p.SetName(name)
	a := p.GetAnnotations()
	for k, v := range annotations {
		a[k] = v
	}
	p.SetAnnotations(a)
	return p
}

func TestEmissaryPodWiring(t *testing.T) {
	ctx := context.Background()
	t.Run("in an istio-injection=enabled namespace it is stored with the wiring", func(t *testing.T) {
		p := pod(t, "emissary", "emissary-sidecar", nil)
		require.NoError(t, k.Client.Create(ctx, p))
		stored, err := get(t, p)
		require.NoError(t, err)
		a := stored.GetAnnotations()
		assert.Equal(t, "true", a["sidecar.istio.io/inject"], "the vendor's inject=false is flipped")
		assert.Contains(t, a["proxy.istio.io/config"], "OUTPUT_CERTS: /etc/istio-certs")
		assert.Contains(t, a["sidecar.istio.io/userVolumeMount"], `"istio-certs"`)
		assert.Contains(t, a, "traffic.sidecar.istio.io/includeInboundPorts")
		vols, _, _ := unstructured.NestedSlice(stored.Object, "spec", "volumes")
		assert.Contains(t, names(vols), "istio-certs")
		c := container(t, stored, 0)
		assert.Contains(t, names(c["volumeMounts"].([]any)), "istio-certs")
		env := map[string]any{}
		for _, e := range c["env"].([]any) {
			env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"]
		}
		assert.Equal(t, "/etc/istio-certs", env["AMBASSADOR_ISTIO_SECRET_DIR"])
		assert.Equal(t, "1", env["AMBASSADOR_ENVOY_BASE_ID"])
	})
	t.Run("in an ambient namespace it is stored untouched", func(t *testing.T) {
		p := pod(t, "ambient-apps", "emissary-ambient", nil)
		require.NoError(t, k.Client.Create(ctx, p))
		stored, err := get(t, p)
		require.NoError(t, err)
		assert.Equal(t, "false", stored.GetAnnotations()["sidecar.istio.io/inject"])
		assert.NotContains(t, stored.GetAnnotations(), "proxy.istio.io/config")
		vols, _, _ := unstructured.NestedSlice(stored.Object, "spec", "volumes")
		assert.NotContains(t, names(vols), "istio-certs")
		assert.Len(t, container(t, stored, 0)["env"], 1)
	})
}

func TestServicePorts(t *testing.T) {
	ctx := context.Background()
	t.Run("a port named http2foo is rejected with meshgate's message", func(t *testing.T) {
		svc := cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: apps}
spec: {selector: {app: reviews}, ports: [{name: http2foo, port: 9080}]}`)
		err := k.Client.Create(ctx, svc)
		require.Error(t, err)
		assert.Contains(t, err.Error(), deniedBy+"[service-port-name] Service apps/reviews: spec.ports[0].name: ")
		assert.Contains(t, err.Error(), `"http2foo"`)
		requireNotStored(t, svc)
	})
	t.Run("an unnamed port 80 is stored named http", func(t *testing.T) {
		svc := cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: apps}
spec: {selector: {app: productpage}, ports: [{port: 80, targetPort: 9080}]}`)
		require.NoError(t, k.Client.Create(ctx, svc))
		stored, err := get(t, svc)
		require.NoError(t, err)
		assert.Equal(t, "http", port(t, stored, 0)["name"])
	})
	t.Run("an UPDATE that breaks a port name is rejected", func(t *testing.T) {
		svc := cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: details, namespace: apps}
spec: {selector: {app: details}, ports: [{name: http, port: 9080}]}`)
		require.NoError(t, k.Client.Create(ctx, svc))
		stored, err := get(t, svc)
		require.NoError(t, err)
		ports, _, _ := unstructured.NestedSlice(stored.Object, "spec", "ports")
		ports[0].(map[string]any)["name"] = "foo-http"
		require.NoError(t, unstructured.SetNestedSlice(stored.Object, ports, "spec", "ports"))
		err = k.Client.Update(ctx, stored)
		require.Error(t, err)
		assert.Contains(t, err.Error(), deniedBy+"[service-port-name] Service apps/details: spec.ports[0].name: ")
		after, err := get(t, svc)
		require.NoError(t, err)
		assert.Equal(t, "http", port(t, after, 0)["name"], "the stored Service is unchanged")
	})
	t.Run("objects in meshgate's own namespace pass untouched", func(t *testing.T) {
		svc := cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: odd, namespace: meshgate-system}
spec: {selector: {app: odd}, ports: [{name: http2foo, port: 9080}, {name: extra, port: 80}]}`)
		require.NoError(t, k.Client.Create(ctx, svc))
		stored, err := get(t, svc)
		require.NoError(t, err)
		assert.NotContains(t, port(t, stored, 1), "appProtocol", "not mutated")
	})
}

func TestMappings(t *testing.T) {
	ctx := context.Background()
	for _, version := range []string{"v3alpha1", "v2"} {
		t.Run(version+": a Mapping to a meshed service is stored with tls and the explicit port", func(t *testing.T) {
			m := cluster.MustDecode(t, `
apiVersion: getambassador.io/`+version+`
kind: Mapping
metadata: {name: quote-`+version+`, namespace: emissary}
spec: {prefix: /quote/, service: quote.apps}`)
			require.NoError(t, k.Client.Create(ctx, m))
			stored, err := get(t, m)
			require.NoError(t, err)
			assert.Equal(t, "istio-upstream", stored.Object["spec"].(map[string]any)["tls"])
			assert.Equal(t, "quote.apps:80", stored.Object["spec"].(map[string]any)["service"])
		})
	}
	t.Run("a Mapping naming a TLSContext that does not exist is rejected", func(t *testing.T) {
		m := cluster.MustDecode(t, `
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: missing-tls, namespace: emissary}
spec: {prefix: /x/, service: quote.apps:80, tls: upstream-mtls}`)
		err := k.Client.Create(ctx, m)
		require.Error(t, err)
		assert.Contains(t, err.Error(), deniedBy+"[mapping-tls-context]")
		assert.Contains(t, err.Error(), "upstream-mtls")
		requireNotStored(t, m)
	})
}

func TestVirtualServiceGatewayRef(t *testing.T) {
	ctx := context.Background()
	vs := func(name, gateway string) *unstructured.Unstructured {
		return cluster.MustDecode(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: `+name+`, namespace: apps}
spec:
  hosts: [`+name+`.example.com]
  gateways: [`+gateway+`]
  http: [{route: [{destination: {host: quote}}]}]`)
	}
	t.Run("a short reference to a gateway in another namespace is rejected", func(t *testing.T) {
		v := vs("kiali", "istio-ingressgateway")
		err := k.Client.Create(ctx, v)
		require.Error(t, err)
		assert.Contains(t, err.Error(), deniedBy+"[virtualservice-gateway-ref]")
		assert.Contains(t, err.Error(), "istio-ingress/istio-ingressgateway")
		requireNotStored(t, v)
	})
	t.Run("a reference to a gateway in another, unapproved namespace is rejected", func(t *testing.T) {
		v := vs("grafana-other", "web/some-gateway")
		err := k.Client.Create(ctx, v)
		require.Error(t, err)
		assert.Contains(t, err.Error(), deniedBy+"[virtualservice-gateway-ref]")
	})
	t.Run("a qualified reference to the shared ingress gateway is accepted", func(t *testing.T) {
		require.NoError(t, k.Client.Create(ctx, vs("grafana", "istio-ingress/istio-ingressgateway")))
	})
	t.Run("a Gateway in another namespace is accepted once its owner shares it", func(t *testing.T) {
		gw := cluster.MustDecode(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: team-gateway, namespace: web}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*.example.com"]}]`)
		require.NoError(t, k.Client.Create(ctx, gw))
		defer func() { assert.NoError(t, client.IgnoreNotFound(k.Client.Delete(ctx, gw))) }()
		// The cache sees the Gateway, and then its annotation, a moment
		// after they are stored.
		var err error
		require.Eventually(t, func() bool {
			err = k.Client.Create(ctx, vs("team-app", "web/team-gateway"), client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), `annotate Gateway web/team-gateway with meshgate.io/allowed-namespaces: "apps"`)
		}, 30*time.Second, 100*time.Millisecond, "not shared: denied, naming the annotation (last: %v)", err)
		assert.Contains(t, err.Error(), "or add web to gatewayRefs.allowedNamespaces")

		gw.SetAnnotations(map[string]string{policy.AnnotationAllowedNamespaces: "apps"})
		require.NoError(t, k.Client.Update(ctx, gw))
		require.Eventually(t, func() bool {
			err = k.Client.Create(ctx, vs("team-app", "web/team-gateway"), client.DryRunAll)
			return err == nil
		}, 30*time.Second, 100*time.Millisecond, "shared with apps: accepted (last: %v)", err)
	})
}

func warningClient(t *testing.T) (client.Client, *cluster.Warnings) {
	t.Helper()
	c, w, err := k.WarningClient()
	require.NoError(t, err)
	return c, w
}

func TestWarningsAndDryRun(t *testing.T) {
	ctx := context.Background()
	t.Run("warn findings come back as warnings", func(t *testing.T) {
		c, w := warningClient(t)
		p := pod(t, "emissary", "emissary-opted-out", map[string]string{"meshgate.io/inject": "false"})
		require.NoError(t, c.Create(ctx, p))
		_, err := get(t, p)
		require.NoError(t, err, "a warning does not block")
		got := w.Get()
		require.NotEmpty(t, got)
		assert.True(t, strings.HasPrefix(got[0], "["+policy.EdgeProxyWiring+"] Pod emissary/emissary-opted-out: "), got[0])
	})
	t.Run("a mutation conflict is warned about once", func(t *testing.T) {
		c, w := warningClient(t)
		p := pod(t, "emissary", "emissary-conflict", map[string]string{"sidecar.istio.io/userVolumeMount": `{"istio-certs":{"mountPath":"/elsewhere"}}`})
		require.NoError(t, c.Create(ctx, p))
		got := w.Get()
		require.NotEmpty(t, got)
		seen := map[string]bool{}
		for _, g := range got {
			assert.False(t, seen[g], "warned twice: %s", g)
			seen[g] = true
		}
		assert.True(t, strings.HasPrefix(got[0], "["+policy.EdgeProxyIstioCerts+"]"), got[0])
	})

	t.Run("client dry-run returns the same verdicts and stores nothing", func(t *testing.T) {
		bad := cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: dry-bad, namespace: apps}
spec: {selector: {app: x}, ports: [{name: http2foo, port: 9080}]}`)
		err := k.Client.Create(ctx, bad, client.DryRunAll)
		require.Error(t, err)
		assert.Contains(t, err.Error(), deniedBy+"[service-port-name] Service apps/dry-bad: spec.ports[0].name: ")
		requireNotStored(t, bad)

		good := cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: dry-good, namespace: apps}
spec: {selector: {app: x}, ports: [{port: 80}]}`)
		require.NoError(t, k.Client.Create(ctx, good, client.DryRunAll))
		assert.Equal(t, "http", port(t, good, 0)["name"], "the dry-run answer carries the mutation")
		requireNotStored(t, good)

		c, w := warningClient(t)
		p := pod(t, "emissary", "emissary-dry-opted-out", map[string]string{"meshgate.io/inject": "false"})
		require.NoError(t, c.Create(ctx, p, client.DryRunAll))
		require.NotEmpty(t, w.Get())
		assert.True(t, strings.HasPrefix(w.Get()[0], "["+policy.EdgeProxyWiring+"]"))
		requireNotStored(t, p)
	})

	t.Run("kubectl --dry-run=server returns the same verdicts and stores nothing", func(t *testing.T) {
		dir := t.TempDir()
		write := func(name, doc string) string {
			path := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
			return path
		}
		bad := write("bad.yaml", `
apiVersion: v1
kind: Service
metadata: {name: kubectl-bad, namespace: apps}
spec: {selector: {app: x}, ports: [{name: http2foo, port: 9080}]}`)
		out, err := kubectl(t, "apply", "--dry-run=server", "-f", bad)
		require.Error(t, err, out)
		assert.Contains(t, out, deniedBy+"[service-port-name] Service apps/kubectl-bad: spec.ports[0].name: ")

		good := write("good.yaml", `
apiVersion: v1
kind: Service
metadata: {name: kubectl-good, namespace: apps}
spec: {selector: {app: x}, ports: [{port: 80}]}`)
		out, err = kubectl(t, "apply", "--dry-run=server", "-o", "jsonpath={.spec.ports[0].name}", "-f", good)
		require.NoError(t, err, out)
		assert.Equal(t, "http", out)

		var podDoc bytes.Buffer
		require.NoError(t, unstructuredYAML(&podDoc, pod(t, "emissary", "kubectl-opted-out", map[string]string{"meshgate.io/inject": "false"})))
		out, err = kubectl(t, "apply", "--dry-run=server", "-f", write("pod.yaml", podDoc.String()))
		require.NoError(t, err, out)
		assert.Contains(t, out, "Warning: ["+policy.EdgeProxyWiring+"] Pod emissary/kubectl-opted-out: ")

		for _, name := range []string{"kubectl-bad", "kubectl-good"} {
			requireNotStored(t, cluster.MustDecode(t, `{apiVersion: v1, kind: Service, metadata: {name: `+name+`, namespace: apps}}`))
		}
		requireNotStored(t, cluster.MustDecode(t, `{apiVersion: v1, kind: Pod, metadata: {name: kubectl-opted-out, namespace: emissary}}`))
	})
}

func TestGatewayAPICRDInstalledAfterStart(t *testing.T) {
	ctx := context.Background()
	w := k.Server.World()
	require.False(t, w.Has(policy.KindGateway), "the Gateway API CRDs are not installed yet")
	assert.Contains(t, scrape(t), `meshgate_rule_degraded{kind="gateway.networking.k8s.io/Gateway",rule="route-parent-ref"} 1`)

	require.NoError(t, k.InstallCRDs(cluster.CRDDir("gateway-api")))
	require.Eventually(t, func() bool { return w.Has(policy.KindGateway) }, 30*time.Second, 100*time.Millisecond,
		"meshgate must pick the Gateway CRD up without a restart")
	assert.Contains(t, scrape(t), `meshgate_rule_degraded{kind="gateway.networking.k8s.io/Gateway",rule="route-parent-ref"} 0`)

	gw := cluster.MustDecode(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared-gateway, namespace: istio-ingress}
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {matchLabels: {shared-gateway-access: "true"}}`)
	require.NoError(t, k.Client.Create(ctx, gw))
	route := func(ns string) *unstructured.Unstructured {
		return cluster.MustDecode(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: storefront, namespace: `+ns+`}
spec:
  parentRefs: [{name: shared-gateway, namespace: istio-ingress}]
  rules: [{backendRefs: [{name: storefront, port: 80}]}]`)
	}
	// The cache sees the Gateway a moment after it is stored.
	var err error
	require.Eventually(t, func() bool {
		err = k.Client.Create(ctx, route("apps"), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), deniedBy+"[route-parent-ref]")
	}, 30*time.Second, 100*time.Millisecond, "a route from a namespace the Gateway does not admit is rejected (last: %v)", err)
	r := route("apps")
	err = k.Client.Create(ctx, r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "shared-gateway")
	requireNotStored(t, r)
	require.NoError(t, k.Client.Create(ctx, route("web")), "the Gateway admits routes from namespaces labelled shared-gateway-access=true")

	// A CRD that goes away takes its kind out of the World again.
	crd := &apiextensionsv1.CustomResourceDefinition{}
	crd.Name = "gateways.gateway.networking.k8s.io"
	require.NoError(t, k.Client.Delete(ctx, crd))
	require.Eventually(t, func() bool { return !w.Has(policy.KindGateway) }, 60*time.Second, 100*time.Millisecond,
		"meshgate must drop the Gateway kind when its CRD is deleted")
	assert.Contains(t, scrape(t), `meshgate_rule_degraded{kind="gateway.networking.k8s.io/Gateway",rule="route-parent-ref"} 1`)
}

func TestReadinessHealthAndMetrics(t *testing.T) {
	for _, path := range []string{"/readyz", "/healthz"} {
		resp, err := http.Get(k.HealthURL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	require.NoError(t, k.Server.World().ReadyCheck(nil), "the World has synced")
	// A denial and a mutation of our own, whatever ran before.
	ctx := context.Background()
	require.Error(t, k.Client.Create(ctx, cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: metrics-probe, namespace: apps}
spec: {ports: [{name: http2foo, port: 9080}]}`), client.DryRunAll))
	require.NoError(t, k.Client.Create(ctx, pod(t, "emissary", "metrics-probe", nil), client.DryRunAll))
	m := scrape(t)
	assert.Contains(t, m, `controller_runtime_webhook_requests_total{code="200",webhook="/validate"}`)
	assert.Contains(t, m, `controller_runtime_webhook_requests_total{code="200",webhook="/mutate"}`)
	assert.Contains(t, m, `meshgate_findings_total{kind="Service",mode="enforce",rule="service-port-name"}`)
	assert.Contains(t, m, `meshgate_changes_total{kind="Pod",rule="edge-proxy-istio-certs"}`)
	assert.Contains(t, m, `meshgate_world_kind_available{kind="TLSContext"} 1`)
}

func scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(k.MetricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.Kubectl, append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func unstructuredYAML(w io.Writer, u *unstructured.Unstructured) error {
	b, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = w.Write(b) // JSON is YAML
	return err
}

func names(items []any) []string {
	var out []string
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

func container(t *testing.T, p *unstructured.Unstructured, i int) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(p.Object, "spec", "containers")
	require.Greater(t, len(cs), i)
	return cs[i].(map[string]any)
}

func port(t *testing.T, svc *unstructured.Unstructured, i int) map[string]any {
	t.Helper()
	ps, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	require.Greater(t, len(ps), i)
	return ps[i].(map[string]any)
}
