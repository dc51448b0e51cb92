package validators_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/validators"
)

func vsIstioGateway(ns, name string) string {
	return "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec: {selector: {istio: ingressgateway}}\n"
}

// vsSharedGateway is an Istio Gateway whose owner shares it (the
// meshgate.io/allowed-namespaces annotation).
func vsSharedGateway(ns, name, with string) string {
	return "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: " + name + ", namespace: " + ns +
		", annotations: {meshgate.io/allowed-namespaces: '" + with + "'}}\nspec: {selector: {istio: ingressgateway}}\n"
}

func vsAPIGateway(ns, name string) string {
	return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: " + name + ", namespace: " + ns + "}\n" +
		"spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}\n"
}

// vsWorld holds the namespace app (label team=web), Istio Gateways
// istio-ingress/istio-ingressgateway, app/local-gw, infra/gw, infra/shared,
// istio-system/shared, istio-system/web, team-b/orphan, Gateways their owners
// share, and the Gateway API Gateways app/web and gwapi/api-gw.
func vsWorld(t testing.TB) *world.Memory {
	w := world.NewMemory("default")
	for _, o := range vsObjects(t,
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {team: web}}\n",
		vsIstioGateway("istio-ingress", "istio-ingressgateway"),
		vsIstioGateway("app", "local-gw"),
		vsIstioGateway("infra", "gw"),
		vsIstioGateway("infra", "shared"),
		vsIstioGateway("istio-system", "shared"),
		vsIstioGateway("istio-system", "web"),
		vsIstioGateway("team-b", "orphan"),
		vsSharedGateway("kubeflow", "kubeflow-gateway", "auth, app ,oauth2-proxy"),
		vsSharedGateway("knative-serving", "knative-ingress-gateway", "*"),
		vsSharedGateway("team", "by-label", "selector: team in (web, data)"),
		vsSharedGateway("team", "by-other-label", "selector: team=data"),
		vsSharedGateway("team", "not-for-us", "other"),
		vsSharedGateway("team", "bad-annotation", "app; other"),
		vsAPIGateway("app", "web"),
		vsAPIGateway("gwapi", "api-gw"),
	) {
		_, err := w.Add(o)
		require.NoError(t, err)
	}
	return w
}

func vsVirtualService(t testing.TB, spec string) *unstructured.Unstructured {
	return vsObjects(t, "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: vs, namespace: app}\nspec:\n"+spec)[0]
}

func vsTarget() policy.Target {
	return policy.Target{Object: policy.ObjectRef{APIVersion: "networking.istio.io/v1beta1", Kind: "VirtualService", Namespace: "app", Name: "vs"}, Namespace: "app"}
}

type vsFinding struct {
	Field string
	Mode  policy.Mode
	// Contains is a part of the message that the case is about.
	Contains string
}

