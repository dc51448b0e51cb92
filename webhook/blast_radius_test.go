package webhook

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	apiservercel "k8s.io/apiserver/pkg/admission/plugin/cel"
	apiserverwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/namespace"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/object"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/test/golden"
)

// apiServerMatcher decides, with the API server's own code (its webhook
// accessors, namespace, object and rule predicates, and its CEL condition
// compiler in the environment of this Kubernetes version), whether the API
// server calls a configuration's webhooks for a CREATE. It follows the
// steps of the API server's generic webhook ShouldCallHook.
type apiServerMatcher struct {
	mutating   []apiserverwebhook.WebhookAccessor
	validating []apiserverwebhook.WebhookAccessor
	namespaces cache.Indexer
	compiler   apiservercel.ConditionCompiler
}

func newAPIServerMatcher(m *admissionregistrationv1.MutatingWebhookConfiguration, v *admissionregistrationv1.ValidatingWebhookConfiguration) *apiServerMatcher {
	a := &apiServerMatcher{
		namespaces: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{}),
		compiler:   apiservercel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())),
	}
	for i := range m.Webhooks {
		a.mutating = append(a.mutating, apiserverwebhook.NewMutatingWebhookAccessor(fmt.Sprint("m", i), m.Name, &m.Webhooks[i]))
	}
	for i := range v.Webhooks {
		a.validating = append(a.validating, apiserverwebhook.NewValidatingWebhookAccessor(fmt.Sprint("v", i), v.Name, &v.Webhooks[i]))
	}
	return a
}

// setNamespace makes the namespace exist with labels, and the label the API
// server gives every namespace, kubernetes.io/metadata.name.
func (a *apiServerMatcher) setNamespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	l := map[string]string{corev1.LabelMetadataName: name}
	for k, v := range labels {
		l[k] = v
	}
	require.NoError(t, a.namespaces.Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}))
}

// calls returns the names of the webhooks the API server would call for a
// CREATE of obj (resource, namespace ns); a match condition that fails to
// evaluate is an error (with failurePolicy Fail it would reject the request).
func (a *apiServerMatcher) calls(t testing.TB, hooks []apiserverwebhook.WebhookAccessor, obj *unstructured.Unstructured, resource, ns string) []string {
	t.Helper()
	gvk := obj.GroupVersionKind()
	gvr := gvk.GroupVersion().WithResource(resource)
	// Built-in kinds reach the match conditions as their typed object, as in
	// the API server.
	var o runtime.Object = obj
	if typed, err := scheme.Scheme.New(gvk); err == nil {
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, typed))
		typed.GetObjectKind().SetGroupVersionKind(gvk)
		o = typed
	}
	attr := admission.NewAttributesRecord(o, nil, gvk, ns, obj.GetName(), gvr, "", admission.Create, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "test"})
	nsMatcher := namespace.Matcher{NamespaceLister: corelisters.NewNamespaceLister(a.namespaces)}
	var out []string
	for _, h := range hooks {
		if ok, err := nsMatcher.MatchNamespaceSelector(h, attr); err != nil || !ok {
			require.Nil(t, err, "%s: namespace selector", h.GetName())
			continue
		}
		if ok, err := (&object.Matcher{}).MatchObjectSelector(h, attr); err != nil || !ok {
			require.Nil(t, err, "%s: object selector", h.GetName())
			continue
		}
		ruleMatch := false
		for _, r := range h.GetRules() {
			ruleMatch = ruleMatch || (&rules.Matcher{Rule: r, Attr: attr}).Matches()
		}
		if !ruleMatch {
			continue
		}
		if len(h.GetMatchConditions()) > 0 {
			va, err := admission.NewVersionedAttributes(attr, gvk, nil)
			require.NoError(t, err)
			res := h.GetCompiledMatcher(a.compiler).Match(context.Background(), va, nil, nil)
			require.NoError(t, res.Error, "%s: match conditions on %s %s/%s", h.GetName(), gvk.Kind, ns, obj.GetName())
			if !res.Matches {
				continue
			}
		}
		out = append(out, h.GetName())
	}
	return out
}

