package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
)

const (
	nsSidecar = `
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {istio-injection: enabled}}`
	nsAmbient = `
apiVersion: v1
kind: Namespace
metadata: {name: ambient-apps, labels: {istio.io/dataplane-mode: ambient}}`
	nsEdge = `
apiVersion: v1
kind: Namespace
metadata: {name: emissary, labels: {istio-injection: enabled}}`
	emissaryPod = `
apiVersion: v1
kind: Pod
metadata:
  name: emissary-ingress-0
  namespace: emissary
  labels: {product: aes, profile: main}
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  containers:
  - name: emissary-ingress
    image: docker.io/emissaryingress/emissary:3.10.0
    ports: [{name: admin, containerPort: 8877}]
    env:
    - name: AMBASSADOR_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}`
	badPortService = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: apps}
spec:
  selector: {app: reviews}
  ports: [{name: http2foo, port: 9080}]`
	unnamedPortService = `
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: apps}
spec:
  selector: {app: productpage}
  ports: [{port: 80, targetPort: 9080}]`
)

func defaultWorld(t testing.TB) policy.World {
	return ruletest.SyncedWorldOf(t, objects(t, nsSidecar, nsAmbient, nsEdge)...)
}

func TestHandlerGuardsAllowUntouched(t *testing.T) {
	svc := objects(t, badPortService)[0]
	o := HandlerOptions{World: defaultWorld(t), ServiceAccount: ServiceAccountUser("meshgate-system", "meshgate"), Namespace: "meshgate-system"}
	raw := []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"reviews"},"spec":{"ports":[{"name":"http2foo","port":9080}]}}`)
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	tests := []struct {
		name   string
		body   []byte
		reason string
	}{
		{"DELETE is not reviewed", reviewRaw(t, nil, gvk, admissionv1.Delete, "apps", "jane"), "only CREATE and UPDATE"},
		{"CONNECT is not reviewed", reviewRaw(t, nil, gvk, admissionv1.Connect, "apps", "jane"), "only CREATE and UPDATE"},
		{"meshgate's own service account passes", reviewRaw(t, raw, gvk, admissionv1.Create, "apps", "system:serviceaccount:meshgate-system:meshgate"), "own service account"},
		{"objects in meshgate's own namespace pass", reviewOf(t, svc, admissionv1.Create, "meshgate-system"), "own namespace"},
	}
	for _, dir := range []Direction{Mutating, Validating} {
		hook := newHook(t, dir, o)
		for _, tc := range tests {
			t.Run(string(dir)+"/"+tc.name, func(t *testing.T) {
				code, resp := post(t, hook, tc.body)
				assert.Equal(t, http.StatusOK, code)
				assert.True(t, resp.Allowed)
				assert.Empty(t, resp.Patch)
				assert.Empty(t, resp.Warnings)
				assert.Contains(t, resp.Result.Message, tc.reason)
			})
		}
	}
}

func TestHandlerSubresourcesPass(t *testing.T) {
	hook := newHook(t, Validating, HandlerOptions{World: defaultWorld(t)})
	rec := httptest.NewRecorder()
	body := strings.Replace(string(reviewOf(t, objects(t, badPortService)[0], admissionv1.Update, "apps")),
		`"operation":"UPDATE"`, `"operation":"UPDATE","subResource":"status"`, 1)
	r := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	hook.ServeHTTP(rec, r)
	assert.Contains(t, rec.Body.String(), `"allowed":true`)
	assert.Contains(t, rec.Body.String(), "subresources")
}

func TestHandlerRejectsMalformedReviews(t *testing.T) {
	hook := newHook(t, Mutating, HandlerOptions{World: defaultWorld(t)})
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	tests := []struct {
		name        string
		body        []byte
		contentType string
		wantCode    int32
		wantMessage string
	}{
		{"empty body", nil, "application/json", http.StatusBadRequest, "request body is empty"},
		{"wrong content type", []byte(`{}`), "text/plain", http.StatusBadRequest, "expected application/json"},
		{"not JSON", []byte(`{"apiVersion":`), "application/json", http.StatusBadRequest, ""},
		{"body over 7 MiB", bytes.Repeat([]byte(" "), 7*1024*1024+1), "application/json", http.StatusRequestEntityTooLarge, "too large"},
		{"object is not a JSON object", reviewRaw(t, []byte(`[1,2,3]`), gvk, admissionv1.Create, "apps", "jane"), "application/json", http.StatusBadRequest, "not a JSON object"},
		{"object is null", reviewRaw(t, []byte(`null`), gvk, admissionv1.Create, "apps", "jane"), "application/json", http.StatusBadRequest, "carries no object"},
		{"CREATE without object", reviewRaw(t, nil, gvk, admissionv1.Create, "apps", "jane"), "application/json", http.StatusBadRequest, "carries no object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			var r *http.Request
			if tc.body == nil {
				r = httptest.NewRequest(http.MethodPost, "/mutate", nil)
			} else {
				r = httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(tc.body))
			}
			r.Header.Set("Content-Type", tc.contentType)
			hook.ServeHTTP(rec, r)
			var review admissionv1.AdmissionReview
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &review), rec.Body.String())
			require.NotNil(t, review.Response)
			assert.False(t, review.Response.Allowed)
			assert.Equal(t, tc.wantCode, review.Response.Result.Code)
			assert.Contains(t, review.Response.Result.Message, tc.wantMessage)
		})
	}
}