func TestVirtualServiceGatewayRef(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want []vsFinding
	}{
		{name: "mesh is reserved", spec: "  gateways: [mesh]\n"},
		{name: "short name of a Gateway in the namespace", spec: "  gateways: [local-gw]\n"},
		{name: "qualified reference into an allowed namespace", spec: "  gateways: [istio-ingress/istio-ingressgateway]\n"},
		{name: "qualified reference into the own namespace", spec: "  gateways: [app/local-gw]\n"},
		{name: "no gateways at all", spec: "  hosts: [a]\n"},
		{
			name: "short name that exists elsewhere: did you mean",
			spec: "  gateways: [istio-ingressgateway]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `did you mean istio-ingress/istio-ingressgateway?`}},
		},
		{
			name: "short name in several namespaces suggests only those it may bind",
			spec: "  gateways: [shared]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `did you mean istio-system/shared?`}},
		},
		{
			name: "short name of a Gateway only in a namespace it may not bind: no hint",
			spec: "  gateways: [orphan]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Warn, `no Gateway app/orphan is known to meshgate: create the Gateway, or fix the reference (<namespace>/<name>)`}},
		},
		{
			name: "short name of a Gateway shared with the namespace: did you mean",
			spec: "  gateways: [knative-ingress-gateway, kubeflow-gateway]\n",
			want: []vsFinding{
				{"spec.gateways[0]", policy.Enforce, `did you mean knative-serving/knative-ingress-gateway?`},
				{"spec.gateways[1]", policy.Enforce, `did you mean kubeflow/kubeflow-gateway?`},
			},
		},
		{name: "Gateway shared with the namespace by name", spec: "  gateways: [kubeflow/kubeflow-gateway, kubeflow-gateway.kubeflow.svc.cluster.local]\n"},
		{name: "Gateway shared with every namespace", spec: "  gateways: [knative-serving/knative-ingress-gateway]\n"},
		{name: "Gateway shared with the namespaces a selector matches", spec: "  gateways: [team/by-label]\n"},
		{
			name: "Gateway shared by a selector that does not match",
			spec: "  gateways: [team/by-other-label]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `Gateway team/by-other-label is shared only with "selector: team=data" (annotation meshgate.io/allowed-namespaces): its owner can add app there, or add team to gatewayRefs.allowedNamespaces in the meshgate config`}},
		},
		{
			name: "Gateway shared with other namespaces only",
			spec: "  gateways: [team/not-for-us]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `Gateway team/not-for-us is shared only with "other"`}},
		},
		{
			name: "Gateway whose sharing annotation is invalid",
			spec: "  gateways: [team/bad-annotation]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `the annotation meshgate.io/allowed-namespaces of Gateway team/bad-annotation is invalid, so it shares the Gateway with no namespace ("app; other" is not a namespace name`}},
		},
		{
			name: "Gateway API Gateway of that name in the namespace: bound, a warning, no hint",
			spec: "  gateways: [web, app/web]\n",
			want: []vsFinding{
				{"spec.gateways[0]", policy.Warn, `gateway reference "web" (app/web) names the Gateway API Gateway app/web: istiod binds it, but Istio recommends an HTTPRoute`},
				{"spec.gateways[1]", policy.Warn, `gateway reference "app/web" names the Gateway API Gateway app/web`},
			},
		},
		{
			name: "Gateway API Gateway in a namespace it may not bind",
			spec: "  gateways: [gwapi/api-gw]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `gwapi/api-gw is a Gateway API Gateway: attach an HTTPRoute to it instead`}},
		},
		{
			name: "short name that exists nowhere is a warning",
			spec: "  gateways: [nowhere]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Warn, `gateway reference "nowhere" (app/nowhere): no Gateway app/nowhere is known to meshgate: create the Gateway`}},
		},
		{
			name: "qualified reference to a missing Gateway with the name elsewhere is a warning",
			spec: "  gateways: [istio-system/istio-ingressgateway]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Warn, `did you mean istio-ingress/istio-ingressgateway?`}},
		},
		{
			name: "qualified reference into a namespace that is not allowed",
			spec: "  gateways: [infra/gw]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `gateway reference "infra/gw" points into namespace infra, but VirtualServices in app may only bind Gateways in their own namespace or in istio-system, istio-ingress, or those their owner shares with app: annotate Gateway infra/gw with meshgate.io/allowed-namespaces: "app" (its owner shares it), or add infra to gatewayRefs.allowedNamespaces in the meshgate config`}},
		},
		{
			name: "legacy dotted form resolves to the second label's namespace",
			spec: "  gateways: [gw.infra]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `"gw.infra" (infra/gw) points into namespace infra`}},
		},
		{
			name: "legacy FQDN form ignores the domain",
			spec: "  gateways: [gw.infra.svc.cluster.local]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `"gw.infra.svc.cluster.local" (infra/gw) points into namespace infra`}},
		},
		{
			name: "legacy form into an allowed namespace passes",
			spec: "  gateways: [istio-ingressgateway.istio-ingress.svc.cluster.local]\n",
		},
		{
			name: "./x is invalid",
			spec: "  gateways: [./local-gw]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `gateway reference "./local-gw" is invalid: "." is not a namespace (a reference names one Gateway): write "app/local-gw"`}},
		},
		{
			name: "*/x is invalid",
			spec: "  gateways: ['*/local-gw']\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `gateway reference "*/local-gw" is invalid: "*" is not a namespace (a reference names one Gateway): write "app/local-gw"`}},
		},
		{
			name: "*/x of a Gateway elsewhere suggests where it is",
			spec: "  gateways: ['*/istio-ingressgateway', './nowhere', 'a/b_c']\n",
			want: []vsFinding{
				{"spec.gateways[0]", policy.Enforce, `write "istio-ingress/istio-ingressgateway"`},
				{"spec.gateways[1]", policy.Enforce, `write "app/nowhere" (or the short name "nowhere")`},
				{"spec.gateways[2]", policy.Enforce, `write <namespace>/<name>, or the short name of a Gateway in namespace app`},
			},
		},
		{
			name: "match-level gateways of http, tls and tcp routes",
			spec: "  gateways: [local-gw]\n" +
				"  http:\n  - route: []\n  - match:\n    - {uri: {prefix: /}}\n    - gateways: [mesh, istio-ingressgateway]\n" +
				"  tls:\n  - match:\n    - gateways: [infra/gw]\n" +
				"  tcp:\n  - match:\n    - gateways: ['./x']\n",
			want: []vsFinding{
				{"spec.http[1].match[1].gateways[1]", policy.Enforce, `did you mean istio-ingress/istio-ingressgateway?`},
				{"spec.tls[0].match[0].gateways[0]", policy.Enforce, `points into namespace infra`},
				{"spec.tcp[0].match[0].gateways[0]", policy.Enforce, `is invalid`},
			},
		},
		{
			name: "entries of the wrong type are left to schema validation",
			spec: "  gateways: [1, {a: b}, local-gw]\n  http: [3, {match: x}, {match: [7]}]\n",
		},
	}
	w := vsWorld(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vsVirtualService(t, tt.spec), vsTarget(), w, policy.DefaultConfig()))
			require.Len(t, rep.Findings, len(tt.want), "findings: %v", rep.Findings)
			for i, want := range tt.want {
				got := rep.Findings[i]
				assert.Equal(t, want.Field, got.Field)
				assert.Equal(t, want.Mode, got.Mode)
				assert.Contains(t, got.Message, want.Contains)
				assert.Equal(t, policy.VirtualServiceGatewayRef, got.Rule)
			}
		})
	}
}

