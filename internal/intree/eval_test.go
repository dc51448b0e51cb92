package intree_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/test/golden"
	"github.com/meshgate/meshgate/validators"
	"github.com/meshgate/meshgate/webhook"
)

// validator builds p's evaluator the way the API server's plugin does.
func validator(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy) validating.Validator {
	t.Helper()
	c, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(compatibility))
	require.NoError(t, err)
	opts := plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	vars := make([]plugincel.NamedExpressionAccessor, len(p.Spec.Variables))
	for i, v := range p.Spec.Variables {
		vars[i] = &validating.Variable{Name: v.Name, Expression: v.Expression}
	}
	c.CompileAndStoreVariables(vars, opts, environment.StoredExpressions)
	var mcs, vs, ms []plugincel.ExpressionAccessor
	for i := range p.Spec.MatchConditions {
		mcs = append(mcs, (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i]))
	}
	for _, v := range p.Spec.Validations {
		vs = append(vs, &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason})
		ms = append(ms, &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression})
	}
	matcher := matchconditions.NewMatcher(c.CompileCondition(mcs, opts, environment.StoredExpressions), p.Spec.FailurePolicy, "policy", "validate", p.Name)
	return validating.NewValidator(c.CompileCondition(vs, opts, environment.StoredExpressions), matcher,
		c.CompileCondition(nil, opts, environment.StoredExpressions),
		c.CompileCondition(ms, plugincel.OptionalVariableDeclarations{}, environment.StoredExpressions), p.Spec.FailurePolicy, nil)
}

// evaluate runs v on svc, created in ns, and returns the denial messages
// (none: admitted). A Service in a namespace the policy's namespaceSelector
// leaves out is admitted.
func evaluate(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, v validating.Validator, svc *corev1.Service, ns *corev1.Namespace) []string {
	t.Helper()
	if sel := p.Spec.MatchConstraints.NamespaceSelector; sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		require.NoError(t, err)
		if !s.Matches(labels.Set(ns.Labels)) {
			return nil
		}
	}
	denials, evalErr, failed := decide(v, admissionReview{obj: svc, gvk: corev1.SchemeGroupVersion.WithKind("Service"), resource: "services", ns: ns})
	require.False(t, failed, "evaluation error: %s", evalErr)
	return denials
}

// admissionReview is one request to evaluate a validating policy on: obj
// created (old nil) or updated from old, in namespace ns.
type admissionReview struct {
	obj, old runtime.Object
	gvk      schema.GroupVersionKind
	resource string
	ns       *corev1.Namespace
	// budget is the CEL cost budget (0: the API server's runtime budget).
	budget int64
}

// decide runs v on r as the API server would and returns the denial
// messages; at the first evaluation error (such as an exceeded cost budget)
// it stops, with that error's message and failed set.
func decide(v validating.Validator, r admissionReview) (denials []string, evalErr string, failed bool) {
	op, opts := admission.Create, runtime.Object(&metav1.CreateOptions{})
	if r.old != nil {
		op, opts = admission.Update, &metav1.UpdateOptions{}
	}
	meta := r.obj.(metav1.Object)
	gvr := r.gvk.GroupVersion().WithResource(r.resource)
	attr := admission.NewAttributesRecord(r.obj, r.old, r.gvk, r.ns.Name, meta.GetName(), gvr, "", op, opts, false, &user.DefaultInfo{Name: "someone"})
	va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: r.gvk}
	va.VersionedObject.Set(r.obj)
	if r.old != nil {
		va.VersionedOldObject.Set(r.old)
	}
	budget := r.budget
	if budget == 0 {
		budget = celconfig.RuntimeCELCostBudget
	}
	res := v.Validate(context.Background(), gvr, va, nil, r.ns, budget, nil)
	for _, d := range res.Decisions {
		if d.Evaluation == validating.EvalError {
			return denials, d.Message, true
		}
		if d.Action == validating.ActionDeny {
			denials = append(denials, d.Message)
		}
	}
	return denials, "", false
}