// admissionKind returns the kind obj is registered as at admission (false
// for kinds only `meshgate check` reviews).
func admissionKind(obj *unstructured.Unstructured) (policy.Kind, bool) {
	for _, k := range policy.ReviewedKinds() {
		if k.GroupKind() == obj.GroupVersionKind().GroupKind() && len(k.Operations) > 0 {
			return k, true
		}
	}
	return policy.Kind{}, false
}

// blastRadius counts what a superset check saw.
type blastRadius struct {
	objects, acted, sent, sentNoop int
}

// check reviews obj as the API server would send it (the mutating webhook
// first, the validating one on the mutated object) and requires that every
// review in which the engine changes or reports anything reaches meshgate,
// and that no object reaches one configuration's webhooks twice.
func (b *blastRadius) check(t testing.TB, e *engine.Engine, a *apiServerMatcher, w policy.World, obj *unstructured.Unstructured, ns string) {
	t.Helper()
	k, ok := admissionKind(obj)
	if !ok {
		return
	}
	b.objects++
	ctx := context.Background()
	mres, err := e.Review(ctx, engine.Input{Object: obj, Namespace: ns}, w)
	require.NoError(t, err)
	mutCalls := a.calls(t, a.mutating, obj, k.Resource, ns)
	require.LessOrEqual(t, len(mutCalls), 1, "%s %s/%s reaches several mutating webhooks: %v", k.Kind, ns, obj.GetName(), mutCalls)
	mutActs := mres.Changed()
	for _, f := range mres.Findings {
		mutActs = mutActs || policy.IsMutation(f.Rule)
	}
	if mutActs {
		require.Len(t, mutCalls, 1, "the mutation rules act on %s %s/%s (%d changes, findings %v), but no mutating webhook receives it:\n%s",
			k.Kind, ns, obj.GetName(), len(mres.Changes), mres.Findings, describe(obj))
	}

	final := mres.Object
	vres, err := e.Review(ctx, engine.Input{Object: final, Namespace: ns}, w)
	require.NoError(t, err)
	valCalls := a.calls(t, a.validating, final, k.Resource, ns)
	require.LessOrEqual(t, len(valCalls), 1, "%s %s/%s reaches several validating webhooks: %v", k.Kind, ns, obj.GetName(), valCalls)
	if len(vres.Findings) > 0 {
		require.Len(t, valCalls, 1, "the rules report %v on %s %s/%s, but no validating webhook receives it:\n%s",
			vres.Findings, k.Kind, ns, obj.GetName(), describe(final))
	}
	acted := mutActs || len(vres.Findings) > 0
	sent := len(mutCalls)+len(valCalls) > 0
	if acted {
		b.acted++
	}
	if sent {
		b.sent++
		if !acted {
			b.sentNoop++
		}
	}
}

func describe(obj *unstructured.Unstructured) string {
	return fmt.Sprintf("labels %v\nannotations %v", obj.GetLabels(), obj.GetAnnotations())
}

// TestBlastRadiusGolden: over the whole golden corpus, every object the
// engine changes or reports at admission reaches meshgate through the
// webhook registration built from the case's configuration, as the API
// server's own matching code decides.
func TestBlastRadiusGolden(t *testing.T) {
	var total blastRadius
	cases := 0
	golden.ForEach(t, func(t *testing.T, c golden.Case, _ []golden.Verdict) {
		cases++
		w, err := c.BuildWorld()
		require.NoError(t, err)
		m, v := Configurations(RegistrationOptions{ClientConfig: URLClientConfig("https://127.0.0.1:9443", nil), Config: c.Config})
		a := newAPIServerMatcher(m, v)
		for _, o := range c.World {
			if o.GetKind() == "Namespace" {
				a.setNamespace(t, o.GetName(), o.GetLabels())
			}
		}
		e := engine.New(c.Config)
		for _, in := range c.Inputs {
			ns := effectiveNamespace(in)
			if _, ok, _ := a.namespaces.GetByKey(ns); !ok {
				a.setNamespace(t, ns, nil) // the API server only admits objects in existing namespaces
			}
			total.check(t, e, a, w, in, ns)
		}
	})
	t.Logf("%d golden cases: %d objects reviewed at admission, %d changed or reported, %d sent to meshgate (%d of them untouched)",
		cases, total.objects, total.acted, total.sent, total.sentNoop)
	require.Positive(t, total.acted)
}

