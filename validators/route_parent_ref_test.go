package validators_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/validators"
)

// rprWorld: namespaces app (shared-gateway-access=true) and other (no labels);
// Gateways in infra with every kind of allowedRoutes.
func rprWorld(t testing.TB) *world.Memory {
	w := world.NewMemory("default")
	for _, o := range vsObjects(t,
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {shared-gateway-access: 'true'}}\n",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: same, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - {name: http, port: 80, protocol: HTTP}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: all, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: selector, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - name: http\n    port: 80\n    protocol: HTTP\n    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {shared-gateway-access: 'true'}}}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: by-name, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - name: http\n    port: 80\n    protocol: HTTP\n    allowedRoutes: {namespaces: {from: Selector, selector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [ghost, other]}]}}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: multi, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n"+
			"  - {name: internal, port: 8080, protocol: HTTP}\n"+
			"  - {name: public, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n"+
			"  - {name: grpc-only, port: 9090, protocol: HTTP, allowedRoutes: {namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: empty, namespace: infra}\nspec: {gatewayClassName: istio}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: tls, namespace: infra}\nspec:\n  gatewayClassName: istio\n  listeners:\n"+
			"  - {name: passthrough, port: 443, protocol: TLS, tls: {mode: Passthrough}, allowedRoutes: {namespaces: {from: All}}}\n"+
			"  - {name: terminate, port: 8443, protocol: TLS, tls: {certificateRefs: [{name: cert}]}, allowedRoutes: {namespaces: {from: All}}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: other-class, namespace: infra}\nspec:\n  gatewayClassName: example-lb\n  listeners:\n  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: other-class-same, namespace: infra}\nspec:\n  gatewayClassName: example-lb\n  listeners:\n  - {name: http, port: 80, protocol: HTTP}\n",
	) {
		_, err := w.Add(o)
		require.NoError(t, err)
	}
	return w
}

func rprRoute(t testing.TB, kind, ns, parentRefs string) *unstructured.Unstructured {
	return vsObjects(t, "apiVersion: gateway.networking.k8s.io/v1\nkind: "+kind+"\nmetadata: {name: r, namespace: "+ns+"}\nspec:\n  parentRefs:\n"+parentRefs)[0]
}

func rprTarget(kind, ns string) policy.Target {
	return policy.Target{Object: policy.ObjectRef{APIVersion: "gateway.networking.k8s.io/v1", Kind: kind, Namespace: ns, Name: "r"}, Namespace: ns}
}

func TestListenerAdmits(t *testing.T) {
	w := rprWorld(t)
	sel := func(ml map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: ml} }
	tests := []struct {
		name    string
		l       policy.Listener
		routeNS string
		kind    string
		want    bool
		why     string
	}{
		{"All admits any namespace", policy.Listener{From: "All"}, "app", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"All admits unknown namespaces", policy.Listener{From: "All"}, "ghost", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"Same admits the Gateway's namespace", policy.Listener{From: "Same"}, "infra", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"empty from is Same", policy.Listener{}, "infra", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"Same does not admit another namespace", policy.Listener{From: "Same"}, "app", "gateway.networking.k8s.io/HTTPRoute", false, "from is Same (the default): only routes in infra"},
		{"Selector matching the namespace labels", policy.Listener{From: "Selector", Selector: sel(map[string]string{"shared-gateway-access": "true"})}, "app", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"Selector not matching", policy.Listener{From: "Selector", Selector: sel(map[string]string{"shared-gateway-access": "true"})}, "other", "gateway.networking.k8s.io/HTTPRoute", false, `selector "shared-gateway-access=true" does not match the labels of namespace other`},
		{"Selector on an unknown namespace", policy.Listener{From: "Selector", Selector: sel(map[string]string{"shared-gateway-access": "true"})}, "ghost", "gateway.networking.k8s.io/HTTPRoute", false, "namespace ghost and its labels are unknown to meshgate"},
		{"Selector on the name label matches an unknown namespace", policy.Listener{From: "Selector", Selector: sel(map[string]string{"kubernetes.io/metadata.name": "ghost"})}, "ghost", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"Selector without selector", policy.Listener{From: "Selector"}, "app", "gateway.networking.k8s.io/HTTPRoute", false, "has no selector"},
		{"invalid selector", policy.Listener{From: "Selector", Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}}, "app", "gateway.networking.k8s.io/HTTPRoute", false, "selector is invalid"},
		{"empty selector matches everything", policy.Listener{From: "Selector", Selector: &metav1.LabelSelector{}}, "ghost", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"unknown from", policy.Listener{From: "None"}, "app", "gateway.networking.k8s.io/HTTPRoute", false, `from "None" is not one of All, Same, Selector`},
		{"kinds admit the route kind", policy.Listener{From: "All", Kinds: []string{"gateway.networking.k8s.io/HTTPRoute"}}, "app", "gateway.networking.k8s.io/HTTPRoute", true, ""},
		{"kinds exclude the route kind", policy.Listener{From: "All", Kinds: []string{"gateway.networking.k8s.io/GRPCRoute"}}, "app", "gateway.networking.k8s.io/HTTPRoute", false, "allowedRoutes.kinds admit only gateway.networking.k8s.io/GRPCRoute"},
	}
	// These rows are about namespaces: an HTTP listener of an Istio Gateway.
	gw := policy.Gateway{ObjectMeta: policy.ObjectMeta{Namespace: "infra", Name: "gw"}, ClassName: "istio"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.l
			l.Protocol = "HTTP"
			ok, why, err := validators.ListenerAdmits(context.Background(), gw, l, tt.routeNS, tt.kind, w)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ok)
			if tt.why == "" {
				assert.Empty(t, why)
			} else {
				assert.Contains(t, why, tt.why)
			}
		})
	}
}

