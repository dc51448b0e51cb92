package webhook

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/policy"
)

func TestConfigurationsRegisterWhatTheHandlersServe(t *testing.T) {
	m, v := Configurations(RegistrationOptions{
		ClientConfig:      URLClientConfig("https://127.0.0.1:9443", []byte("ca")),
		ExcludeNamespaces: []string{"meshgate-system"},
	})
	var mutNames, valNames []string
	for _, w := range m.Webhooks {
		mutNames = append(mutNames, w.Name)
		assert.Equal(t, "https://127.0.0.1:9443/mutate", *w.ClientConfig.URL, w.Name)
		assert.Equal(t, admissionregistrationv1.IfNeededReinvocationPolicy, *w.ReinvocationPolicy, w.Name)
		assertCommon(t, w.Name, w.SideEffects, w.FailurePolicy, w.MatchPolicy, w.AdmissionReviewVersions, w.NamespaceSelector.MatchExpressions[0].Values)
	}
	for _, w := range v.Webhooks {
		valNames = append(valNames, w.Name)
		assert.Equal(t, "https://127.0.0.1:9443/validate", *w.ClientConfig.URL, w.Name)
		assertCommon(t, w.Name, w.SideEffects, w.FailurePolicy, w.MatchPolicy, w.AdmissionReviewVersions, w.NamespaceSelector.MatchExpressions[0].Values)
	}
	assert.Equal(t, []string{
		"mutate.meshgate.io",
		"edge-proxy-pods-injection.mutate.meshgate.io",
		"edge-proxy-pods-revision.mutate.meshgate.io",
		"edge-proxy-pods-injection-off.mutate.meshgate.io",
		"edge-proxy-pods-no-injection-label.mutate.meshgate.io",
		"mesh-services-injection.mutate.meshgate.io",
		"mesh-services-revision.mutate.meshgate.io",
		"mesh-services-ambient.mutate.meshgate.io",
		"mesh-services-injection-off-ambient.mutate.meshgate.io",
	}, mutNames)
	assert.Equal(t, append([]string{"validate.meshgate.io", "cross-namespace-routes.validate.meshgate.io"},
		strings.Split(strings.ReplaceAll(strings.Join(mutNames[1:], ","), "mutate", "validate"), ",")...), valNames)

	// The registered rules, exactly: group, versions, operations and resources.
	rule := func(ops []admissionregistrationv1.OperationType, group string, versions []string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: versions, Resources: resources, Scope: ptr.To(admissionregistrationv1.NamespacedScope),
		}}
	}
	create := []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	createUpdate := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	v1, emissary := []string{"v1"}, []string{"v2", "v3alpha1"}
	assert.Equal(t, []admissionregistrationv1.RuleWithOperations{
		rule(createUpdate, "getambassador.io", emissary, "mappings"),
	}, m.Webhooks[0].Rules, "mutating: the kinds the mutation rules review without a narrower scope")
	assert.Equal(t, []admissionregistrationv1.RuleWithOperations{
		rule(createUpdate, "getambassador.io", emissary, "mappings", "tlscontexts"),
		rule(createUpdate, "networking.istio.io", []string{"v1", "v1beta1", "v1alpha3"}, "virtualservices"),
	}, v.Webhooks[0].Rules, "validating: every other kind a rule reviews; workload templates are left to meshgate check")
	assert.Equal(t, []admissionregistrationv1.RuleWithOperations{
		rule(createUpdate, "gateway.networking.k8s.io", []string{"*"}, "grpcroutes", "httproutes", "tcproutes", "tlsroutes", "udproutes"),
	}, v.Webhooks[1].Rules, "validating: the routes with a cross-namespace parentRef")
	assert.Equal(t, "cross-namespace-parent", v.Webhooks[1].MatchConditions[0].Name)
	for i := 1; i < len(m.Webhooks); i++ {
		mw, vw := m.Webhooks[i], v.Webhooks[i+1]
		want := rule(create, "", v1, "pods")
		if strings.HasPrefix(mw.Name, "mesh-services") {
			want = rule(createUpdate, "", v1, "services")
		}
		assert.Equal(t, []admissionregistrationv1.RuleWithOperations{want}, mw.Rules, mw.Name)
		assert.Equal(t, []admissionregistrationv1.RuleWithOperations{want}, vw.Rules, vw.Name)
		assert.NotEmpty(t, mw.MatchConditions, mw.Name)
		assert.Equal(t, mw.MatchConditions, vw.MatchConditions, vw.Name)
		assert.Equal(t, mw.NamespaceSelector, vw.NamespaceSelector, vw.Name)
	}
}