func TestHandlerUnreadableObjectIsDeniedClearly(t *testing.T) {
	// A Service whose ports are not a list cannot be read as a Service.
	raw := []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"apps"},"spec":{"ports":"oops"}}`)
	body := reviewRaw(t, raw, schema.GroupVersionKind{Version: "v1", Kind: "Service"}, admissionv1.Create, "apps", "jane")
	for _, dir := range []Direction{Mutating, Validating} {
		t.Run(string(dir), func(t *testing.T) {
			_, resp := post(t, newHook(t, dir, HandlerOptions{World: defaultWorld(t)}), body)
			assert.False(t, resp.Allowed)
			assert.Equal(t, int32(http.StatusUnprocessableEntity), resp.Result.Code)
			assert.Contains(t, resp.Result.Message, "meshgate cannot review this Service")
		})
	}
}

func TestHandlerKindsWithoutRulesPass(t *testing.T) {
	cm := objects(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: apps}, data: {a: b}}`)[0]
	for _, dir := range []Direction{Mutating, Validating} {
		_, resp := post(t, newHook(t, dir, HandlerOptions{World: defaultWorld(t)}), reviewOf(t, cm, admissionv1.Create, "apps"))
		assert.True(t, resp.Allowed, dir)
		assert.Empty(t, resp.Patch, dir)
	}
}

func TestMutatingHandlerWiresEmissaryPod(t *testing.T) {
	pod := objects(t, emissaryPod)[0]
	tests := []struct {
		name      string
		namespace string
		wired     bool
	}{
		{"sidecar namespace gets the Istio certificate wiring", "emissary", true},
		{"ambient namespace is left untouched", "ambient-apps", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := pod.DeepCopy()
			in.SetNamespace(tc.namespace)
			o := HandlerOptions{World: defaultWorld(t)}
			for mode, hook := range map[string]*admission.Webhook{"engine ops": newHook(t, Mutating, o), "reference diff": diffHook(t, o)} {
				_, resp := post(t, hook, reviewOf(t, in, admissionv1.Create, tc.namespace))
				require.True(t, resp.Allowed)
				out := applyPatch(t, in, resp)
				vols, _, _ := unstructured.NestedSlice(out.Object, "spec", "volumes")
				annotations := out.GetAnnotations()
				if !tc.wired {
					assert.Empty(t, resp.Patch, mode)
					assert.Empty(t, vols, mode)
					continue
				}
				require.Len(t, vols, 1, mode)
				assert.Equal(t, "istio-certs", vols[0].(map[string]any)["name"], mode)
				assert.Equal(t, "true", annotations["sidecar.istio.io/inject"], mode)
				assert.Contains(t, annotations["proxy.istio.io/config"], "/etc/istio-certs", mode)
				if mode == "engine ops" {
					assert.Contains(t, resp.AuditAnnotations["changes"], policy.EdgeProxyIstioCerts, mode)
				}
			}
		})
	}
}

func TestValidatingHandlerDeniesWithEveryMessage(t *testing.T) {
	svc := objects(t, badPortService)[0]
	hook := newHook(t, Validating, HandlerOptions{World: defaultWorld(t)})
	_, resp := post(t, hook, reviewOf(t, svc, admissionv1.Create, "apps"))
	require.False(t, resp.Allowed)
	assert.Equal(t, int32(http.StatusForbidden), resp.Result.Code)
	assert.Equal(t, "Forbidden", string(resp.Result.Reason))
	assert.Contains(t, resp.Result.Message, "[service-port-name] Service apps/reviews: spec.ports[0].name:")
	assert.Contains(t, resp.Result.Message, `"http2foo"`)
	require.Len(t, resp.Result.Details.Causes, 1)
	assert.Equal(t, "spec.ports[0].name", resp.Result.Details.Causes[0].Field)

	// Two bad ports: one denial carrying both messages.
	two := svc.DeepCopy()
	require.NoError(t, unstructured.SetNestedSlice(two.Object, []any{
		map[string]any{"name": "http2foo", "port": int64(9080)},
		map[string]any{"name": "foo-http", "port": int64(9081)},
	}, "spec", "ports"))
	_, resp = post(t, hook, reviewOf(t, two, admissionv1.Update, "apps"))
	require.False(t, resp.Allowed)
	assert.True(t, strings.HasPrefix(resp.Result.Message, "2 problems:\n"), resp.Result.Message)
	assert.Contains(t, resp.Result.Message, `"http2foo"`)
	assert.Contains(t, resp.Result.Message, `"foo-http"`)
	assert.Len(t, resp.Result.Details.Causes, 2)
}