func TestVirtualServiceGatewayRefWithoutIstioGateways(t *testing.T) {
	// The World has no Istio Gateways at all: only syntax and namespaces are
	// checked, so unknown short names pass, and a reference into another
	// namespace is denied (sharing is shown by the Gateway, which meshgate
	// does not see).
	w := world.NewMemory("default")
	vs := vsVirtualService(t, "  gateways: [istio-ingressgateway, nowhere, './x', infra/gw, istio-ingress/istio-ingressgateway]\n")
	modes := func(rep policy.Report) map[string]policy.Mode {
		out := map[string]policy.Mode{}
		for _, f := range rep.Findings {
			out[f.Field] = f.Mode
		}
		return out
	}
	want := map[string]policy.Mode{"spec.gateways[2]": policy.Enforce, "spec.gateways[3]": policy.Enforce}
	rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vs, vsTarget(), w, policy.DefaultConfig()))
	assert.Equal(t, want, modes(rep))
	assert.Contains(t, rep.Findings[1].Message, `annotate Gateway infra/gw with meshgate.io/allowed-namespaces: "app" (its owner shares it; meshgate does not see that Gateway: if it is shared already, give it with --world or --kubeconfig), or add infra to gatewayRefs.allowedNamespaces in the meshgate config`)

	rep = ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vs, vsTarget(), nil, policy.DefaultConfig()))
	assert.Equal(t, want, modes(rep), "a nil World is a World without Gateways")
}

// TestVirtualServiceGatewayRefCompleteWorld: a World that holds every Gateway
// of the cluster (the admission server's) proves a Gateway absent, so a
// reference into another namespace to no Gateway is denied.
func TestVirtualServiceGatewayRefCompleteWorld(t *testing.T) {
	w := vsWorld(t)
	w.MarkKnown(policy.KindIstioGateway)
	rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vsVirtualService(t, "  gateways: [infra/nowhere]\n"), vsTarget(), w, policy.DefaultConfig()))
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, policy.Enforce, rep.Findings[0].Mode)
	assert.Contains(t, rep.Findings[0].Message, `no Gateway infra/nowhere exists to share: create it, annotated meshgate.io/allowed-namespaces: "app", or add infra to gatewayRefs.allowedNamespaces`)
}

