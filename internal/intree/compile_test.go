package intree_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/version"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	_ "github.com/meshgate/meshgate/mutators"
	_ "github.com/meshgate/meshgate/validators"
)

// compatibility is the CEL environment the API server checks new
// expressions against: Kubernetes 1.37 accepts what 1.36 (n-1) knows, so that
// a rollback of the API server keeps every stored policy working.
var compatibility = version.MajorMinor(1, 36)

// configs are the configurations whose policies must compile: the defaults,
// and every choice that changes what is generated.
func configs(t *testing.T) map[string]*policy.Config {
	t.Helper()
	out := map[string]*policy.Config{"defaults": policy.DefaultConfig()}
	for name, doc := range map[string]string{
		"scope all":        "servicePorts: {scope: all}",
		"all rules warn":   "rules: {service-port-name: warn, service-port-protocol: warn, edge-proxy-istio-certs: warn}",
		"all rules off":    "rules: {service-port-name: off, service-port-protocol: off, edge-proxy-istio-certs: off}",
		"no edge selector": "edgeProxy: {selectors: [{app.kubernetes.io/name: edge}]}",
		"suppressions":     "suppressions: [{rule: service-port-name, namespace: 'legacy-*', name: 'db-?', kind: Service, selector: {matchLabels: {team: a}, matchExpressions: [{key: tier, operator: In, values: [x, z]}]}}, {rule: virtualservice-gateway-ref, name: kiali}]",
	} {
		c, err := policy.ParseConfig([]byte(doc))
		require.NoError(t, err, name)
		out[name] = c
	}
	return out
}

// compileVAP compiles p the way the API server's ValidatingAdmissionPolicy
// plugin does, in the environment for new expressions at compatibility.
func compileVAP(env *environment.EnvSet, p *admissionregistrationv1.ValidatingAdmissionPolicy) error {
	c, opts, errs, err := compileVariables(env, p.Spec.ParamKind != nil, p.Spec.Variables)
	if err != nil {
		return err
	}
	var exprs, messages []plugincel.ExpressionAccessor
	for _, v := range p.Spec.Validations {
		exprs = append(exprs, &validating.ValidationCondition{Expression: v.Expression})
		if v.MessageExpression != "" {
			messages = append(messages, &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression})
		}
	}
	errs = append(errs, c.CompileCondition(exprs, opts, environment.NewExpressions).CompilationErrors()...)
	errs = append(errs, c.CompileCondition(messages, plugincel.OptionalVariableDeclarations{HasParams: opts.HasParams}, environment.NewExpressions).CompilationErrors()...)
	errs = append(errs, compileMatchConditions(env, p.Spec.MatchConditions, opts)...)
	return errors.Join(errs...)
}

// compileVariables starts a policy's compiler, as the API server's plugins
// do, with the policy's variables compiled and stored; errs are theirs.
func compileVariables(env *environment.EnvSet, params bool, vars []admissionregistrationv1.Variable) (*plugincel.CompositedCompiler, plugincel.OptionalVariableDeclarations, []error, error) {
	opts := plugincel.OptionalVariableDeclarations{HasParams: params, HasAuthorizer: true}
	c, err := plugincel.NewCompositedCompiler(env)
	if err != nil {
		return nil, opts, nil, err
	}
	var errs []error
	for _, v := range vars {
		if r := c.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, opts, environment.NewExpressions); r.Error != nil {
			errs = append(errs, fmt.Errorf("variable %s: %w", v.Name, r.Error))
		}
	}
	return c, opts, errs, nil
}

// compileMatchConditions compiles matchConditions as the API server's
// validation of a policy does: without the policy's variables (and, at
// runtime, without namespaceObject).
func compileMatchConditions(env *environment.EnvSet, mcs []admissionregistrationv1.MatchCondition, opts plugincel.OptionalVariableDeclarations) []error {
	c := plugincel.NewCompiler(env)
	var errs []error
	for i := range mcs {
		if r := c.CompileCELExpression((*matchconditions.MatchCondition)(&mcs[i]), opts, environment.NewExpressions); r.Error != nil {
			errs = append(errs, fmt.Errorf("matchCondition %s: %w", mcs[i].Name, r.Error))
		}
	}
	return errs
}

