package intree

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
)

// TestValidatingPoliciesTypeCheckAgainstTheServedSchemas runs the type
// checker that fills a ValidatingAdmissionPolicy's status.typeChecking (the
// controller manager's, which this control plane does not run) on every
// generated ValidatingAdmissionPolicy, against the schemas this API server
// serves for the kinds they match (core Services, the Istio and Emissary
// CRDs): no expression may fail to type-check there.
func TestValidatingPoliciesTypeCheckAgainstTheServedSchemas(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(k.Config)
	require.NoError(t, err)
	tc := &validating.TypeChecker{
		SchemaResolver: &resolver.ClientDiscoveryResolver{Discovery: dc},
		RestMapper:     restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
	}
	configs := map[string]string{
		"defaults":      "",
		"warn, legacy":  "{edgeProxy: {certMode: secret}, rules: {mapping-tls-context: warn, virtualservice-gateway-ref: warn, service-port-name: warn}}",
		"suppressions":  "{suppressions: [{rule: service-port-name, namespace: 'legacy-*', selector: {matchExpressions: [{key: tier, operator: In, values: [a]}]}}, {rule: mapping-tls-context, name: x}]}",
		"other config":  "{mappings: {tlsContext: mesh-upstream, istioSecret: mesh-certs}, edgeProxy: {namespaces: [edge]}, gatewayRefs: {allowedNamespaces: []}}",
		"scope all":     "{servicePorts: {scope: all}}",
		"no selectors":  "{edgeProxy: {selectors: []}}",
		"edge selector": "{edgeProxy: {selectors: [{app: edge}]}}",
	}
	// The checker sees the served schemas: a field they do not have is a
	// warning, on a core kind and on a CRD alike.
	for _, kind := range []policy.Kind{policy.ServiceKind, policy.VirtualServiceKind, policy.TLSContextKind} {
		bogus := &admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: intree.MatchKinds([]policy.Kind{kind}, nil),
			Validations:      []admissionregistrationv1.Validation{{Expression: "object.spec.noSuchField == 'x'"}},
		}}
		assert.NotEmpty(t, tc.Check(bogus), "%s: the checker must see the schema", kind.Kind)
	}
	checked := 0
	for name, doc := range configs {
		cfg, err := policy.ParseConfig([]byte(doc))
		require.NoError(t, err, name)
		set, err := intree.Generate(cfg, intree.Options{ExcludeNamespaces: []string{"meshgate-system"}, ServiceAccountUser: "system:serviceaccount:meshgate-system:meshgate"})
		require.NoError(t, err, name)
		for _, rs := range set.Rules {
			for i := range rs.Validating {
				p := &rs.Validating[i]
				warnings := tc.Check(p)
				assert.Empty(t, warnings, "%s: %s", name, p.Name)
				checked++
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 3*len(configs), "every configuration has at least three validating policies")
}
