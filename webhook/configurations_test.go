package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"
)

func TestConfigurationsRegisterWhatTheHandlersServe(t *testing.T) {
	m, v := Configurations(RegistrationOptions{
		ClientConfig:      URLClientConfig("https://127.0.0.1:9443", []byte("ca")),
		ExcludeNamespaces: []string{"meshgate-system"},
	})
	require.Len(t, m.Webhooks, 1)
	require.Len(t, v.Webhooks, 1)
	mw, vw := m.Webhooks[0], v.Webhooks[0]
	assert.Equal(t, "https://127.0.0.1:9443/mutate", *mw.ClientConfig.URL)
	assert.Equal(t, "https://127.0.0.1:9443/validate", *vw.ClientConfig.URL)
	for _, w := range []struct {
		side   *admissionregistrationv1.SideEffectClass
		fail   *admissionregistrationv1.FailurePolicyType
		match  *admissionregistrationv1.MatchPolicyType
		review []string
		ns     []string
	}{
		{mw.SideEffects, mw.FailurePolicy, mw.MatchPolicy, mw.AdmissionReviewVersions, mw.NamespaceSelector.MatchExpressions[0].Values},
		{vw.SideEffects, vw.FailurePolicy, vw.MatchPolicy, vw.AdmissionReviewVersions, vw.NamespaceSelector.MatchExpressions[0].Values},
	} {
		assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *w.side, "dry-run requests must reach meshgate")
		assert.Equal(t, admissionregistrationv1.Fail, *w.fail)
		assert.Equal(t, admissionregistrationv1.Equivalent, *w.match)
		assert.Equal(t, []string{"v1"}, w.review)
		assert.Equal(t, []string{"kube-system", "kube-node-lease", "meshgate-system"}, w.ns)
	}
	assert.Equal(t, admissionregistrationv1.IfNeededReinvocationPolicy, *mw.ReinvocationPolicy)

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
		rule(create, "", v1, "pods"),
		rule(createUpdate, "", v1, "services"),
		rule(createUpdate, "getambassador.io", emissary, "mappings"),
	}, mw.Rules, "mutating: the kinds the mutation rules review")
	assert.Equal(t, []admissionregistrationv1.RuleWithOperations{
		rule(create, "", v1, "pods"),
		rule(createUpdate, "", v1, "services"),
		rule(createUpdate, "gateway.networking.k8s.io", []string{"*"}, "grpcroutes", "httproutes", "tcproutes", "tlsroutes", "udproutes"),
		rule(createUpdate, "getambassador.io", emissary, "mappings", "tlscontexts"),
		rule(createUpdate, "networking.istio.io", []string{"v1", "v1beta1", "v1alpha3"}, "virtualservices"),
	}, vw.Rules, "validating: every kind a rule reviews; workload templates are left to meshgate check")
}