// TestListenerKinds: the route kinds a listener takes by protocol, as Istio
// computes them for its gateway classes, intersected with allowedRoutes.kinds;
// other classes are not guessed.
func TestListenerKinds(t *testing.T) {
	const (
		http = "gateway.networking.k8s.io/HTTPRoute"
		grpc = "gateway.networking.k8s.io/GRPCRoute"
		tcp  = "gateway.networking.k8s.io/TCPRoute"
		tls  = "gateway.networking.k8s.io/TLSRoute"
		udp  = "gateway.networking.k8s.io/UDPRoute"
	)
	all := []string{http, grpc, tcp, tls, udp}
	tests := []struct {
		name  string
		class string
		l     policy.Listener
		takes []string // the kinds admitted, of all
		why   string   // part of the refusal of the first kind not taken
	}{
		{"istio HTTP", "istio", policy.Listener{Protocol: "HTTP"}, []string{http, grpc}, "Istio attaches only HTTPRoutes and GRPCRoutes to listeners of protocol HTTP"},
		{"istio HTTPS", "istio", policy.Listener{Protocol: "HTTPS", TLSMode: "Terminate"}, []string{http, grpc}, ""},
		{"istio TCP", "istio", policy.Listener{Protocol: "TCP"}, []string{tcp}, "only TCPRoutes to listeners of protocol TCP"},
		{"istio TLS passthrough", "istio", policy.Listener{Protocol: "TLS", TLSMode: "Passthrough"}, []string{tls}, "only TLSRoutes to listeners of protocol TLS in Passthrough mode"},
		{"istio TLS terminate also takes TCPRoutes", "istio", policy.Listener{Protocol: "TLS", TLSMode: "Terminate"}, []string{tcp, tls}, ""},
		{"istio UDP takes nothing", "istio", policy.Listener{Protocol: "UDP"}, nil, "Istio attaches no route kinds to listeners of protocol UDP"},
		{"istio HBONE takes nothing", "istio-waypoint", policy.Listener{Protocol: "HBONE"}, nil, "no route kinds"},
		{"istio-east-west TLS passthrough", "istio-east-west", policy.Listener{Protocol: "TLS", TLSMode: "Passthrough"}, []string{tls}, ""},
		{"agentgateway HBONE takes all four", "istio-agentgateway-waypoint", policy.Listener{Protocol: "HBONE"}, []string{http, grpc, tcp, tls}, ""},
		{"agentgateway HTTP", "istio-agentgateway", policy.Listener{Protocol: "HTTP"}, []string{http, grpc}, ""},
		{"listed kinds are intersected with the protocol's", "istio", policy.Listener{Protocol: "HTTP", Kinds: []string{tcp, grpc}}, []string{grpc}, "its allowedRoutes.kinds admit only"},
		{"other class: listed kinds still bind", "example", policy.Listener{Protocol: "HTTP", Kinds: []string{http}}, []string{http}, "its allowedRoutes.kinds admit only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := policy.Gateway{ObjectMeta: policy.ObjectMeta{Namespace: "infra", Name: "gw"}, ClassName: tt.class}
			tt.l.Name, tt.l.From = "l", "All"
			var takes []string
			firstWhy := ""
			for _, k := range all {
				ok, why, err := validators.ListenerAdmits(context.Background(), gw, tt.l, "app", k, nil)
				require.NoError(t, err)
				if ok {
					takes = append(takes, k)
				} else if firstWhy == "" {
					firstWhy = why
				}
			}
			assert.ElementsMatch(t, tt.takes, takes)
			assert.Contains(t, firstWhy, tt.why)
		})
	}
}