// TestVirtualServiceGatewayRefSelectorWithoutNamespaceLabels: a Gateway
// shared by a label selector, and a VirtualService namespace the World does
// not know: meshgate cannot tell, so it warns (the webhook knows).
func TestVirtualServiceGatewayRefSelectorWithoutNamespaceLabels(t *testing.T) {
	w := world.NewMemory("default")
	for _, o := range vsObjects(t, vsSharedGateway("team", "by-label", "selector: team=web"), vsSharedGateway("team", "named", "app")) {
		_, err := w.Add(o)
		require.NoError(t, err)
	}
	rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vsVirtualService(t, "  gateways: [team/by-label, team/named]\n"), vsTarget(), w, policy.DefaultConfig()))
	require.Len(t, rep.Findings, 1, "a Gateway shared by name needs no labels")
	assert.Equal(t, policy.Warn, rep.Findings[0].Mode)
	assert.Contains(t, rep.Findings[0].Message, `meshgate does not know the labels of namespace app, so the admission webhook decides`)
}

func TestVirtualServiceGatewayRefConfig(t *testing.T) {
	vs := vsVirtualService(t, "  gateways: [infra/gw, istio-ingress/istio-ingressgateway]\n")
	cfg := policy.DefaultConfig()
	cfg.GatewayRefs.AllowedNamespaces = []string{"infra"}
	rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vs, vsTarget(), vsWorld(t), cfg))
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, "spec.gateways[1]", rep.Findings[0].Field)
	assert.Contains(t, rep.Findings[0].Message, "may only bind Gateways in their own namespace or in infra")

	cfg = policy.DefaultConfig()
	cfg.Rules[policy.VirtualServiceGatewayRef] = policy.Warn
	rep = ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vs, vsTarget(), vsWorld(t), cfg))
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, policy.Warn, rep.Findings[0].Mode)

	cfg.Rules[policy.VirtualServiceGatewayRef] = policy.Off
	rep = ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vsVirtualService(t, "  gateways: [nowhere]\n"), vsTarget(), vsWorld(t), cfg))
	assert.Empty(t, rep.Findings, "off means no findings, not even warnings")
}

func TestVirtualServiceGatewayRefMessageNamesTheFix(t *testing.T) {
	rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vsVirtualService(t, "  gateways: [istio-ingressgateway]\n"), vsTarget(), vsWorld(t), policy.DefaultConfig()))
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, `gateway reference "istio-ingressgateway" (app/istio-ingressgateway): there is no Gateway istio-ingressgateway in namespace app, and a short name always means the VirtualService's own namespace, so istiod binds nothing and requests get 404: did you mean istio-ingress/istio-ingressgateway?`,
		rep.Findings[0].Message)
}

// FuzzVirtualServiceGatewayRef: any JSON object is judged without panicking.
func FuzzVirtualServiceGatewayRef(f *testing.F) {
	for _, spec := range []string{
		"  gateways: [mesh, istio-ingressgateway, gw.infra, './x']\n",
		"  gateways: [local-gw]\n  http:\n  - match:\n    - gateways: [infra/gw, '*/y']\n  tcp:\n  - match: [{gateways: [shared]}]\n",
		"  gateways: null\n  tls: [{match: null}]\n",
	} {
		j, err := json.Marshal(vsVirtualService(f, spec).Object)
		require.NoError(f, err)
		f.Add(j, "app")
	}
	f.Add([]byte(`{"spec":{"gateways":"mesh","http":{"match":[]}}}`), "")
	w := vsWorld(f)
	cfg := policy.DefaultConfig()
	f.Fuzz(func(t *testing.T, doc []byte, ns string) {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(doc, &u.Object); err != nil {
			return
		}
		tgt := policy.Target{Object: policy.ObjectRef{Kind: "VirtualService", Namespace: ns, Name: "vs"}, Namespace: ns}
		rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), u, tgt, w, cfg))
		for _, f := range rep.Findings {
			if !strings.HasPrefix(f.Field, "spec.") || f.Message == "" {
				t.Fatalf("bad finding %+v", f)
			}
		}
	})
}

func BenchmarkVirtualServiceGatewayRef(b *testing.B) {
	w := vsWorld(b)
	cfg := policy.DefaultConfig()
	vs := vsVirtualService(b, "  gateways: [mesh, local-gw, istio-ingress/istio-ingressgateway, istio-ingressgateway]\n"+
		"  http:\n  - match:\n    - gateways: [gw.infra]\n    - gateways: [local-gw]\n")
	tgt := vsTarget()
	b.ReportAllocs()
	for b.Loop() {
		ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vs, tgt, w, cfg))
	}
}

// vsObjects decodes YAML documents into unstructured objects.
func vsObjects(t testing.TB, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		j, err := yaml.YAMLToJSON([]byte(d))
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(j))
		out = append(out, u)
	}
	return out
}