// defaulted is svc as the API server hands it to the policies: protocol and
// targetPort defaulted.
func defaulted(svc *corev1.Service) *corev1.Service {
	svc = svc.DeepCopy()
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	return svc
}

// TestServicePortNamePolicyAgreesWithTheRule evaluates the generated
// ValidatingAdmissionPolicy in-process, with the API server's own evaluator,
// on every Service of the golden corpus (as meshgate would store it) and on
// port names beyond it, and compares its verdict and message with the rule's.
func TestServicePortNamePolicyAgreesWithTheRule(t *testing.T) {
	cases, err := golden.Load(golden.CorpusDir())
	require.NoError(t, err)
	type sample struct {
		name string
		svc  *corev1.Service
		ns   *corev1.Namespace
		cfg  *policy.Config
	}
	mesh := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"istio-injection": "enabled"}}}
	var samples []sample
	for _, c := range cases {
		want, err := c.Want()
		require.NoError(t, err)
		for i, in := range c.Inputs {
			if in.GetKind() != "Service" {
				continue
			}
			obj := in
			if want[i].Mutated != nil {
				obj.Object = want[i].Mutated
			}
			svc := &corev1.Service{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, svc))
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(svc.Namespace)}}
			for _, o := range c.World {
				if o.GetKind() == "Namespace" && o.GetName() == ns.Name {
					ns.Labels = o.GetLabels()
				}
			}
			samples = append(samples, sample{name: c.Name + "/" + svc.Name, svc: svc, ns: ns, cfg: c.Config})
		}
	}
	for _, name := range []string{"http2foo", "foo-http", "web", "foo-http-bar", "foo-https-http", "mongodb", "grpcweb", "tlsx", "x-tcp-y", "a-udp", "http", "grpc-web-x", "GRPC-Web", "redis-1", "9080", "h2c"} {
		samples = append(samples, sample{name: "name " + name, ns: mesh, cfg: policy.DefaultConfig(), svc: &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "shop"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Name: name, Port: 8080}}},
		}})
	}
	for _, ap := range []string{"", "kubernetes.io/H2C", "Kubernetes.io/ws", "HTTP", "example.com/x", "grpc-web", "http_proxy"} {
		samples = append(samples, sample{name: "appProtocol " + ap, ns: mesh, cfg: policy.DefaultConfig(), svc: &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "shop"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "p", Port: 53, AppProtocol: ptr.To(ap)}}},
		}})
	}
	samples = append(samples, sample{name: "unnamed targetPort", ns: mesh, cfg: policy.DefaultConfig(), svc: &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 9000, TargetPort: intstr.FromString("http-metrics")}, {Port: 9001, TargetPort: intstr.FromString("metrics")}}},
	}})

	denials := 0
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			set, err := intree.Generate(s.cfg, intree.Options{})
			require.NoError(t, err)
			p := ruleSet(t, set, policy.ServicePortName).Validating[0]
			ns := s.ns.DeepCopy()
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels = maps.Clone(ns.Labels)
			ns.Labels[corev1.LabelMetadataName] = ns.Name
			svc := defaulted(s.svc)
			svc.Namespace = ns.Name

			w := world.NewMemory("default")
			nsObj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ns)
			require.NoError(t, err)
			u := &unstructured.Unstructured{Object: nsObj}
			u.SetAPIVersion("v1")
			u.SetKind("Namespace")
			_, err = w.Add(u)
			require.NoError(t, err)
			target := policy.Target{Object: policy.ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: ns.Name, Name: svc.Name}, Namespace: ns.Name}
			rep, err := validators.ServicePortName(context.Background(), svc, target, w, s.cfg)
			require.NoError(t, err)
			var want []string
			if len(rep.Findings) > 0 {
				want = []string{strings.ReplaceAll(webhook.DenialMessage(rep.Findings), "\n", " ")}
			}
			// The policy's decision is the same in every mode: the binding
			// turns it into a denial or a warning.
			got := evaluate(t, &p, validator(t, &p), svc, ns)
			assert.Equal(t, want, got)
			if len(got) > 0 {
				denials++
			}
		})
	}
	assert.Greater(t, denials, 20, "the samples must exercise the messages")
}