func TestRouteParentRef(t *testing.T) {
	tests := []struct {
		name       string
		kind       string
		ns         string
		parentRefs string
		want       []vsFinding
	}{
		{name: "same-namespace parentRef passes", kind: "HTTPRoute", ns: "infra", parentRefs: "  - {name: same}\n"},
		{name: "explicit own namespace passes", kind: "HTTPRoute", ns: "infra", parentRefs: "  - {name: same, namespace: infra}\n"},
		{name: "same-namespace parentRef to an unknown Gateway passes", kind: "HTTPRoute", ns: "app", parentRefs: "  - {name: local}\n"},
		{
			name: "cross-namespace to a Same listener is rejected", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {name: same, namespace: infra}\n",
			want: []vsFinding{{"spec.parentRefs[0]", policy.Enforce,
				`Gateway infra/same does not admit HTTPRoutes from namespace app (listener "http": its allowedRoutes.namespaces.from is Same (the default): only routes in infra), so the Gateway API will not attach this route: the fix is on the Gateway: on a listener that takes HTTPRoutes set allowedRoutes.namespaces.from: All, or from: Selector with a selector matching namespace app (and list HTTPRoute in allowedRoutes.kinds if it lists kinds); a ReferenceGrant does not help (it covers backendRefs and certificateRefs, not parentRefs). Listing app in routes.allowedNamespaces of the meshgate config would only exempt it from this check: the route would still not attach`}},
		},
		{name: "from All admits", kind: "HTTPRoute", ns: "app", parentRefs: "  - {name: all, namespace: infra}\n"},
		{name: "Selector matching the route namespace admits", kind: "HTTPRoute", ns: "app", parentRefs: "  - {name: selector, namespace: infra}\n"},
		{
			name: "Selector not matching is rejected", kind: "HTTPRoute", ns: "other",
			parentRefs: "  - {name: selector, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `selector "shared-gateway-access=true" does not match the labels of namespace other`}},
		},
		{name: "Selector on the namespace name label", kind: "HTTPRoute", ns: "other", parentRefs: "  - {name: by-name, namespace: infra}\n"},
		{
			name: "sectionName restricts to that listener", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {name: multi, namespace: infra, sectionName: internal}\n  - {name: multi, namespace: infra, sectionName: public}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `(listener "internal": its allowedRoutes.namespaces.from is Same`}},
		},
		{
			name: "port restricts to listeners on that port", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {name: multi, namespace: infra, port: 8080}\n  - {name: multi, namespace: infra, port: 80}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `(listener "internal": its allowedRoutes.namespaces.from is Same`}},
		},
		{
			name: "sectionName and port must both match", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {name: multi, namespace: infra, sectionName: public, port: 8080}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `Gateway infra/multi has no listener named "public" on port 8080, so the Gateway API will not attach this HTTPRoute: fix sectionName/port to name one of its listeners ("internal" on port 8080, "public" on port 80, "grpc-only" on port 9090)`}},
		},
		{
			name: "unknown sectionName is rejected", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {name: multi, namespace: infra, sectionName: nope}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `has no listener named "nope"`}},
		},
		{
			name: "allowedRoutes.kinds excludes the route kind", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {name: multi, namespace: infra, sectionName: grpc-only}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `its allowedRoutes.kinds admit only gateway.networking.k8s.io/GRPCRoute`}},
		},
		{name: "allowedRoutes.kinds admits the route kind", kind: "GRPCRoute", ns: "app", parentRefs: "  - {name: multi, namespace: infra, sectionName: grpc-only}\n"},
		{name: "any admitting listener is enough", kind: "HTTPRoute", ns: "app", parentRefs: "  - {name: multi, namespace: infra}\n"},
		{
			name: "TCPRoute to an HTTP listener admitting all namespaces is rejected", kind: "TCPRoute", ns: "app",
			parentRefs: "  - {name: all, namespace: infra}\n",
			want: []vsFinding{{"spec.parentRefs[0]", policy.Enforce,
				`Gateway infra/all does not admit TCPRoutes from namespace app (listener "http": Istio attaches only HTTPRoutes and GRPCRoutes to listeners of protocol HTTP), so the Gateway API will not attach this route: point the parentRef (sectionName/port) at a listener that takes TCPRoutes (its protocol supports them, and its allowedRoutes.kinds lists them if it lists kinds), or add such a listener to the Gateway. Listing app in routes.allowedNamespaces of the meshgate config would only exempt it from this check: the route would still not attach`}},
		},
		{name: "TCPRoute to a TLS Terminate listener is admitted", kind: "TCPRoute", ns: "app", parentRefs: "  - {name: tls, namespace: infra, sectionName: terminate}\n"},
		{
			name: "TCPRoute to a TLS Passthrough listener is rejected", kind: "TCPRoute", ns: "app",
			parentRefs: "  - {name: tls, namespace: infra, sectionName: passthrough}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `only TLSRoutes to listeners of protocol TLS in Passthrough mode`}},
		},
		{name: "TLSRoute to a TLS Passthrough listener is admitted", kind: "TLSRoute", ns: "app", parentRefs: "  - {name: tls, namespace: infra, sectionName: passthrough}\n"},
		{
			name: "class Istio does not implement: a kind beyond the protocol's is a warning", kind: "TCPRoute", ns: "app",
			parentRefs: "  - {name: other-class, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Warn, `its gateway class "example-lb" is not one Istio attaches routes for, so whether a listener of protocol HTTP takes TCPRoutes is up to that class's implementation), so whether the Gateway API attaches this route could not be checked: make sure the Gateway's implementation takes TCPRoutes on that listener`}},
		},
		{name: "class Istio does not implement: the protocol's kinds pass", kind: "HTTPRoute", ns: "app", parentRefs: "  - {name: other-class, namespace: infra}\n"},
		{
			name: "class Istio does not implement: a namespace refusal is still a denial", kind: "TCPRoute", ns: "other",
			parentRefs: "  - {name: other-class-same, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `from is Same (the default)`}},
		},
		{
			name: "Gateway without listeners", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {name: empty, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `Gateway infra/empty has no listeners`}},
		},
		{
			name: "unknown Gateway is a warning", kind: "TLSRoute", ns: "app",
			parentRefs: "  - {name: ghost, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Warn, `Gateway infra/ghost is not known to meshgate, so whether it admits TLSRoutes from namespace app could not be checked`}},
		},
		{
			// The CLI may not see the route's Namespace (helm template emits none),
			// and the server's cache may lag a Namespace created in the same apply:
			// a Selector listener can then not be judged, so this must not deny.
			name: "Selector on a namespace meshgate does not know is a warning", kind: "HTTPRoute", ns: "ghost",
			parentRefs: "  - {name: selector, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Warn, `Gateway infra/selector may not admit HTTPRoutes from namespace ghost (listener "http": its allowedRoutes.namespaces.selector "shared-gateway-access=true" could not be matched: namespace ghost and its labels are unknown to meshgate), so whether the Gateway API attaches this route could not be checked`}},
		},
		{
			name: "unknown namespace does not soften a Same listener", kind: "HTTPRoute", ns: "ghost",
			parentRefs: "  - {name: same, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `from is Same (the default)`}},
		},
		{
			name: "unknown namespace does not soften a kinds refusal", kind: "HTTPRoute", ns: "ghost",
			parentRefs: "  - {name: multi, namespace: infra, sectionName: grpc-only}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `its allowedRoutes.kinds admit only gateway.networking.k8s.io/GRPCRoute`}},
		},
		{
			name: "Service parentRefs (GAMMA) are skipped", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - {group: '', kind: Service, name: reviews, namespace: infra}\n  - {group: gateway.networking.k8s.io, kind: ListenerSet, name: x, namespace: infra}\n",
		},
		{
			name: "explicit default group and kind are checked", kind: "UDPRoute", ns: "app",
			parentRefs: "  - {group: gateway.networking.k8s.io, kind: Gateway, name: same, namespace: infra}\n",
			want:       []vsFinding{{"spec.parentRefs[0]", policy.Enforce, `does not admit UDPRoutes from namespace app`}},
		},
		{
			name: "garbage parentRefs are skipped", kind: "HTTPRoute", ns: "app",
			parentRefs: "  - 7\n  - {namespace: infra}\n  - {name: 3, namespace: infra}\n  - {name: same, namespace: 5, port: x}\n",
		},
	}
	w := rprWorld(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := ruletest.Must(validators.RouteParentRef(context.Background(), rprRoute(t, tt.kind, tt.ns, tt.parentRefs), rprTarget(tt.kind, tt.ns), w, policy.DefaultConfig()))
			require.Len(t, rep.Findings, len(tt.want), "findings: %v", rep.Findings)
			for i, want := range tt.want {
				got := rep.Findings[i]
				assert.Equal(t, want.Field, got.Field)
				assert.Equal(t, want.Mode, got.Mode)
				assert.Contains(t, got.Message, want.Contains)
				assert.Equal(t, policy.RouteParentRef, got.Rule)
			}
		})
	}
}

