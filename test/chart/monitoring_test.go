package chart_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

const monitoringOn = "monitoring: {prometheusRule: {enabled: true}, dashboard: {enabled: true}}"

// notMeshgates are the metric names the alerts may use that meshgate does
// not export: Prometheus's own per-target up, and cert-manager's expiry of
// the serving Certificate (only with certManager.enabled).
var notMeshgates = map[string]string{
	"up": "Prometheus",
	"certmanager_certificate_expiration_timestamp_seconds": "cert-manager",
}

// alertRule is one rule of the rendered PrometheusRule.
type alertRule struct {
	Alert, Expr string
	For         string
	Labels      map[string]string
}

// alerts returns the rendered PrometheusRule's rules (none when not rendered).
func alerts(t *testing.T, objs []*unstructured.Unstructured) []alertRule {
	t.Helper()
	prs := ofKind(objs, "PrometheusRule")
	if len(prs) == 0 {
		return nil
	}
	groups, _, _ := unstructured.NestedSlice(prs[0].Object, "spec", "groups")
	var out []alertRule
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			b, _ := json.Marshal(r)
			var a alertRule
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
	}
	return out
}

// dashboardExprs returns the PromQL of every panel of the rendered
// dashboard, with Grafana's variables replaced as Grafana does before it
// sends them.
func dashboardExprs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var cm corev1.ConfigMap
	named(t, objs, "ConfigMap", "meshgate-dashboard", &cm)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v: Grafana's sidecar reads grafana_dashboard: \"1\"", cm.Labels)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(cm.Data["meshgate.json"]), &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	r := strings.NewReplacer("$__rate_interval", "5m", "$namespace", "meshgate-system")
	var out []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, r.Replace(tg.Expr))
		}
	}
	return out
}

// metricNames parses expr with Prometheus's PromQL parser and returns the
// metric names it selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("PromQL %q does not parse: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			if name == "" {
				for _, m := range vs.LabelMatchers {
					if m.Name == model.MetricNameLabel {
						name = m.Value
					}
				}
			}
			names = append(names, name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("PromQL %q selects no metric", expr)
	}
	return names
}

// TestAlertsAndDashboardParse: the PrometheusRule and the dashboard are
// rendered only when enabled; every alert expression and every panel query
// parses with Prometheus's parser; the alerts cover what matters for an
// admission webhook; their thresholds follow the values.
func TestAlertsAndDashboardParse(t *testing.T) {
	objs := render(t, "")
	if n := len(ofKind(objs, "PrometheusRule")); n != 0 {
		t.Fatalf("rendered %d PrometheusRules by default", n)
	}
	for _, cm := range ofKind(objs, "ConfigMap") {
		if cm.GetLabels()["grafana_dashboard"] != "" {
			t.Fatal("rendered the dashboard by default")
		}
	}
	tests := []struct {
		name           string
		values         string
		wantAlerts     []string
		wantLatency    string // the latency alert's threshold
		wantStaleAfter string // the audit staleness threshold, seconds
	}{
		{
			name: "defaults: cert-manager, audit every hour", values: monitoringOn,
			wantAlerts: []string{"MeshgateAuditFailing", "MeshgateAuditStale", "MeshgateCertificateExpiring", "MeshgateCertificateReloadFailing",
				"MeshgateDown", "MeshgateLatencyNearTimeout", "MeshgateLiveReads", "MeshgateReviewErrors", "MeshgateWebhookErrors"},
			wantLatency: "> 1.5", wantStaleAfter: "> 10800",
		},
		{
			name: "no cert-manager, no audit, a 10s timeout", values: monitoringOn + "\n" + noCertManager + "\naudit: {interval: 0s}\nwebhook: {timeoutSeconds: 10}",
			wantAlerts:  []string{"MeshgateCertificateReloadFailing", "MeshgateDown", "MeshgateLatencyNearTimeout", "MeshgateLiveReads", "MeshgateReviewErrors", "MeshgateWebhookErrors"},
			wantLatency: "> 5",
		},
		{
			name: "audit every 90 minutes", values: monitoringOn + "\naudit: {interval: 1h30m}",
			wantAlerts: []string{"MeshgateAuditFailing", "MeshgateAuditStale", "MeshgateCertificateExpiring", "MeshgateCertificateReloadFailing",
				"MeshgateDown", "MeshgateLatencyNearTimeout", "MeshgateLiveReads", "MeshgateReviewErrors", "MeshgateWebhookErrors"},
			wantLatency: "> 1.5", wantStaleAfter: "> 16200",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			rules := alerts(t, objs)
			var got []string
			for _, r := range rules {
				got = append(got, r.Alert)
				metricNames(t, r.Expr)
				if r.Labels["severity"] == "" || r.For == "" {
					t.Errorf("%s: no severity or no for", r.Alert)
				}
				if !strings.Contains(r.Expr, `namespace="meshgate-system"`) {
					t.Errorf("%s: %q is not limited to the release's namespace", r.Alert, r.Expr)
				}
				switch r.Alert {
				case "MeshgateLatencyNearTimeout":
					if !strings.HasSuffix(r.Expr, tt.wantLatency) {
						t.Errorf("latency alert %q, want threshold %s", r.Expr, tt.wantLatency)
					}
				case "MeshgateAuditStale":
					if !strings.HasSuffix(r.Expr, tt.wantStaleAfter) {
						t.Errorf("audit staleness %q, want threshold %s", r.Expr, tt.wantStaleAfter)
					}
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.wantAlerts) {
				t.Errorf("alerts = %v, want %v", got, tt.wantAlerts)
			}
			for _, e := range dashboardExprs(t, objs) {
				metricNames(t, e)
			}
		})
	}
	t.Run("the dashboard may go to Grafana's namespace", func(t *testing.T) {
		objs := render(t, "monitoring: {dashboard: {enabled: true, namespace: grafana}}")
		var cm corev1.ConfigMap
		named(t, objs, "ConfigMap", "meshgate-dashboard", &cm)
		if cm.Namespace != "grafana" {
			t.Errorf("namespace = %q, want grafana", cm.Namespace)
		}
	})
}

