package intree_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
)

// judge runs the policy p on svc (an UPDATE of old when old is not nil) with
// the cost budget budget, and returns the messages of its failed validations
// and whether it exceeded the budget.
func judge(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, svc, old *corev1.Service, budget int64) ([]string, bool) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"istio-injection": "enabled", corev1.LabelMetadataName: "shop"}}}
	r := admissionReview{obj: defaulted(svc), gvk: corev1.SchemeGroupVersion.WithKind("Service"), resource: "services", ns: ns, budget: budget}
	if old != nil {
		r.old = defaulted(old)
	}
	denials, _, failed := decide(validator(t, p), r)
	return denials, failed
}

func service(names ...string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "shop"}}
	for i, n := range names {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: n, Port: int32(1000 + i)})
	}
	return svc
}

// TestServicePortNamePolicyOnUpdate: on UPDATE the policy reports only what
// the old object did not have (same field), its twin only what it had, with
// policy.ExistingNote; with updates.allowExistingFindings off the policy
// reports everything and the twin nothing.
func TestServicePortNamePolicyOnUpdate(t *testing.T) {
	policies := func(doc string) (main, twin admissionregistrationv1.ValidatingAdmissionPolicy) {
		set, err := intree.Generate(mustConfig(t, doc), intree.Options{})
		require.NoError(t, err)
		rs := ruleSet(t, set, policy.ServicePortName)
		require.Len(t, rs.Validating, 2)
		return rs.Validating[0], rs.Validating[1]
	}
	tests := []struct {
		name               string
		config             string
		old, new           *corev1.Service
		wantMain, wantTwin []string // fields named, in order
	}{
		{name: "create: everything is new", new: service("web"), wantMain: []string{"spec.ports[0].name"}},
		{name: "unchanged bad port: the twin warns", old: service("web"), new: service("web"), wantTwin: []string{"spec.ports[0].name"}},
		{name: "another bad port: new", old: service("web"), new: service("web", "metrics"), wantMain: []string{"spec.ports[1].name"}, wantTwin: []string{"spec.ports[0].name"}},
		{name: "renamed but still bad: the same field", old: service("web"), new: service("www"), wantTwin: []string{"spec.ports[0].name"}},
		{name: "fixed", old: service("web"), new: service("http-web")},
		{name: "switch off: everything counts", config: "updates: {allowExistingFindings: false}", old: service("web"), new: service("web"), wantMain: []string{"spec.ports[0].name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			main, twin := policies(tc.config)
			got, exceeded := judge(t, &main, tc.new, tc.old, celconfig.RuntimeCELCostBudget)
			require.False(t, exceeded)
			assertFields(t, tc.wantMain, got, false)
			if tc.old == nil {
				return // the twin matches UPDATE only (a matchCondition)
			}
			got, exceeded = judge(t, &twin, tc.new, tc.old, celconfig.RuntimeCELCostBudget)
			require.False(t, exceeded)
			assertFields(t, tc.wantTwin, got, true)
		})
	}
}

func assertFields(t *testing.T, want, got []string, existing bool) {
	t.Helper()
	if len(want) == 0 {
		assert.Empty(t, got)
		return
	}
	require.Len(t, got, 1, "one message per policy")
	for _, f := range want {
		assert.Contains(t, got[0], ": "+f+": ")
	}
	assert.Equal(t, len(want), strings.Count(got[0], "[service-port-name]"), got[0])
	assert.Equal(t, existing, strings.Contains(got[0], policy.ExistingNote), got[0])
}

// TestServicePortNamePolicyCostIsBounded: the policy and its twin evaluate
// within the per-expression limit on the costliest Service they check (every
// port bad, long names, an UPDATE), say so instead of checking a Service
// with more ports, and cost next to nothing on 20,000 ports.
func TestServicePortNamePolicyCostIsBounded(t *testing.T) {
	set, err := intree.Generate(policy.DefaultConfig(), intree.Options{})
	require.NoError(t, err)
	rs := ruleSet(t, set, policy.ServicePortName)
	long := func(n int) *corev1.Service {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("x-y-z-%s-%05d", strings.Repeat("a", 46), i)
		}
		return service(names...)
	}
	worst := long(256)
	worst.Spec.Ports[0].AppProtocol = ptr.To("Kubernetes.io/H2C")
	for i := range rs.Validating {
		p := &rs.Validating[i]
		// An UPDATE: the twin runs too, and oldObject is read.
		_, exceeded := judge(t, p, worst, worst, celconfig.PerCallLimit)
		assert.False(t, exceeded, "%s: 256 bad ports within %d", p.Name, celconfig.PerCallLimit)
	}
	main := &rs.Validating[0]
	got, exceeded := judge(t, main, long(20000), nil, 10_000)
	require.False(t, exceeded, "20,000 ports cost under 10,000")
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "[service-port-name] Service shop/s: spec.ports: this Service has 20000 ports, more than the 256 the in-tree policy checks")
	got, _ = judge(t, main, long(257), nil, celconfig.PerCallLimit)
	assert.Len(t, got, 1)
	got, _ = judge(t, main, long(256), nil, celconfig.PerCallLimit)
	require.Len(t, got, 1)
	assert.True(t, strings.HasPrefix(got[0], "256 problems, the first 8: "), got[0][:80])
}