func TestRouteParentRefConfig(t *testing.T) {
	route := rprRoute(t, "HTTPRoute", "app", "  - {name: same, namespace: infra}\n  - {name: ghost, namespace: infra}\n")
	w := rprWorld(t)

	cfg := policy.DefaultConfig()
	cfg.Routes.AllowedNamespaces = []string{"app"}
	assert.Empty(t, ruletest.Must(validators.RouteParentRef(context.Background(), route, rprTarget("HTTPRoute", "app"), w, cfg)).Findings, "allow-listed route namespace")

	cfg = policy.DefaultConfig()
	cfg.Rules[policy.RouteParentRef] = policy.Warn
	rep := ruletest.Must(validators.RouteParentRef(context.Background(), route, rprTarget("HTTPRoute", "app"), w, cfg))
	require.Len(t, rep.Findings, 2)
	assert.Equal(t, policy.Warn, rep.Findings[0].Mode)
	assert.Equal(t, policy.Warn, rep.Findings[1].Mode)

	cfg.Rules[policy.RouteParentRef] = policy.Off
	assert.Empty(t, ruletest.Must(validators.RouteParentRef(context.Background(), route, rprTarget("HTTPRoute", "app"), w, cfg)).Findings, "off silences even the unknown-Gateway warning")

	rep = ruletest.Must(validators.RouteParentRef(context.Background(), route, rprTarget("HTTPRoute", "app"), nil, policy.DefaultConfig()))
	require.Len(t, rep.Findings, 2, "without a World every Gateway is unknown")
	assert.Equal(t, policy.Warn, rep.Findings[0].Mode)
}