// TestBlastRadiusGenerated: the same over generated pods and Services in
// generated namespaces (every combination of Istio's namespace labels, the
// edge-proxy selector labels, the opt-in annotation, Istio's pod labels and
// annotations, meshgate's own, and noise), for configurations that shape
// the registration differently.
func TestBlastRadiusGenerated(t *testing.T) {
	const perConfig = 2000
	configs := registrationConfigs(t)
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(10, uint64(len(name))))
			m, v := Configurations(RegistrationOptions{ClientConfig: URLClientConfig("https://127.0.0.1:9443", nil), Config: cfg})
			a := newAPIServerMatcher(m, v)
			e := engine.New(cfg)
			var pods, services blastRadius
			for i := range perConfig {
				nsName, nsLabels := genNamespace(r)
				require.NoError(t, a.namespaces.Replace(nil, ""))
				a.setNamespace(t, nsName, nsLabels)
				w := world.NewMemory("default")
				if r.IntN(10) > 0 { // sometimes meshgate's World does not know the namespace yet
					_, err := w.Add(namespaceObject(nsName, nsLabels))
					require.NoError(t, err)
				}
				pods.check(t, e, a, w, genPod(r, i, nsName), nsName)
				services.check(t, e, a, w, genService(r, i, nsName), nsName)
			}
			t.Logf("%s: pods: %d generated, %d changed or reported, %d sent to meshgate (%d untouched); Services: %d, %d, %d (%d)", name,
				pods.objects, pods.acted, pods.sent, pods.sentNoop, services.objects, services.acted, services.sent, services.sentNoop)
			require.Positive(t, pods.acted)
			require.Positive(t, services.acted)
			require.Less(t, pods.sent, pods.objects, "the pod webhooks must leave some pods out")
		})
	}
}

func namespaceObject(name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	u.SetName(name)
	l := map[string]string{corev1.LabelMetadataName: name}
	for k, v := range labels {
		l[k] = v
	}
	u.SetLabels(l)
	return u
}

// pick returns one of choices; "" stands for "absent" in the generators.
func pick(r *rand.Rand, choices ...string) string { return choices[r.IntN(len(choices))] }

func setMaybe(m map[string]string, key, value string) {
	if value != "" {
		m[key] = value
	}
}

func genNamespace(r *rand.Rand) (string, map[string]string) {
	name := pick(r, "apps", "edge", "emissary", "default", "kube-public", "local-path-storage", "istio-system", "team-a")
	l := map[string]string{}
	setMaybe(l, "istio-injection", pick(r, "", "", "enabled", "disabled", "Enabled", "true"))
	setMaybe(l, "istio.io/rev", pick(r, "", "", "canary", "default"))
	setMaybe(l, "istio.io/dataplane-mode", pick(r, "", "", "ambient", "none"))
	setMaybe(l, "team", pick(r, "", "a"))
	return name, l
}