// judgeObject runs p on an UPDATE of old to obj (unstructured, in
// namespace ns) and returns the messages of its failed validations.
func judgeObject(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, obj, old *unstructured.Unstructured, ns, resource string) []string {
	t.Helper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{corev1.LabelMetadataName: ns}}}
	denials, evalErr, failed := decide(validator(t, p), admissionReview{obj: obj, old: old, gvk: obj.GroupVersionKind(), resource: resource, ns: nsObj})
	require.False(t, failed, "evaluation error: %s", evalErr)
	return denials
}

// TestMappingTLSContextPolicyOnUpdate: intree.LinesUpdate gives
// mapping-tls-context's policy the same UPDATE behaviour: what the old
// TLSContext had is left to the twin, with policy.ExistingNote.
func TestMappingTLSContextPolicyOnUpdate(t *testing.T) {
	tc := func(secret, alpn string, labels map[string]string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "getambassador.io/v3alpha1", "kind": "TLSContext",
			"metadata": map[string]any{"name": "istio-upstream", "namespace": "emissary"},
			"spec":     map[string]any{"secret": secret, "alpn_protocols": alpn},
		}}
		u.SetLabels(labels)
		return u
	}
	old := tc("istio-certs", "h2", nil)
	tests := []struct {
		name               string
		config             string
		new                *unstructured.Unstructured
		wantMain, wantTwin []string
	}{
		{name: "a label: the old finding is a warning", new: tc("istio-certs", "h2", map[string]string{"team": "edge"}), wantTwin: []string{"spec.alpn_protocols"}},
		{name: "a wrong secret is new", new: tc("other", "h2", nil), wantMain: []string{"spec.secret"}, wantTwin: []string{"spec.alpn_protocols"}},
		{name: "switch off", config: "updates: {allowExistingFindings: false}", new: tc("istio-certs", "h2", nil), wantMain: []string{"spec.alpn_protocols"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			judgeUpdate(t, mustConfig(t, tt.config), policy.MappingTLSContext, tt.new, old, "emissary", "tlscontexts", tt.wantMain, tt.wantTwin)
		})
	}
}

// TestVirtualServiceGatewayRefPolicyOnUpdate: the same for
// virtualservice-gateway-ref's policy (intree.LinesUpdate).
func TestVirtualServiceGatewayRefPolicyOnUpdate(t *testing.T) {
	vs := func(gateways ...any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
			"metadata": map[string]any{"name": "reviews", "namespace": "shop"},
			"spec":     map[string]any{"hosts": []any{"reviews"}, "gateways": gateways},
		}}
	}
	// Gateway names that are not DNS labels: what the policy reports itself
	// (references into other namespaces depend on the Gateway's sharing, which
	// only the webhook reads).
	old := vs("Edge_GW")
	tests := []struct {
		name               string
		config             string
		new                *unstructured.Unstructured
		wantMain, wantTwin []string
	}{
		{name: "unchanged: the old finding is a warning", new: vs("Edge_GW"), wantTwin: []string{"spec.gateways[0]"}},
		{name: "another malformed reference is new", new: vs("Edge_GW", "shop/Other_GW"), wantMain: []string{"spec.gateways[1]"}, wantTwin: []string{"spec.gateways[0]"}},
		{name: "switch off", config: "updates: {allowExistingFindings: false}", new: vs("Edge_GW"), wantMain: []string{"spec.gateways[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			judgeUpdate(t, mustConfig(t, tt.config), policy.VirtualServiceGatewayRef, tt.new, old, "shop", "virtualservices", tt.wantMain, tt.wantTwin)
		})
	}
}

// judgeUpdate evaluates rule's two validating policies (the main one and its
// twin for existing findings) on the update old -> obj, and checks that the
// main one reports exactly the fields wantMain (none: silent) and the twin
// exactly wantTwin, with the note that the old object had them.
func judgeUpdate(t *testing.T, cfg *policy.Config, rule string, obj, old *unstructured.Unstructured, ns, resource string, wantMain, wantTwin []string) {
	t.Helper()
	set, err := intree.Generate(cfg, intree.Options{})
	require.NoError(t, err)
	rs := ruleSet(t, set, rule)
	require.Len(t, rs.Validating, 2)
	for i, want := range [][]string{wantMain, wantTwin} {
		got := judgeObject(t, &rs.Validating[i], obj, old, ns, resource)
		if len(want) == 0 {
			assert.Empty(t, got, rs.Validating[i].Name)
			continue
		}
		require.Len(t, got, 1, rs.Validating[i].Name)
		for _, f := range want {
			assert.Contains(t, got[0], ": "+f+": ")
		}
		assert.Equal(t, len(want), strings.Count(got[0], "["+rule+"]"), got[0])
		assert.Equal(t, i == 1, strings.Contains(got[0], policy.ExistingNote), got[0])
	}
}
