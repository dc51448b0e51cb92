package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/check"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// liveCheck runs `meshgate check --live` against the control plane and
// returns its exit code and JSON report.
func liveCheck(t *testing.T, o check.Options) (int, check.JSONReport) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.Live, o.Kubeconfig, o.Format = true, k.Kubeconfig, check.FormatJSON
	o.Stdout, o.Stderr = &out, &errOut
	code, err := check.Run(context.Background(), o)
	require.NoError(t, err, errOut.String())
	var rep check.JSONReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	return code, rep
}

type key struct{ object, rule string }

func findings(rep check.JSONReport) map[key]check.JSONFinding {
	out := map[key]check.JSONFinding{}
	for _, f := range rep.Findings {
		out[key{f.Object.String(), f.Rule}] = f
	}
	return out
}

func TestCheckLive(t *testing.T) {
	t.Run("every wrong object is reported with its kind of finding, and an enforce violation exits 1", func(t *testing.T) {
		code, rep := liveCheck(t, check.Options{})
		assert.Equal(t, check.ExitEnforce, code)
		got := findings(rep)
		for _, want := range []struct {
			object, rule, kind string
			mode               policy.Mode
		}{
			{"Deployment emissary/emissary-ingress", policy.EdgeProxyIstioCerts, audit.KindDrift, policy.Warn},
			{"Mapping emissary/quote-backend", policy.MappingIstioTLS, audit.KindDrift, policy.Warn},
			{"Service apps/reviews", policy.ServicePortName, audit.KindViolation, policy.Enforce},
			{"VirtualService apps/kiali", policy.VirtualServiceGatewayRef, audit.KindViolation, policy.Enforce},
		} {
			f, ok := got[key{want.object, want.rule}]
			if assert.True(t, ok, "%s [%s] missing from %v", want.object, want.rule, rep.Findings) {
				assert.Equal(t, want.kind, f.Kind, want.object)
				assert.Equal(t, want.mode, f.Mode, want.object)
				assert.Equal(t, check.LiveSource, f.File)
			}
		}
		d := got[key{"Deployment emissary/emissary-ingress", policy.EdgeProxyIstioCerts}]
		assert.Contains(t, d.Message, "2 of 2 running pods lack it")
		assert.Contains(t, d.Message, "kubectl rollout restart deployment/emissary-ingress -n emissary")
		for _, f := range rep.Findings {
			assert.NotEqual(t, "Pod", f.Object.Kind, "pods are reported on their workload: %v", f)
			assert.NotEqual(t, "ReplicaSet", f.Object.Kind, "a Deployment's ReplicaSet is reported on the Deployment: %v", f)
		}
		assert.Equal(t, 2, rep.Summary.Drift)
	})
	t.Run("-n limits the audit to one namespace; the World is still the whole cluster", func(t *testing.T) {
		_, rep := liveCheck(t, check.Options{LiveNamespace: "apps"})
		for _, f := range rep.Findings {
			assert.Equal(t, "apps", f.Object.Namespace, f)
		}
		assert.Contains(t, findings(rep), key{"VirtualService apps/kiali", policy.VirtualServiceGatewayRef},
			"judged with the Gateway of istio-ingress")
	})
	t.Run("-f files overlay the cluster: what would happen if they were applied", func(t *testing.T) {
		fixed := filepath.Join(t.TempDir(), "fixed.yaml")
		require.NoError(t, os.WriteFile(fixed, []byte(`
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: apps}
spec:
  selector: {app: reviews}
  ports: [{name: http2-foo, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: kiali, namespace: apps}
spec:
  hosts: [kiali.example.com]
  gateways: [istio-ingress/istio-ingressgateway]
  http: [{route: [{destination: {host: kiali, port: {number: 20001}}}]}]
`), 0o600))
		code, rep := liveCheck(t, check.Options{Files: []string{fixed}})
		assert.Equal(t, check.ExitOK, code, "only drift (warn) is left: %v", rep.Findings)
		got := findings(rep)
		assert.NotContains(t, got, key{"Service apps/reviews", policy.ServicePortName})
		assert.NotContains(t, got, key{"VirtualService apps/kiali", policy.VirtualServiceGatewayRef})
		assert.Contains(t, got, key{"Mapping emissary/quote-backend", policy.MappingIstioTLS})
	})
	t.Run("-f a Namespace without labels keeps the cluster's labels, as applying it would", func(t *testing.T) {
		in := filepath.Join(t.TempDir(), "app.yaml")
		require.NoError(t, os.WriteFile(in, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: apps}
spec:
  selector: {app: cart}
  ports: [{name: service, port: 8080}]
`), 0o600))
		code, rep := liveCheck(t, check.Options{Files: []string{in}})
		assert.Equal(t, check.ExitEnforce, code)
		f, ok := findings(rep)[key{"Service apps/cart", policy.ServicePortName}]
		require.True(t, ok, "the Service is checked in the mesh namespace: %v", rep.Findings)
		assert.Equal(t, in, f.File)
		var overlays []string
		for _, n := range rep.Notes {
			if n.Kind == check.NoteOverlay {
				overlays = append(overlays, n.Message)
			}
		}
		require.Len(t, overlays, 1, "%v", rep.Notes)
		assert.Contains(t, overlays[0], "leaves the cluster's Namespace apps as it is")
		assert.Contains(t, overlays[0], "kept: label istio-injection=enabled")
	})
	t.Run("-o openreports prints the reports the audit would write; the API server accepts them", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code, err := check.Run(context.Background(), check.Options{Live: true, Kubeconfig: k.Kubeconfig, Format: check.FormatOpenReports, Stdout: &out, Stderr: &errOut})
		require.NoError(t, err, errOut.String())
		assert.Equal(t, check.ExitEnforce, code)
		list := &unstructured.UnstructuredList{}
		j, err := yaml.YAMLToJSON(out.Bytes())
		require.NoError(t, err)
		require.NoError(t, list.UnmarshalJSON(j))
		scopes := map[string]bool{}
		for i := range list.Items {
			item := &list.Items[i]
			assert.Equal(t, "Report", item.GetKind())
			kind, _, _ := unstructured.NestedString(item.Object, "scope", "kind")
			name, _, _ := unstructured.NestedString(item.Object, "scope", "name")
			scopes[kind+"/"+name] = true
			// The server's audit may have written it already: validate a copy.
			item.SetName(item.GetName() + "-check")
			require.NoError(t, k.Client.Create(context.Background(), item, client.DryRunAll), "%s/%s", kind, name)
		}
		for _, want := range []string{"Deployment/emissary-ingress", "Service/reviews", "Mapping/quote-backend", "VirtualService/kiali"} {
			assert.True(t, scopes[want], "no report for %s in %v", want, scopes)
		}
	})
	t.Run("a suppression in the config is reported as suppressed and does not fail", func(t *testing.T) {
		cfg, err := policy.ParseConfig([]byte(`
suppressions:
- {rule: service-port-name, namespace: apps, name: reviews, reason: legacy clients}
- {rule: virtualservice-gateway-ref, selector: {matchExpressions: [{key: team, operator: DoesNotExist}]}}
`))
		require.NoError(t, err)
		code, rep := liveCheck(t, check.Options{Config: cfg})
		assert.Equal(t, check.ExitOK, code)
		f := findings(rep)[key{"Service apps/reviews", policy.ServicePortName}]
		assert.Equal(t, policy.Suppressed, f.Mode)
		assert.Contains(t, f.Message, "(suppressed: legacy clients)")
		assert.Equal(t, 2, rep.Summary.Suppressed)
	})
}

// report returns meshgate's report about obj, or nil when there is none.
func report(t *testing.T, obj client.Object) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("openreports.io/v1alpha1")
	u.SetKind("Report")
	err := k.Client.Get(context.Background(), client.ObjectKey{Namespace: obj.GetNamespace(), Name: audit.ReportPrefix + string(obj.GetUID())}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return u
}

// eventually waits (up to 30 s) until cond holds of obj's report.
func eventually(t *testing.T, obj client.Object, what string, cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		last = report(t, obj)
		if cond(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not after 30s; last report: %v", what, last)
	return nil
}

func typed(t *testing.T, u *unstructured.Unstructured) *openreports.Report {
	t.Helper()
	r := &openreports.Report{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, r))
	return r
}

func resultOf(r *openreports.Report, rule string) openreports.ReportResult {
	for _, res := range r.Results {
		if res.Policy == rule {
			return res
		}
	}
	return openreports.ReportResult{}
}

func TestServeAudit(t *testing.T) {
	if os.Getenv(scaleEnv) != "" {
		t.Skip("the server audits hourly while the audit is measured")
	}
	ctx := context.Background()
	svc := cluster.MustDecode(t, `
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: apps}
spec:
  selector: {app: ratings}
  ports: [{name: http2foo, port: 9080}]`)
	require.NoError(t, k.Client.Create(ctx, svc))

	t.Run("one report per resource, in its namespace, owned by it, validated by the OpenReports CRD", func(t *testing.T) {
		u := eventually(t, svc, "report of Service apps/ratings", func(u *unstructured.Unstructured) bool { return u != nil })
		r := typed(t, u)
		require.Len(t, r.OwnerReferences, 1)
		assert.Equal(t, svc.GetUID(), r.OwnerReferences[0].UID, "owned by the Service: the garbage collector deletes it with the Service")
		require.NotNil(t, r.Scope)
		assert.Equal(t, "ratings", r.Scope.Name)
		assert.Equal(t, svc.GetUID(), r.Scope.UID, "the scope survived the CRD's schema (not pruned)")
		assert.Equal(t, audit.Source, r.Source)
		assert.Equal(t, 1, r.Summary.Fail)
		f := resultOf(r, policy.ServicePortName)
		assert.EqualValues(t, "fail", f.Result)
		assert.EqualValues(t, "high", f.Severity)
		assert.Contains(t, f.Description, `"http2foo"`)
		assert.Equal(t, audit.KindViolation, f.Properties["kind"], "properties survived the schema")
		assert.NotZero(t, f.Timestamp.Seconds)
		assert.EqualValues(t, "pass", resultOf(r, policy.ServicePortProtocol).Result)
	})
	t.Run("a workload's report carries its pods' drift; pods and ReplicaSets have none", func(t *testing.T) {
		deploy := &unstructured.Unstructured{}
		deploy.SetAPIVersion("apps/v1")
		deploy.SetKind("Deployment")
		require.NoError(t, k.Client.Get(ctx, client.ObjectKey{Namespace: "emissary", Name: "emissary-ingress"}, deploy))
		u := eventually(t, deploy, "report of the Deployment", func(u *unstructured.Unstructured) bool { return u != nil })
		res := resultOf(typed(t, u), policy.EdgeProxyIstioCerts)
		assert.EqualValues(t, "warn", res.Result)
		assert.Equal(t, audit.KindDrift, res.Category)
		assert.Equal(t, "2", res.Properties["affectedPods"])

		pods := &unstructured.UnstructuredList{}
		pods.SetAPIVersion("v1")
		pods.SetKind("PodList")
		require.NoError(t, k.Client.List(ctx, pods, client.InNamespace("emissary")))
		require.Len(t, pods.Items, 2)
		for i := range pods.Items {
			assert.Nil(t, report(t, &pods.Items[i]), "no report per pod")
		}
	})
	t.Run("only changed reports are written", func(t *testing.T) {
		before := report(t, svc).GetResourceVersion()
		time.Sleep(2500 * time.Millisecond) // two more audits
		assert.Equal(t, before, report(t, svc).GetResourceVersion())
	})
	t.Run("the report is updated when the object is fixed", func(t *testing.T) {
		require.NoError(t, k.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc))
		ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		ports[0].(map[string]any)["name"] = "http2-foo"
		require.NoError(t, unstructured.SetNestedSlice(svc.Object, ports, "spec", "ports"))
		require.NoError(t, k.Client.Update(ctx, svc))
		u := eventually(t, svc, "report of the fixed Service", func(u *unstructured.Unstructured) bool {
			return u != nil && typed(t, u).Summary.Fail == 0
		})
		assert.EqualValues(t, "pass", resultOf(typed(t, u), policy.ServicePortName).Result)
	})
	t.Run("the report goes when the object does", func(t *testing.T) {
		require.NoError(t, k.Client.Delete(ctx, svc))
		// envtest runs no garbage collector: the audit removes the reports of
		// resources that are gone (a real cluster's collector is usually first).
		eventually(t, svc, "report of the deleted Service gone", func(u *unstructured.Unstructured) bool { return u == nil })
	})
	t.Run("one replica audits: it holds the Lease", func(t *testing.T) {
		lease := &coordinationv1.Lease{}
		require.NoError(t, k.Client.Get(ctx, client.ObjectKey{Namespace: leaseNamespace, Name: "meshgate-audit"}, lease))
		require.NotNil(t, lease.Spec.HolderIdentity)
		assert.NotEmpty(t, *lease.Spec.HolderIdentity)
	})
	t.Run("the audit's metrics", func(t *testing.T) {
		resp, err := http.Get(k.MetricsURL)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		text := string(body)
		for _, want := range []string{
			"meshgate_audit_last_run_timestamp_seconds ",
			"meshgate_audit_duration_seconds ",
			`meshgate_audit_findings{kind="violation",rule="virtualservice-gateway-ref",severity="enforce"} 1`,
			`meshgate_audit_findings{kind="drift",rule="edge-proxy-istio-certs",severity="warn"} 1`,
			`meshgate_audit_report_writes_total{operation="delete"}`,
		} {
			assert.True(t, strings.Contains(text, want), "metrics lack %q", want)
		}
	})
}
