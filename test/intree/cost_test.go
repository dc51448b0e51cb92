package intree

import (
	"fmt"
	"math"
	"regexp"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/ext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/library"
	"k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
)

// maxValidatedString bounds the strings the Service policies read: the API
// server validates a Service before its validating admission policies run,
// and every string they read is a name, label, port name or appProtocol (a
// qualified name: 253 + 1 + 63 characters at most). The schema it serves
// declares no maxLength, so the cost estimator alone would assume a string
// as long as a request.
const maxValidatedString = 317

// boundedStrings is the cost estimator's size estimator with strings bounded
// by maxValidatedString; lists and maps keep the schema's (request-sized)
// bound, so a policy must bound what it iterates itself.
type boundedStrings struct{}

func (boundedStrings) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	// A Service's one dynamic field is targetPort (int or string: a port
	// name, at most 15 characters).
	if n.Type() != nil && (n.Type().IsExactType(cel.StringType) || n.Type().IsExactType(cel.DynType)) {
		return &checker.SizeEstimate{Min: 0, Max: maxValidatedString}
	}
	return nil
}

func (boundedStrings) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// suppressedVariable is the variable intree.Generate adds to every
// validating policy: a suppression matches the object.
const suppressedVariable = "meshgateSuppressed"

var variableRef = regexp.MustCompile(`variables\.([A-Za-z_][A-Za-z0-9_]*)`)

// bound rewrites expr so that the cost estimator sees what the API server
// evaluates: each variable it reads, directly or through other variables,
// is computed once (the API server evaluates a variable lazily, once per
// request) in a cel.bind around it, in declaration order, so the estimator
// knows its cost and its size where it is read.
func bound(expr string, order []string, vars map[string]string) string {
	local := func(e string) string { return variableRef.ReplaceAllString(e, "v_$1") }
	used := map[string]bool{}
	var visit func(e string)
	visit = func(e string) {
		for _, m := range variableRef.FindAllStringSubmatch(e, -1) {
			if !used[m[1]] {
				used[m[1]] = true
				visit(vars[m[1]])
			}
		}
	}
	visit(expr)
	out := local(expr)
	for i := len(order) - 1; i >= 0; i-- {
		if n := order[i]; used[n] {
			out = fmt.Sprintf("cel.bind(v_%s, %s, %s)", n, local(vars[n]), out)
		}
	}
	return out
}

// TestServicePolicyCostIsBounded estimates, with the API server's cost
// estimator and the Service schema it serves, the worst-case cost of every
// expression of the Service policies (each with the variables it reads,
// once):
// each must stay below the per-expression limit (celconfig.PerCallLimit),
// whatever the number of ports.
func TestServicePolicyCostIsBounded(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(k.Config)
	require.NoError(t, err)
	s, err := (&resolver.ClientDiscoveryResolver{Discovery: dc}).ResolveSchema(corev1.SchemeGroupVersion.WithKind("Service"))
	require.NoError(t, err)
	svc := common.SchemaDeclType(&openapi.Schema{Schema: s}, true).MaybeAssignTypeName("Service")
	req, ns := plugincel.BuildRequestType(), plugincel.BuildNamespaceType()
	envSet, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Extend(environment.VersionedOptions{
		IntroducedVersion: version.MajorMinor(1, 0),
		EnvOptions: []cel.EnvOption{
			cel.Variable("object", svc.CelType()), cel.Variable("oldObject", svc.CelType()),
			cel.Variable("request", req.CelType()), cel.Variable("namespaceObject", ns.CelType()),
			cel.Variable("authorizer", library.AuthorizerType),
			// cel.bind, to bind the policy's variables (see bound).
			ext.Bindings(),
		},
		DeclTypes: []*apiservercel.DeclType{svc, req, ns},
	})
	require.NoError(t, err)
	env, err := envSet.Env(environment.StoredExpressions)
	require.NoError(t, err)
	estimate := func(expr string) uint64 {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Errorf("compile: %.300s", iss.Err())
			return math.MaxUint64
		}
		est, err := env.EstimateCost(ast, &library.CostEstimator{SizeEstimator: boundedStrings{}})
		require.NoError(t, err)
		return est.Max
	}
	// The estimator is not blind: iterating the ports unbounded is.
	assert.Greater(t, estimate("object.spec.ports.all(p, p.name.lowerAscii() != '')"), uint64(celconfig.PerCallLimit))

	for name, doc := range map[string]string{"defaults": "", "warn": "rules: {service-port-name: warn}", "switch off": "updates: {allowExistingFindings: false}",
		"suppressions": "{suppressions: [{rule: service-port-name, namespace: 'legacy-*', selector: {matchExpressions: [{key: tier, operator: In, values: [a]}]}}]}"} {
		cfg, err := policy.ParseConfig([]byte(doc))
		require.NoError(t, err)
		set, err := intree.Generate(cfg, intree.Options{ServiceAccountUser: "system:serviceaccount:meshgate-system:meshgate"})
		require.NoError(t, err)
		for _, rs := range set.Rules {
			for _, p := range rs.Validating {
				if !servicePolicy(p) {
					continue
				}
				vars := map[string]string{}
				var order []string
				exprs := map[string]string{}
				for _, v := range p.Spec.Variables {
					if v.Name == suppressedVariable {
						// Matching the configured suppressions costs what the
						// configuration holds (its patterns and selectors),
						// not what the object does; the estimator cannot
						// bound the lists it iterates, read from a literal.
						v.Expression = "false"
					}
					vars[v.Name] = v.Expression
					order = append(order, v.Name)
					exprs["variable "+v.Name] = v.Expression
				}
				for i, v := range p.Spec.Validations {
					exprs[fmt.Sprintf("validation %d", i)] = v.Expression
					exprs[fmt.Sprintf("validation %d message", i)] = v.MessageExpression
				}
				for i, c := range p.Spec.MatchConditions {
					exprs[fmt.Sprintf("matchCondition %d", i)] = c.Expression
				}
				var worst uint64
				for what, e := range exprs {
					if e == "" {
						continue
					}
					c := estimate(bound(e, order, vars))
					assert.Less(t, c, uint64(celconfig.PerCallLimit), "%s: %s: %s", name, p.Name, what)
					worst = max(worst, c)
				}
				require.Less(t, worst, uint64(math.MaxUint64))
				t.Logf("%s: %s: estimated worst-case cost of its costliest expression: %d (limit %d)", name, p.Name, worst, celconfig.PerCallLimit)
			}
		}
	}
}

func servicePolicy(p admissionregistrationv1.ValidatingAdmissionPolicy) bool {
	for _, r := range p.Spec.MatchConstraints.ResourceRules {
		for _, res := range r.Resources {
			if res == "services" {
				return true
			}
		}
	}
	return false
}