// TestMonitoringUsesOnlyExportedMetrics runs meshgate against a real API
// server, sends it reviews (a Service in a mesh namespace: a change, a
// denial) and lets it audit, and reads its /metrics: every metric the alerts
// and the dashboard use must be one it exports (or, for the error counters
// that only appear once an error happened, one registered on the server's
// registry), besides notMeshgates.
func TestMonitoringUsesOnlyExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane (KUBEBUILDER_ASSETS); skipped in -short mode")
	}
	used := map[string][]string{}
	objs := render(t, monitoringOn)
	for _, r := range alerts(t, objs) {
		for _, n := range metricNames(t, r.Expr) {
			used[n] = append(used[n], "alert "+r.Alert)
		}
	}
	for _, e := range dashboardExprs(t, objs) {
		for _, n := range metricNames(t, e) {
			used[n] = append(used[n], "dashboard")
		}
	}

	c, err := cluster.Start(cluster.Options{
		CRDDirs:  []string{cluster.EmissaryCRDDir()},
		Meshgate: webhook.Options{Namespace: "meshgate-system", ServiceAccount: "meshgate", Audit: auditEvery(2 * time.Second)},
	})
	if err != nil {
		t.Fatalf("start meshgate: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "meshgate-system"}}, // the audit's leader election
		{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Labels: map[string]string{"istio-injection": "enabled"}}},
	} {
		if err := c.Client.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	for i, port := range []string{"", "http2foo"} { // named by the mutation; denied
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Namespace: "mesh"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}, Ports: []corev1.ServicePort{{Name: port, Port: 80}}}}
		_ = c.Client.Create(ctx, svc)
	}

	var exported map[string]bool
	deadline := time.Now().Add(time.Minute)
	for {
		exported = scrape(t, c.MetricsURL)
		if exported["meshgate_audit_runs_total"] && exported["controller_runtime_webhook_latency_seconds_bucket"] || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch {
		case exported[n]:
		case notMeshgates[n] != "":
			t.Logf("%s: %s's metric, not meshgate's (%v)", n, notMeshgates[n], used[n])
		case registered(n):
			t.Logf("%s: registered, no series yet (%v)", n, used[n])
		default:
			t.Errorf("%s (used by %v) is not a metric meshgate exports", n, used[n])
		}
	}
}

// scrape reads url in Prometheus's text format and returns the names of the
// series it holds (a histogram's _bucket, _sum and _count).
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec,noctx // the test's own 127.0.0.1 server
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]bool{}
	for name, f := range families {
		out[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[name+s] = true
			}
		}
	}
	return out
}

// registered reports whether a collector named name is registered on
// controller-runtime's registry, the one the in-process server exports: a
// new collector of that name is refused.
func registered(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := metrics.Registry.Register(probe); err != nil {
		return true
	}
	metrics.Registry.Unregister(probe)
	return false
}

// auditEvery is the audit's options for a run every interval.
func auditEvery(interval time.Duration) audit.Options {
	return audit.Options{Interval: interval, Format: audit.FormatOpenReports}
}
