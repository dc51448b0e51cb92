package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
)

func reportOf(t *testing.T, ref string, format string, now time.Time) *unstructured.Unstructured {
	t.Helper()
	objs := scenario(t)
	got := byRef(Review(context.Background(), engine.New(nil), ruletest.SyncedWorldOf(t, objs...), objs, 1))
	r, ok := got[ref]
	require.True(t, ok, ref)
	u, err := BuildReport(r, format, now)
	require.NoError(t, err)
	return u
}

func TestBuildReport(t *testing.T) {
	now := time.Unix(1700000000, 0)
	// Every rule that reviews a kind and reports nothing on the object passes.
	rulesFor := func(group, kind string) int64 {
		return int64(len(policy.RulesFor(schema.GroupKind{Group: group, Kind: kind})))
	}
	services, deployments := rulesFor("", "Service"), rulesFor("apps", "Deployment")
	tests := []struct {
		name, ref, format, kind, apiVersion string
		fail, warn, pass                    int64
	}{
		{"a Service with an unreadable port name fails service-port-name and passes the other Service rules",
			"Service apps/reviews", FormatOpenReports, "Report", "openreports.io/v1alpha1", 1, 0, services - 1},
		{"a Deployment's pods' drift is a warning on the Deployment",
			"Deployment emissary/emissary-ingress", FormatOpenReports, "Report", "openreports.io/v1alpha1", 0, 1, deployments - 1},
		{"the wg-policy format has the same results",
			"Service apps/reviews", FormatPolicyReport, "PolicyReport", "wgpolicyk8s.io/v1alpha2", 1, 0, services - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := reportOf(t, tc.ref, tc.format, now)
			assert.Equal(t, tc.kind, u.GetKind())
			assert.Equal(t, tc.apiVersion, u.GetAPIVersion())
			assert.Equal(t, ReportPrefix+"uid-", u.GetName()[:len(ReportPrefix)+4])
			require.Len(t, u.GetOwnerReferences(), 1)
			assert.Equal(t, u.GetName(), ReportPrefix+string(u.GetOwnerReferences()[0].UID), "named after the resource it is owned by")
			assert.Equal(t, ManagedBy, u.GetLabels()[ManagedByLabel])
			for key, want := range map[string]int64{"fail": tc.fail, "warn": tc.warn, "pass": tc.pass} {
				got, _, _ := unstructured.NestedInt64(u.Object, "summary", key)
				assert.Equal(t, want, got, key)
			}
			_, hasSource := u.Object["source"]
			assert.Equal(t, tc.format == FormatOpenReports, hasSource, "only OpenReports has a report-level source")
		})
	}
}

func TestSameReportIgnoresTimestamps(t *testing.T) {
	a := reportOf(t, "Service apps/reviews", FormatOpenReports, time.Unix(1, 0))
	b := reportOf(t, "Service apps/reviews", FormatOpenReports, time.Unix(2, 0))
	assert.True(t, SameReport(a, b), "an audit that finds the same writes nothing")
	results, _, _ := unstructured.NestedSlice(b.Object, "results")
	results[0].(map[string]any)["message"] = "other"
	require.NoError(t, unstructured.SetNestedSlice(b.Object, results, "results"))
	assert.False(t, SameReport(a, b))
}

func TestBuildReportOfAnUnreviewableResource(t *testing.T) {
	objs := scenario(t)
	r := Resource{Object: objs[len(objs)-1], Ref: policy.ObjectRef{Kind: "VirtualService"}, Rules: []string{policy.VirtualServiceGatewayRef}, Err: errors.New("the World could not answer")}
	u, err := BuildReport(r, FormatOpenReports, time.Now())
	require.NoError(t, err)
	n, _, _ := unstructured.NestedInt64(u.Object, "summary", "error")
	assert.Equal(t, int64(1), n)
}
