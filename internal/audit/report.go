package audit

import (
	"fmt"
	"maps"
	"strconv"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/internal/policy"
)

// Report formats.
const (
	// FormatOpenReports writes openreports.io/v1alpha1 Report and ClusterReport.
	FormatOpenReports = "openreports"
	// FormatPolicyReport writes wgpolicyk8s.io/v1alpha2 PolicyReport and
	// ClusterPolicyReport, for dashboards that read only those.
	FormatPolicyReport = "policyreport"
)

// Formats lists the report formats, for flag help.
var Formats = []string{FormatOpenReports, FormatPolicyReport}

// Source is the source of every report and result meshgate writes.
const Source = "meshgate"

// Labels on every report meshgate writes.
const (
	// ManagedByLabel selects meshgate's reports.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is its value.
	ManagedBy = "meshgate"
)

// ReportPrefix starts the name of every report; the resource's UID follows,
// so a report names its resource and never collides with another tool's
// reports (which use the bare UID).
const ReportPrefix = "meshgate-"

// Kinds is the pair of report kinds of a format: the namespaced one and the
// cluster-scoped one.
type Kinds struct {
	Namespaced, Cluster schema.GroupVersionResource
	NamespacedKind      string
	ClusterKind         string
}

// KindsOf returns the report kinds of format.
func KindsOf(format string) (Kinds, error) {
	switch format {
	case FormatOpenReports, "":
		gv := openreports.SchemeGroupVersion
		return Kinds{Namespaced: gv.WithResource("reports"), Cluster: gv.WithResource("clusterreports"), NamespacedKind: "Report", ClusterKind: "ClusterReport"}, nil
	case FormatPolicyReport:
		gv := schema.GroupVersion{Group: "wgpolicyk8s.io", Version: "v1alpha2"}
		return Kinds{Namespaced: gv.WithResource("policyreports"), Cluster: gv.WithResource("clusterpolicyreports"), NamespacedKind: "PolicyReport", ClusterKind: "ClusterPolicyReport"}, nil
	}
	return Kinds{}, fmt.Errorf("unknown report format %q (want openreports or policyreport)", format)
}

// Result values, as OpenReports spells them.
const (
	ResultPass  = "pass"
	ResultFail  = "fail"
	ResultWarn  = "warn"
	ResultError = "error"
	ResultSkip  = "skip"
)

// resultOf maps a finding's mode to a report result and severity.
func resultOf(m policy.Mode) (openreports.Result, openreports.ResultSeverity) {
	switch m {
	case policy.Enforce:
		return ResultFail, "high"
	case policy.Warn:
		return ResultWarn, "medium"
	}
	return ResultSkip, "info"
}

// BuildReport returns the report of one audited resource, in format, stamped
// now: one result per finding, a pass for every rule that reviewed it and
// found nothing, an error for every rule when it could not be reviewed. The
// report lives in the resource's namespace (a cluster-scoped report for a
// cluster-scoped resource) and is owned by it.
func BuildReport(r Resource, format string, now time.Time) (*unstructured.Unstructured, error) {
	kinds, err := KindsOf(format)
	if err != nil {
		return nil, err
	}
	u := r.Object
	ts := metav1.Timestamp{Seconds: now.Unix()}
	rep := &openreports.Report{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ReportPrefix + string(u.GetUID()),
			Namespace: u.GetNamespace(),
			Labels:    map[string]string{ManagedByLabel: ManagedBy},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName(), UID: u.GetUID(),
			}},
		},
		Source: Source,
		Scope: &corev1.ObjectReference{
			APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), UID: u.GetUID(),
		},
	}
	add := func(res openreports.ReportResult) {
		res.Source, res.Timestamp, res.Scored = Source, ts, true
		if res.Rule == "" {
			res.Rule = res.Policy
		}
		switch res.Result {
		case ResultPass:
			rep.Summary.Pass++
		case ResultFail:
			rep.Summary.Fail++
		case ResultWarn:
			rep.Summary.Warn++
		case ResultError:
			rep.Summary.Error++
		case ResultSkip:
			rep.Summary.Skip++
		}
		rep.Results = append(rep.Results, res)
	}
	found := map[string]bool{}
	if r.Err != nil {
		for _, rule := range r.Rules {
			add(openreports.ReportResult{Policy: rule, Result: ResultError, Description: r.Err.Error()})
		}
	}
	for _, f := range r.Findings {
		found[f.Rule] = true
		result, severity := resultOf(f.Mode)
		props := map[string]string{"kind": f.Kind, "mode": string(f.Mode)}
		if f.Field != "" {
			props["field"] = f.Field
		}
		if r.Pods > 0 {
			props["pods"] = strconv.Itoa(r.Pods)
			props["affectedPods"] = strconv.Itoa(r.Affected)
		}
		add(openreports.ReportResult{Policy: f.Rule, Category: f.Kind, Severity: severity, Result: result, Description: f.Message, Properties: props})
	}
	if r.Err == nil {
		for _, rule := range r.Rules {
			if !found[rule] {
				add(openreports.ReportResult{Policy: rule, Result: ResultPass, Description: "passed"})
			}
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(rep)
	if err != nil {
		return nil, fmt.Errorf("report of %s: %w", r.Ref, err)
	}
	out := &unstructured.Unstructured{Object: m}
	gv := kinds.Namespaced.GroupVersion()
	out.SetAPIVersion(gv.String())
	out.SetKind(kinds.NamespacedKind)
	if u.GetNamespace() == "" {
		out.SetKind(kinds.ClusterKind)
	}
	unstructured.RemoveNestedField(out.Object, "metadata", "creationTimestamp")
	if format == FormatPolicyReport {
		// A wg-policy report has the same fields but no report-level source.
		unstructured.RemoveNestedField(out.Object, "source")
	}
	return out, nil
}

// SameReport reports whether the stored report have holds what want says
// (scope, owner, summary and results, timestamps aside): then it is not
// written again.
func SameReport(have, want *unstructured.Unstructured) bool {
	for _, k := range []string{"scope", "summary", "source"} {
		if !equality.Semantic.DeepEqual(have.Object[k], want.Object[k]) {
			return false
		}
	}
	if !equality.Semantic.DeepEqual(have.GetOwnerReferences(), want.GetOwnerReferences()) ||
		have.GetLabels()[ManagedByLabel] != ManagedBy {
		return false
	}
	return equality.Semantic.DeepEqual(untimed(have), untimed(want))
}

func untimed(u *unstructured.Unstructured) []any {
	rs, _, _ := unstructured.NestedSlice(u.Object, "results")
	out := make([]any, len(rs))
	for i, r := range rs {
		m, ok := r.(map[string]any)
		if !ok {
			out[i] = r
			continue
		}
		c := maps.Clone(m)
		delete(c, "timestamp")
		out[i] = c
	}
	return out
}