func genPod(r *rand.Rand, i int, ns string) *unstructured.Unstructured {
	l, an := map[string]string{}, map[string]string{}
	// The default selectors' labels, the custom ones of registrationConfigs,
	// and near misses.
	setMaybe(l, "product", pick(r, "", "aes", "aes", "other"))
	setMaybe(l, "profile", pick(r, "", "main", "main", "canary"))
	setMaybe(l, "service", pick(r, "", "", "ambassador", "quote"))
	setMaybe(l, "app.kubernetes.io/name", pick(r, "", "emissary-ingress", "quote"))
	setMaybe(l, "gateway", pick(r, "", "edge"))
	setMaybe(l, "tier", pick(r, "", "front"))
	setMaybe(l, "sidecar.istio.io/inject", pick(r, "", "", "", "true", "false", "yes", "True"))
	setMaybe(l, "istio.io/rev", pick(r, "", "", "", "canary"))
	setMaybe(l, "istio.io/dataplane-mode", pick(r, "", "", "", "ambient", "none"))
	setMaybe(an, policy.AnnotationEdgeProxy, pick(r, "", "", "", "true", "false", "TRUE"))
	setMaybe(an, policy.AnnotationCertMode, pick(r, "", "", "", "", "auto", "secret", "Secret", "bogus"))
	setMaybe(an, policy.AnnotationInject, pick(r, "", "", "", "false", "true"))
	setMaybe(an, "sidecar.istio.io/inject", pick(r, "", "", "false", "true", "no"))
	setMaybe(an, "sidecar.istio.io/status", pick(r, "", "", "", `{"containers":["istio-proxy"]}`))
	setMaybe(an, "proxy.istio.io/config", pick(r, "", "", "", "{}", "not yaml: ["))
	containers := []any{map[string]any{
		"name": "ambassador", "image": "docker.io/emissaryingress/emissary:3.10",
		"env":   []any{map[string]any{"name": "AMBASSADOR_NAMESPACE", "value": ns}},
		"ports": []any{map[string]any{"containerPort": int64(8877)}},
	}}
	if r.IntN(4) == 0 {
		containers = []any{map[string]any{"name": "app", "image": "example.com/app:1"}}
	}
	if an["sidecar.istio.io/status"] != "" && r.IntN(2) == 0 {
		containers = append(containers, map[string]any{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.30.3"})
	}
	spec := map[string]any{"containers": containers}
	if r.IntN(6) == 0 {
		spec["hostNetwork"] = true
	}
	if sa := pick(r, "", "ambassador", "default"); sa != "" {
		spec["serviceAccountName"] = sa
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": spec}}
	u.SetName(fmt.Sprintf("pod-%d", i))
	u.SetNamespace(ns)
	if len(l) > 0 {
		u.SetLabels(l)
	}
	if len(an) > 0 {
		u.SetAnnotations(an)
	}
	return u
}

func genService(r *rand.Rand, i int, ns string) *unstructured.Unstructured {
	l := map[string]string{}
	setMaybe(l, "istio", pick(r, "", "", "", "", "ingressgateway", "pilot"))
	setMaybe(l, "release", pick(r, "", "", "", "istio", "quote"))
	setMaybe(l, "gateway.istio.io/managed", pick(r, "", "", "", "istio.io-gateway-controller", "istio.io-mesh-controller", "someone-else"))
	setMaybe(l, "app", pick(r, "", "quote", "istiod"))
	var ports []any
	for j := range 1 + r.IntN(2) {
		p := map[string]any{"port": int64([]int{80, 443, 8080, 9080, 5432, 15021}[r.IntN(6)] + j)}
		setMaybe2(p, "name", pick(r, "", "http", "web", "http2foo", "tcp", "grpc-api", "status-port", fmt.Sprintf("p%d", j)))
		setMaybe2(p, "appProtocol", pick(r, "", "", "", "http", "kubernetes.io/h2c", "weird"))
		setMaybe2(p, "targetPort", pick(r, "", "", "http-metrics", "8080"))
		ports = append(ports, p)
	}
	spec := map[string]any{"ports": ports}
	if r.IntN(5) > 0 {
		spec["selector"] = map[string]any{"app": "quote"}
	}
	if r.IntN(8) == 0 {
		spec["type"] = "ExternalName"
		spec["externalName"] = "example.com"
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "spec": spec}}
	u.SetName(fmt.Sprintf("svc-%d", i))
	u.SetNamespace(ns)
	if len(l) > 0 {
		u.SetLabels(l)
	}
	return u
}

func setMaybe2(m map[string]any, key, value string) {
	switch {
	case value == "":
	case key == "targetPort" && value == "8080":
		m[key] = int64(8080)
	default:
		m[key] = value
	}
}

// TestMatchConditionsCompileForNewConfigurations: the API server compiles a
// webhook configuration's match conditions in its environment for new
// expressions when the configuration is created, and refuses it on any error
// (a configuration it refused would register nothing).
func TestMatchConditionsCompileForNewConfigurations(t *testing.T) {
	compiler := apiservercel.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	for name, cfg := range registrationConfigs(t) {
		for _, c := range allMatchConditions(cfg) {
			res := compiler.CompileCELExpression(&matchconditions.MatchCondition{Name: c.Name, Expression: c.Expression},
				apiservercel.OptionalVariableDeclarations{HasAuthorizer: true}, environment.NewExpressions)
			require.Nil(t, res.Error, "%s: condition %s: %s", name, c.Name, c.Expression)
		}
	}
}