// FuzzRouteParentRef: any JSON object is judged without panicking, and an
// unknown Gateway is never a denial.
func FuzzRouteParentRef(f *testing.F) {
	for _, refs := range []string{
		"  - {name: same, namespace: infra}\n  - {name: all, namespace: infra, port: 80}\n",
		"  - {name: multi, namespace: infra, sectionName: grpc-only}\n  - {name: ghost, namespace: x}\n",
		"  - {group: '', kind: Service, name: reviews}\n  - {name: selector, namespace: infra, port: 80.0}\n",
	} {
		j, err := json.Marshal(rprRoute(f, "HTTPRoute", "app", refs).Object)
		require.NoError(f, err)
		f.Add(j, "app")
	}
	f.Add([]byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"TCPRoute","spec":{"parentRefs":{"a":1}}}`), "other")
	w := rprWorld(f)
	cfg := policy.DefaultConfig()
	f.Fuzz(func(t *testing.T, doc []byte, ns string) {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(doc, &u.Object); err != nil {
			return
		}
		rep := ruletest.Must(validators.RouteParentRef(context.Background(), u, rprTarget("HTTPRoute", ns), w, cfg))
		for _, f := range rep.Findings {
			if !strings.HasPrefix(f.Field, "spec.parentRefs[") || f.Message == "" {
				t.Fatalf("bad finding %+v", f)
			}
			if strings.Contains(f.Message, "not known to meshgate") && f.Mode != policy.Warn {
				t.Fatalf("unknown Gateway must be a warning: %+v", f)
			}
		}
	})
}

func BenchmarkRouteParentRef(b *testing.B) {
	w := rprWorld(b)
	cfg := policy.DefaultConfig()
	route := rprRoute(b, "HTTPRoute", "app",
		"  - {name: same, namespace: infra}\n  - {name: selector, namespace: infra}\n  - {name: multi, namespace: infra, sectionName: public}\n  - {name: local}\n")
	tgt := rprTarget("HTTPRoute", "app")
	b.ReportAllocs()
	for b.Loop() {
		ruletest.Must(validators.RouteParentRef(context.Background(), route, tgt, w, cfg))
	}
}