func TestValidatingHandlerChecksTheObjectAsStored(t *testing.T) {
	// The mutating webhook names an unnamed port 80 "http". If it did not run
	// (failurePolicy Ignore, timeout), the validating webhook must judge the
	// object it is given, not the one meshgate would have made.
	svc := objects(t, unnamedPortService)[0]
	_, resp := post(t, newHook(t, Validating, HandlerOptions{World: defaultWorld(t)}), reviewOf(t, svc, admissionv1.Create, "apps"))
	require.False(t, resp.Allowed, "an unnamed port must not pass because meshgate could have named it")
	assert.Contains(t, resp.Result.Message, "spec.ports[0].name")

	// Through the mutating webhook first, the same Service is stored named and passes.
	_, mresp := post(t, newHook(t, Mutating, HandlerOptions{World: defaultWorld(t)}), reviewOf(t, svc, admissionv1.Create, "apps"))
	final := applyPatch(t, svc, mresp)
	name, _, _ := unstructured.NestedString(final.Object["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any), "name")
	assert.Equal(t, "http", name)
	_, vresp := post(t, newHook(t, Validating, HandlerOptions{World: defaultWorld(t)}), reviewOf(t, final, admissionv1.Create, "apps"))
	assert.True(t, vresp.Allowed, "%v", vresp.Result)

	// The same for a pod (read into its Go type, which the mutations change in
	// place): an Emissary pod that reaches the validating webhook unwired is
	// reported unwired.
	pod := objects(t, emissaryPod)[0]
	_, vresp = post(t, newHook(t, Validating, HandlerOptions{World: defaultWorld(t)}), reviewOf(t, pod, admissionv1.Create, "emissary"))
	require.True(t, vresp.Allowed)
	require.NotEmpty(t, vresp.Warnings)
	for _, w := range vresp.Warnings {
		assert.True(t, strings.HasPrefix(w, "["+policy.EdgeProxyWiring+"]"), w)
	}
}

func TestWarnFindingsSurfaceOnceAsWarnings(t *testing.T) {
	// Enforce service-port-name in warn mode: the Service is admitted with a
	// warning from the validating webhook, none from the mutating one.
	cfg := policy.DefaultConfig()
	cfg.Rules[policy.ServicePortName] = policy.Warn
	svc := objects(t, badPortService)[0]
	o := HandlerOptions{World: defaultWorld(t), Config: cfg}
	_, mresp := post(t, newHook(t, Mutating, o), reviewOf(t, svc, admissionv1.Create, "apps"))
	assert.True(t, mresp.Allowed)
	assert.Empty(t, mresp.Warnings, "validation findings are the validating webhook's to report")
	_, vresp := post(t, newHook(t, Validating, o), reviewOf(t, applyPatch(t, svc, mresp), admissionv1.Create, "apps"))
	assert.True(t, vresp.Allowed)
	require.Len(t, vresp.Warnings, 1)
	assert.True(t, strings.HasPrefix(vresp.Warnings[0], "[service-port-name] Service apps/reviews: spec.ports[0].name: "), vresp.Warnings[0])

	// A mutation conflict (the user's own AMBASSADOR_ISTIO_SECRET_DIR) is the
	// mutating webhook's warning, and the validating webhook does not repeat it.
	pod := objects(t, emissaryPod)[0]
	containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	containers[0].(map[string]any)["env"] = []any{
		map[string]any{"name": "AMBASSADOR_NAMESPACE", "value": "emissary"},
		map[string]any{"name": "AMBASSADOR_ISTIO_SECRET_DIR", "value": "/my/certs"},
	}
	require.NoError(t, unstructured.SetNestedSlice(pod.Object, containers, "spec", "containers"))
	o = HandlerOptions{World: defaultWorld(t)}
	_, mresp = post(t, newHook(t, Mutating, o), reviewOf(t, pod, admissionv1.Create, "emissary"))
	require.True(t, mresp.Allowed)
	require.NotEmpty(t, mresp.Warnings, "the conflict is reported")
	for _, w := range mresp.Warnings {
		assert.True(t, strings.HasPrefix(w, "["+policy.EdgeProxyIstioCerts+"]"), w)
	}
	_, vresp = post(t, newHook(t, Validating, o), reviewOf(t, applyPatch(t, pod, mresp), admissionv1.Create, "emissary"))
	for _, w := range vresp.Warnings {
		assert.NotContains(t, mresp.Warnings, w, "a finding surfaces once")
	}
}

func TestHandlerCountsFindingsAndChanges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	require.NoError(t, err)
	o := HandlerOptions{World: defaultWorld(t), Metrics: m}
	_, resp := post(t, newHook(t, Validating, o), reviewOf(t, objects(t, badPortService)[0], admissionv1.Create, "apps"))
	require.False(t, resp.Allowed)
	_, resp = post(t, newHook(t, Mutating, o), reviewOf(t, objects(t, unnamedPortService)[0], admissionv1.Create, "apps"))
	require.True(t, resp.Allowed)

	assert.Equal(t, 1.0, testutil.ToFloat64(m.Findings.WithLabelValues(policy.ServicePortName, "enforce", "Service")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Changes.WithLabelValues(policy.ServicePortProtocol, "Service")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Reviews.WithLabelValues("validating", "Service")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Reviews.WithLabelValues("mutating", "Service")))

	// A second registration in the same process shares the counters.
	again, err := NewMetrics(reg)
	require.NoError(t, err)
	assert.Same(t, m.Findings, again.Findings)
}

func TestHandlerObserverSeesEveryAnswer(t *testing.T) {
	var seen []Observation
	o := HandlerOptions{World: defaultWorld(t), Observer: func(ob Observation) { seen = append(seen, ob) }}
	hook := newHook(t, Validating, o)
	post(t, hook, reviewOf(t, objects(t, badPortService)[0], admissionv1.Create, "apps"))
	post(t, hook, reviewRaw(t, nil, schema.GroupVersionKind{Version: "v1", Kind: "Service"}, admissionv1.Delete, "apps", "jane"))
	require.Len(t, seen, 2)
	assert.False(t, seen[0].Response.Allowed)
	assert.NotNil(t, seen[0].Result)
	assert.True(t, seen[1].Response.Allowed)
	assert.Nil(t, seen[1].Result, "a guard answered")
}

func TestNewHandlerRejectsBadOptions(t *testing.T) {
	_, err := NewHandler("sideways", HandlerOptions{World: defaultWorld(t)})
	assert.ErrorContains(t, err, "unknown direction")
	_, err = NewHandler(Mutating, HandlerOptions{})
	assert.ErrorContains(t, err, "no World")
}

func TestMetricsKnowEveryRuleFromTheStart(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	series := func(c prometheus.Collector) map[string]bool {
		out := map[string]bool{}
		ch := make(chan prometheus.Metric, 1000)
		c.Collect(ch)
		close(ch)
		for metric := range ch {
			var pb dto.Metric
			require.NoError(t, metric.Write(&pb))
			labels := map[string]string{}
			for _, l := range pb.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["rule"]+" "+labels["mode"]+" "+labels["kind"]] = true
		}
		return out
	}
	findings, changes := series(m.Findings), series(m.Changes)
	for _, r := range policy.Rules() {
		assert.True(t, findings[r.ID+" enforce "+r.Reviews[0].Kinds[0].Kind], "findings of %s", r.ID)
		assert.True(t, findings[r.ID+" warn "+r.Reviews[0].Kinds[0].Kind], "findings of %s", r.ID)
		assert.Equal(t, r.Mutation, changes[r.ID+"  "+r.Reviews[0].Kinds[0].Kind], "changes of %s", r.ID)
	}
	assert.False(t, findings[policy.EdgeProxyWiring+" warn Deployment"], "workload templates never reach the server")
}

func TestInTreePoliciesEnabledLeavesCoveredRulesToTheAPIServer(t *testing.T) {
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "catalog", "namespace": "shop"},
		"spec":     map[string]any{"selector": map[string]any{"app": "catalog"}, "ports": []any{map[string]any{"name": "http2foo", "port": int64(8081)}}},
	}}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": "shop", "labels": map[string]any{"istio-injection": "enabled"}},
	}}
	w := world.NewMemory("default")
	_, err := w.Add(ns)
	require.NoError(t, err)
	tests := []struct {
		name    string
		enabled bool
		allowed bool
	}{
		{name: "without the in-tree policies meshgate denies the port name", enabled: false, allowed: false},
		{name: "with them installed meshgate leaves it to the API server", enabled: true, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := policy.DefaultConfig()
			cfg.InTree.Enabled = tt.enabled
			_, resp := post(t, newHook(t, Validating, HandlerOptions{Config: cfg, World: w}), reviewOf(t, svc, admissionv1.Create, "shop"))
			assert.Equal(t, tt.allowed, resp.Allowed, resp.Result)
		})
	}
}
