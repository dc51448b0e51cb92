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

// vsWorld holds Istio Gateways istio-ingress/istio-ingressgateway,
// app/local-gw, infra/gw and infra/shared, other/shared.
func vsWorld(t testing.TB) *world.Memory {
	w := world.NewMemory("default")
	for _, o := range vsObjects(t,
		vsIstioGateway("istio-ingress", "istio-ingressgateway"),
		vsIstioGateway("app", "local-gw"),
		vsIstioGateway("infra", "gw"),
		vsIstioGateway("infra", "shared"),
		vsIstioGateway("istio-system", "shared"),
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
			name: "short name in several namespaces lists allowed ones first",
			spec: "  gateways: [shared]\n",
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `did you mean istio-system/shared or infra/shared?`}},
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
			want: []vsFinding{{"spec.gateways[0]", policy.Enforce, `gateway reference "infra/gw" points into namespace infra, but VirtualServices in app may only bind Gateways in their own namespace or in istio-system, istio-ingress: move the Gateway or the VirtualService, or add infra to gatewayRefs.allowedNamespaces`}},
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
	// checked, so unknown short names pass.
	w := world.NewMemory("default")
	vs := vsVirtualService(t, "  gateways: [istio-ingressgateway, nowhere, './x', infra/gw, istio-ingress/istio-ingressgateway]\n")
	rep := ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vs, vsTarget(), w, policy.DefaultConfig()))
	var fields []string
	for _, f := range rep.Findings {
		fields = append(fields, f.Field)
	}
	assert.Equal(t, []string{"spec.gateways[2]", "spec.gateways[3]"}, fields)

	rep = ruletest.Must(validators.VirtualServiceGatewayRef(context.Background(), vs, vsTarget(), nil, policy.DefaultConfig()))
	assert.Len(t, rep.Findings, 2, "a nil World is a World without Gateways")
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