// TestOutageDefaultsPerWebhook: only the Pod mutation fails closed; every
// other webhook fails open, with a shorter timeout; an explicit policy and
// timeout replace every webhook's own.
func TestOutageDefaultsPerWebhook(t *testing.T) {
	fail, ignore := admissionregistrationv1.Fail, admissionregistrationv1.Ignore
	tests := []struct {
		name        string
		opts        RegistrationOptions
		wantPods    admissionregistrationv1.FailurePolicyType
		wantOthers  admissionregistrationv1.FailurePolicyType
		wantPodsT   int32
		wantOthersT int32
	}{
		{name: "defaults: the Pod mutation fails closed, the rest open", wantPods: fail, wantOthers: ignore, wantPodsT: 5, wantOthersT: 3},
		{name: "an explicit Fail covers every webhook", opts: RegistrationOptions{FailurePolicy: fail, TimeoutSeconds: 10}, wantPods: fail, wantOthers: fail, wantPodsT: 10, wantOthersT: 10},
		{name: "an explicit Ignore covers the Pod mutation too", opts: RegistrationOptions{FailurePolicy: ignore}, wantPods: ignore, wantOthers: ignore, wantPodsT: 5, wantOthersT: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.ClientConfig = URLClientConfig("https://127.0.0.1:9443", nil)
			m, v := Configurations(tt.opts)
			pods := 0
			for _, w := range m.Webhooks {
				if strings.HasPrefix(w.Name, "edge-proxy-pods") {
					pods++
					assert.Equal(t, tt.wantPods, *w.FailurePolicy, w.Name)
					assert.Equal(t, tt.wantPodsT, *w.TimeoutSeconds, w.Name)
					continue
				}
				assert.Equal(t, tt.wantOthers, *w.FailurePolicy, w.Name)
				assert.Equal(t, tt.wantOthersT, *w.TimeoutSeconds, w.Name)
			}
			assert.NotZero(t, pods, "no Pod mutation webhook")
			for _, w := range v.Webhooks {
				assert.Equal(t, tt.wantOthers, *w.FailurePolicy, "validating %s", w.Name)
				assert.Equal(t, tt.wantOthersT, *w.TimeoutSeconds, "validating %s", w.Name)
			}
		})
	}
}

func assertCommon(t *testing.T, name string, side *admissionregistrationv1.SideEffectClass, fail *admissionregistrationv1.FailurePolicyType,
	match *admissionregistrationv1.MatchPolicyType, review, excluded []string) {
	t.Helper()
	assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *side, "%s: dry-run requests must reach meshgate", name)
	assert.Equal(t, admissionregistrationv1.Equivalent, *match, name)
	assert.Equal(t, []string{"v1"}, review, name)
	assert.Equal(t, []string{"kube-system", "kube-node-lease", "meshgate-system"}, excluded, name)
}

// registrationConfigs are configurations whose settings shape the
// registration differently.
func registrationConfigs(t *testing.T) map[string]*policy.Config {
	t.Helper()
	out := map[string]*policy.Config{"defaults": policy.DefaultConfig()}
	for name, doc := range map[string]string{
		"custom selectors, Service ports everywhere": `{edgeProxy: {selectors: [{app.kubernetes.io/name: emissary-ingress}, {gateway: edge, tier: front}]}, servicePorts: {scope: all}}`,
		"legacy secret mode, no selectors":           `{edgeProxy: {certMode: secret, selectors: []}}`,
	} {
		cfg, err := policy.ParseConfig([]byte(doc))
		require.NoError(t, err, name)
		out[name] = cfg
	}
	return out
}

// TestMatchConditionsNeverReadTheNamespace: the API server leaves
// namespaceObject empty when it evaluates a webhook's match conditions, so a
// condition on it would silently never (or always) hold; a namespace's labels
// belong in the namespace selector.
func TestMatchConditionsNeverReadTheNamespace(t *testing.T) {
	for name, cfg := range registrationConfigs(t) {
		conds := allMatchConditions(cfg)
		require.NotEmpty(t, conds, name)
		for _, c := range conds {
			assert.NotContains(t, c.Expression, "namespaceObject", "%s: condition %s", name, c.Name)
		}
	}
	// And a scope that tries is refused when its rule registers.
	err := validScopeForTest(&policy.AdmissionScope{ID: "bad", Variants: map[string][]policy.AdmissionWebhook{"": {{
		Conditions: []admissionregistrationv1.MatchCondition{{Name: "ns", Expression: "namespaceObject.metadata.labels['a'] == 'b'"}},
	}}}})
	require.ErrorContains(t, err, "namespaceObject")
}

// allMatchConditions returns every match condition of the configurations
// built from cfg.
func allMatchConditions(cfg *policy.Config) []admissionregistrationv1.MatchCondition {
	m, v := Configurations(RegistrationOptions{ClientConfig: URLClientConfig("https://127.0.0.1:9443", nil), Config: cfg})
	var conds []admissionregistrationv1.MatchCondition
	for _, w := range m.Webhooks {
		conds = append(conds, w.MatchConditions...)
	}
	for _, w := range v.Webhooks {
		conds = append(conds, w.MatchConditions...)
	}
	return conds
}

// validScopeForTest registers a throwaway rule with scope s and returns
// Register's complaint.
func validScopeForTest(s *policy.AdmissionScope) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = r.(error)
		}
	}()
	policy.RegisterScoped(policy.Rule{
		ID: "scope-test", Summary: "scope test", Default: policy.Warn,
		Reviews: []policy.Review{{Kinds: []policy.Kind{policy.ServiceKind}, Check: policy.ServiceFunc(nil), Admission: s}},
	})()
	return nil
}