func nsName(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// TestSuppressedObjectsPassThePolicies evaluates service-port-name's policy
// on Services that the rule would deny, with suppressions of every form: the
// policy must admit exactly the Services the webhook's suppressions silence
// (Config.Suppress).
func TestSuppressedObjectsPassThePolicies(t *testing.T) {
	cfg, err := policy.ParseConfig([]byte(`suppressions:
- {rule: service-port-name, namespace: 'legacy-*'}
- {rule: service-port-name, name: 'db-?', kind: Service}
- {rule: service-port-name, name: '[a-c]*.v1'}
- {rule: service-port-name, selector: {matchLabels: {team: edge}, matchExpressions: [{key: tier, operator: In, values: [web, api]}, {key: canary, operator: DoesNotExist}]}}
- {rule: service-port-name, selector: {matchExpressions: [{key: owner, operator: Exists}, {key: env, operator: NotIn, values: [prod]}]}}
- {rule: service-port-protocol, namespace: shop}
`))
	require.NoError(t, err)
	set, err := intree.Generate(cfg, intree.Options{})
	require.NoError(t, err)
	p := ruleSet(t, set, policy.ServicePortName).Validating[0]
	v := validator(t, &p)
	tests := []struct {
		name, namespace, svc string
		labels               map[string]string
	}{
		{name: "namespace glob", namespace: "legacy-billing", svc: "web"},
		{name: "namespace glob, other namespace", namespace: "legacy", svc: "web"},
		{name: "name with ?", namespace: "shop", svc: "db-1"},
		{name: "name with ?, one character too many", namespace: "shop", svc: "db-12"},
		{name: "character class and a literal dot", namespace: "shop", svc: "b-x.v1"},
		{name: "a dot is not any character", namespace: "shop", svc: "b-xxv1"},
		{name: "character class, other first letter", namespace: "shop", svc: "d.v1"},
		{name: "selector matches", namespace: "shop", svc: "web", labels: map[string]string{"team": "edge", "tier": "api"}},
		{name: "selector, DoesNotExist fails", namespace: "shop", svc: "web", labels: map[string]string{"team": "edge", "tier": "api", "canary": "1"}},
		{name: "selector, In fails", namespace: "shop", svc: "web", labels: map[string]string{"team": "edge", "tier": "db"}},
		{name: "Exists and NotIn, label absent", namespace: "shop", svc: "web", labels: map[string]string{"owner": "me"}},
		{name: "Exists and NotIn, prod", namespace: "shop", svc: "web", labels: map[string]string{"owner": "me", "env": "prod"}},
		{name: "another rule's suppression", namespace: "shop", svc: "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tt.namespace, Labels: map[string]string{"istio-injection": "enabled", corev1.LabelMetadataName: tt.namespace}}}
			svc := defaulted(&corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: tt.svc, Namespace: tt.namespace, Labels: tt.labels},
				Spec:       corev1.ServiceSpec{Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Name: "web", Port: 8080}}},
			})
			finding := []policy.Finding{{Rule: policy.ServicePortName, Mode: policy.Enforce, Object: policy.ObjectRef{Kind: "Service", Namespace: tt.namespace, Name: tt.svc}}}
			cfg.Suppress(finding, tt.labels)
			suppressed := finding[0].Mode == policy.Suppressed
			got := evaluate(t, &p, v, svc, ns)
			assert.Equal(t, suppressed, len(got) == 0, "suppressed by the webhook: %v; the policy denies: %q", suppressed, got)
		})
	}
}

// TestSuppressionPatternsCELCannotReadAreRefused: a path.Match escape has no
// exact CEL mirror, so generating the policies fails, naming the suppression.
func TestSuppressionPatternsCELCannotReadAreRefused(t *testing.T) {
	cfg, err := policy.ParseConfig([]byte(`suppressions: [{rule: service-port-protocol, namespace: a}, {rule: service-port-name, name: 'db-\*'}]`))
	require.NoError(t, err)
	_, err = intree.Generate(cfg, intree.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "suppressions[1]")
	assert.Contains(t, err.Error(), "service-port-name")
}
