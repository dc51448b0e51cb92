package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
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

	resources := func(rules []admissionregistrationv1.RuleWithOperations) map[string][]admissionregistrationv1.OperationType {
		out := map[string][]admissionregistrationv1.OperationType{}
		for _, r := range rules {
			for _, res := range r.Resources {
				out[r.APIGroups[0]+"/"+res] = r.Operations
			}
		}
		return out
	}
	create := []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	createUpdate := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	assert.Equal(t, map[string][]admissionregistrationv1.OperationType{
		"/pods": create, "/services": createUpdate, "getambassador.io/mappings": createUpdate,
	}, resources(mw.Rules))
	assert.Equal(t, map[string][]admissionregistrationv1.OperationType{
		"/pods": create, "/services": createUpdate,
		"networking.istio.io/virtualservices":  createUpdate,
		"gateway.networking.k8s.io/httproutes": createUpdate,
		"gateway.networking.k8s.io/grpcroutes": createUpdate,
		"gateway.networking.k8s.io/tlsroutes":  createUpdate,
		"gateway.networking.k8s.io/tcproutes":  createUpdate,
		"gateway.networking.k8s.io/udproutes":  createUpdate,
		"getambassador.io/mappings":            createUpdate,
		"getambassador.io/tlscontexts":         createUpdate,
	}, resources(vw.Rules))
}