// compileMAP compiles p the way the API server's MutatingAdmissionPolicy
// plugin does.
func compileMAP(env *environment.EnvSet, p *admissionregistrationv1.MutatingAdmissionPolicy) error {
	c, opts, errs, err := compileVariables(env, p.Spec.ParamKind != nil, p.Spec.Variables)
	if err != nil {
		return err
	}
	errs = append(errs, compileMatchConditions(env, p.Spec.MatchConditions, opts)...)
	patchOpts := opts
	patchOpts.HasPatchTypes = true
	for i, m := range p.Spec.Mutations {
		var acc plugincel.ExpressionAccessor
		switch {
		case m.PatchType == admissionregistrationv1.PatchTypeJSONPatch && m.JSONPatch != nil:
			acc = &patch.JSONPatchCondition{Expression: m.JSONPatch.Expression}
		case m.PatchType == admissionregistrationv1.PatchTypeApplyConfiguration && m.ApplyConfiguration != nil:
			acc = &patch.ApplyConfigurationCondition{Expression: m.ApplyConfiguration.Expression}
		default:
			errs = append(errs, fmt.Errorf("mutation %d: patch type %q without its expression", i, m.PatchType))
			continue
		}
		for _, err := range c.CompileMutatingEvaluator(acc, patchOpts, environment.NewExpressions).CompilationErrors() {
			errs = append(errs, fmt.Errorf("mutation %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func TestPoliciesCompileInTheAPIServersCELEnvironment(t *testing.T) {
	env := environment.MustBaseEnvSet(compatibility)
	for name, cfg := range configs(t) {
		t.Run(name, func(t *testing.T) {
			set, err := intree.Generate(cfg, intree.Options{ExcludeNamespaces: []string{"meshgate-system"}, ServiceAccountUser: "system:serviceaccount:meshgate-system:meshgate"})
			require.NoError(t, err)
			require.NotEmpty(t, set.Rules)
			for _, rs := range set.Rules {
				for i := range rs.Validating {
					assert.NoError(t, compileVAP(env, &rs.Validating[i]), rs.Validating[i].Name)
				}
				for i := range rs.Mutating {
					assert.NoError(t, compileMAP(env, &rs.Mutating[i]), rs.Mutating[i].Name)
				}
			}
		})
	}
}

// TestNoNamespaceObjectInMatchConditions: the API server evaluates
// matchConditions without namespaceObject, so a namespace predicate there
// fails at runtime and, with failurePolicy Fail, denies everything matched.
func TestNoNamespaceObjectInMatchConditions(t *testing.T) {
	for name, cfg := range configs(t) {
		set, err := intree.Generate(cfg, intree.Options{})
		require.NoError(t, err)
		for _, rs := range set.Rules {
			for _, p := range rs.Validating {
				for _, mc := range p.Spec.MatchConditions {
					assert.NotContains(t, mc.Expression, "namespaceObject", "%s: %s: matchCondition %s", name, p.Name, mc.Name)
				}
			}
			for _, p := range rs.Mutating {
				for _, mc := range p.Spec.MatchConditions {
					assert.NotContains(t, mc.Expression, "namespaceObject", "%s: %s: matchCondition %s", name, p.Name, mc.Name)
				}
			}
		}
	}
}

func TestGeneratedObjectsAreNamedLabelledAndBoundByMode(t *testing.T) {
	cfg, err := policy.ParseConfig([]byte("rules: {service-port-name: warn}"))
	require.NoError(t, err)
	hash, err := intree.ConfigHash(cfg)
	require.NoError(t, err)
	tests := []struct {
		name   string
		cfg    *policy.Config
		action admissionregistrationv1.ValidationAction
		bound  bool
	}{
		{name: "enforce is bound with Deny", cfg: policy.DefaultConfig(), action: admissionregistrationv1.Deny, bound: true},
		{name: "warn is bound with Warn", cfg: cfg, action: admissionregistrationv1.Warn, bound: true},
		{name: "off has no binding", cfg: mustConfig(t, "rules: {service-port-name: off}")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := intree.Generate(tt.cfg, intree.Options{})
			require.NoError(t, err)
			rs := ruleSet(t, set, policy.ServicePortName)
			// The policy and its twin, which warns about what an UPDATE
			// keeps (intree.VarFields).
			require.Len(t, rs.Validating, 2)
			p := rs.Validating[0]
			assert.Equal(t, "service-port-name-existing.meshgate.io", rs.Validating[1].Name)
			assert.True(t, intree.IsExistingTwin(rs.Validating[1].Name))
			assert.False(t, intree.IsExistingTwin(p.Name))
			assert.Equal(t, "service-port-name.meshgate.io", p.Name)
			assert.Equal(t, "meshgate", p.Labels[intree.LabelManagedBy])
			assert.Equal(t, policy.ServicePortName, p.Labels[intree.LabelRule])
			if !tt.bound {
				assert.Empty(t, rs.ValidatingBindings)
				return
			}
			require.Len(t, rs.ValidatingBindings, 2)
			b := rs.ValidatingBindings[0]
			assert.Equal(t, p.Name, b.Name)
			assert.Equal(t, p.Name, b.Spec.PolicyName)
			assert.Equal(t, []admissionregistrationv1.ValidationAction{tt.action}, b.Spec.ValidationActions)
			twin := rs.ValidatingBindings[1]
			assert.Equal(t, rs.Validating[1].Name, twin.Spec.PolicyName)
			assert.Equal(t, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}, twin.Spec.ValidationActions, "the twin only warns")
		})
	}
	set, err := intree.Generate(cfg, intree.Options{Static: true})
	require.NoError(t, err)
	p := ruleSet(t, set, policy.ServicePortName).Validating[0]
	assert.True(t, strings.HasSuffix(p.Name, ".static.k8s.io"), p.Name)
	assert.Equal(t, hash, p.Annotations[intree.AnnotationConfigHash])
}

func mustConfig(t *testing.T, doc string) *policy.Config {
	t.Helper()
	c, err := policy.ParseConfig([]byte(doc))
	require.NoError(t, err)
	return c
}

func ruleSet(t *testing.T, s *intree.Set, id string) intree.RuleSet {
	t.Helper()
	for _, rs := range s.Rules {
		if rs.Rule == id {
			return rs
		}
	}
	t.Fatalf("no policies for rule %s", id)
	return intree.RuleSet{}
}
