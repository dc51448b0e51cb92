package validators

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/policy"
)

// GatewayAPIGroup is the Gateway API's group, the default of a parentRef's group.
const GatewayAPIGroup = "gateway.networking.k8s.io"

// labelNamespaceName is the label Kubernetes sets on every namespace to its own
// name; Gateway API selectors often match on it.
const labelNamespaceName = "kubernetes.io/metadata.name"

// Values of a listener's allowedRoutes.namespaces.from.
const (
	FromAll      = "All"
	FromSame     = "Same"
	FromSelector = "Selector"
)

// Route kinds ("group/Kind") of the Gateway API.
const (
	kindHTTPRoute = GatewayAPIGroup + "/HTTPRoute"
	kindGRPCRoute = GatewayAPIGroup + "/GRPCRoute"
	kindTCPRoute  = GatewayAPIGroup + "/TCPRoute"
	kindTLSRoute  = GatewayAPIGroup + "/TLSRoute"
)

// istioClass says how Istio treats a gateway class.
type istioClass int

const (
	// The zero value: a class Istio does not implement (or none at all).
	_ istioClass = iota
	// istioBuiltin: Istio's own gateway, waypoint and east-west classes.
	istioBuiltin
	// istioAgentgateway: Istio's agentgateway classes, which also take routes on
	// HBONE listeners.
	istioAgentgateway
)

// istioClasses are the gateway classes Istio creates and attaches routes for
// (istio pkg/config/constants and pilot gatewaycommon). istio-remote is left
// out: Istio does not program it (another cluster does).
var istioClasses = map[string]istioClass{
	"istio":                       istioBuiltin,
	"istio-waypoint":              istioBuiltin,
	"istio-east-west":             istioBuiltin,
	"istio-agentgateway":          istioAgentgateway,
	"istio-agentgateway-waypoint": istioAgentgateway,
}

// supportedKinds are the route kinds Istio attaches to listener l of a Gateway
// of class c when allowedRoutes.kinds lists none (istio pilot
// GenerateGatewaySupportedKinds and GenerateAgentgatewaySupportedKinds).
func supportedKinds(c istioClass, l policy.Listener) []string {
	switch l.Protocol {
	case "HTTP", "HTTPS":
		return []string{kindHTTPRoute, kindGRPCRoute}
	case "TCP":
		return []string{kindTCPRoute}
	case "TLS":
		if l.TLSMode == "Terminate" {
			return []string{kindTLSRoute, kindTCPRoute}
		}
		return []string{kindTLSRoute}
	case "HBONE":
		if c == istioAgentgateway {
			return []string{kindHTTPRoute, kindGRPCRoute, kindTCPRoute, kindTLSRoute}
		}
	}
	return nil
}

// ListenerAdmits reports whether listener l of Gateway gw admits a route of
// kind routeKind ("group/Kind") from routeNamespace, and if not, why
// (docs/rules.md#route-parent-ref). "Cannot tell" counts as no.
func ListenerAdmits(ctx context.Context, gw policy.Gateway, l policy.Listener, routeNamespace, routeKind string, w policy.World) (bool, string, error) {
	v, why, _, err := listenerVerdict(ctx, gw, l, routeNamespace, routeKind, w)
	return v == admitted, why, err
}

// verdict is whether a listener admits a route: yes, no, or cannot tell (a
// Selector listener and a route namespace whose labels the World does not know,
// or a gateway class Istio does not implement).
type verdict int

const (
	refused verdict = iota
	admitted
	undecided
)

// listenerVerdict is ListenerAdmits, telling "no" from "cannot tell", and
// whether the route's kind (rather than its namespace) is what the listener
// refuses. A refused kind refuses the route whatever the namespaces say.
func listenerVerdict(ctx context.Context, gw policy.Gateway, l policy.Listener, routeNamespace, routeKind string, w policy.World) (v verdict, why string, kind bool, err error) {
	kv, kwhy := kindAdmitted(gw, l, routeKind)
	if kv == refused {
		return refused, kwhy, true, nil
	}
	nv, nwhy, err := namespaceAdmitted(ctx, l, gw.Namespace, routeNamespace, w)
	switch {
	case err != nil:
		return refused, "", false, err
	case nv != admitted:
		return nv, nwhy, false, nil
	case kv == undecided:
		return undecided, kwhy, true, nil
	}
	return admitted, "", false, nil
}

// kindAdmitted: a kind that allowedRoutes.kinds does not list is refused by
// every implementation. Otherwise Istio's classes take what the listener's
// protocol supports (supportedKinds); for other classes it depends on the
// implementation, so anything beyond the kinds Istio would take is undecided.
func kindAdmitted(gw policy.Gateway, l policy.Listener, routeKind string) (verdict, string) {
	if len(l.Kinds) > 0 && !slices.Contains(l.Kinds, routeKind) {
		return refused, fmt.Sprintf("its allowedRoutes.kinds admit only %s", strings.Join(l.Kinds, ", "))
	}
	class, ok := istioClasses[gw.ClassName]
	supported := supportedKinds(class, l)
	if slices.Contains(supported, routeKind) {
		return admitted, ""
	}
	if !ok {
		return undecided, fmt.Sprintf("its gateway class %q is not one Istio attaches routes for, so whether a listener of protocol %s takes %ss is up to that class's implementation",
			gw.ClassName, protocolOrUnset(l.Protocol), kindName(routeKind))
	}
	takes := "no route kinds"
	if len(supported) > 0 {
		takes = "only " + kindNames(supported)
	}
	mode := ""
	if l.Protocol == "TLS" {
		mode = fmt.Sprintf(" in %s mode", cmp.Or(l.TLSMode, "no tls"))
	}
	return refused, fmt.Sprintf("Istio attaches %s to listeners of protocol %s%s", takes, protocolOrUnset(l.Protocol), mode)
}

func protocolOrUnset(p string) string { return cmp.Or(p, "(protocol unset)") }

// kindName is the Kind of a "group/Kind".
func kindName(groupKind string) string {
	if i := strings.LastIndexByte(groupKind, '/'); i >= 0 {
		return groupKind[i+1:]
	}
	return groupKind
}

func kindNames(groupKinds []string) string {
	out := make([]string, len(groupKinds))
	for i, k := range groupKinds {
		out[i] = kindName(k) + "s"
	}
	return strings.Join(out, " and ")
}

func namespaceAdmitted(ctx context.Context, l policy.Listener, gatewayNamespace, routeNamespace string, w policy.World) (verdict, string, error) {
	switch l.From {
	case FromAll:
		return admitted, "", nil
	case FromSame, "":
		if routeNamespace == gatewayNamespace {
			return admitted, "", nil
		}
		return refused, "its allowedRoutes.namespaces.from is Same (the default): only routes in " + gatewayNamespace, nil
	case FromSelector:
		if l.Selector == nil {
			return refused, "its allowedRoutes.namespaces.from is Selector but it has no selector", nil
		}
		sel, err := metav1.LabelSelectorAsSelector(l.Selector)
		if err != nil {
			return refused, fmt.Sprintf("its allowedRoutes.namespaces.selector is invalid (%v)", err), nil
		}
		var nsLabels map[string]string
		known := false
		if w != nil {
			var ns policy.Namespace
			ns, known, err = policy.Get(ctx, w, policy.Namespaces, "", routeNamespace)
			if err != nil {
				return refused, "", fmt.Errorf("look up namespace %q: %w", routeNamespace, err)
			}
			nsLabels = ns.Labels
		}
		set := make(labels.Set, len(nsLabels)+1)
		maps.Copy(set, nsLabels)
		set[labelNamespaceName] = routeNamespace
		if sel.Matches(set) {
			return admitted, "", nil
		}
		if !known {
			return undecided, fmt.Sprintf("its allowedRoutes.namespaces.selector %q could not be matched: namespace %s and its labels are unknown to meshgate", sel.String(), routeNamespace), nil
		}
		return refused, fmt.Sprintf("its allowedRoutes.namespaces.selector %q does not match the labels of namespace %s", sel.String(), routeNamespace), nil
	default:
		return refused, fmt.Sprintf("its allowedRoutes.namespaces.from %q is not one of All, Same, Selector", l.From), nil
	}
}

func init() {
	policy.Register(policy.Rule{
		ID:      policy.RouteParentRef,
		Summary: "cross-namespace route parentRefs must be allowed by the Gateway's allowedRoutes",
		Default: policy.Enforce,
		Reads:   []policy.WorldKind{policy.KindNamespace, policy.KindGateway},
		Reviews: []policy.Review{{Kinds: policy.RouteKinds, Check: policy.ObjectFunc(RouteParentRef), Admission: crossNamespaceRoutes}},
	})
}

// crossNamespaceRoutes is the admission scope of route-parent-ref: the rule
// only judges parentRefs whose namespace is set and is not the route's, so
// the API server sends meshgate only the routes with one (in any namespace;
// routes reach the validating webhooks after their CRD's schema validation,
// so parentRefs is a list of objects).
var crossNamespaceRoutes = &policy.AdmissionScope{
	ID: "cross-namespace-routes",
	Variants: map[string][]policy.AdmissionWebhook{"": {{
		Conditions: []admissionregistrationv1.MatchCondition{{
			Name: "cross-namespace-parent",
			Expression: "has(object.spec) && has(object.spec.parentRefs) && " +
				"object.spec.parentRefs.exists(p, has(p.namespace) && p.namespace != '' && p.namespace != request.namespace)",
		}},
	}}},
}

// RouteParentRef implements rule route-parent-ref
// (docs/rules.md#route-parent-ref) on Gateway API routes (HTTPRoute,
// GRPCRoute, TLSRoute, TCPRoute, UDPRoute; any version): each parentRef to a
// Gateway in another namespace must be admitted by one of the Gateway's
// listeners (ListenerAdmits). What meshgate cannot tell is a warning, never a
// denial.
func RouteParentRef(ctx context.Context, obj *unstructured.Unstructured, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if obj == nil || cfg == nil {
		return rep, nil
	}
	mode := cfg.Mode(policy.RouteParentRef)
	if mode == policy.Off || slices.Contains(cfg.Routes.AllowedNamespaces, t.Namespace) {
		return rep, nil
	}
	spec, _ := obj.Object["spec"].(map[string]any)
	refs, _ := spec["parentRefs"].([]any)
	gvk := obj.GroupVersionKind()
	c := parentCheck{rep: &rep, mode: mode, namespace: t.Namespace, kind: gvk.Kind, routeKind: gvk.Group + "/" + gvk.Kind, w: w}
	for i, r := range refs {
		ref, _ := r.(map[string]any)
		if ref == nil {
			continue
		}
		p := readParentRef(ref, t.Namespace)
		if !p.isGateway() || p.namespace == t.Namespace || p.name == "" {
			continue
		}
		if err := c.check(ctx, p, field.NewPath("spec", "parentRefs").Index(i)); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// parentCheck judges the parentRefs of one route.
type parentCheck struct {
	rep  *policy.Report
	mode policy.Mode
	// namespace is the route's namespace.
	namespace string
	// kind is the route's Kind ("HTTPRoute"), routeKind its "group/Kind".
	kind, routeKind string
	w               policy.World
}

type parentRef struct {
	group, kind, namespace, name, sectionName string
	port                                      int64
	hasPort                                   bool
}

func readParentRef(ref map[string]any, routeNamespace string) parentRef {
	p := parentRef{group: GatewayAPIGroup, kind: "Gateway", namespace: routeNamespace}
	if g, ok := ref["group"].(string); ok {
		p.group = g // an explicit "" is the core group
	}
	if k, ok := ref["kind"].(string); ok && k != "" {
		p.kind = k
	}
	if ns, ok := ref["namespace"].(string); ok && ns != "" {
		p.namespace = ns
	}
	p.name, _ = ref["name"].(string)
	p.sectionName, _ = ref["sectionName"].(string)
	switch v := ref["port"].(type) {
	case int64:
		p.port, p.hasPort = v, true
	case int32:
		p.port, p.hasPort = int64(v), true
	case int:
		p.port, p.hasPort = int64(v), true
	case float64:
		p.port, p.hasPort = int64(v), true
	}
	return p
}

func (p parentRef) isGateway() bool { return p.group == GatewayAPIGroup && p.kind == "Gateway" }

func (p parentRef) listenerScope() string {
	var parts []string
	if p.sectionName != "" {
		parts = append(parts, fmt.Sprintf("named %q", p.sectionName))
	}
	if p.hasPort {
		parts = append(parts, fmt.Sprintf("on port %d", p.port))
	}
	return strings.Join(parts, " ")
}

// check judges parentRef p (at fld) to a Gateway in another namespace. An
// error is a World lookup that failed: no verdict is built on it.
func (c parentCheck) check(ctx context.Context, p parentRef, fld *field.Path) error {
	const rule = policy.RouteParentRef
	gwRef := p.namespace + "/" + p.name
	var gw policy.Gateway
	known := false
	if c.w != nil {
		var err error
		gw, known, err = policy.Get(ctx, c.w, policy.Gateways, p.namespace, p.name)
		if err != nil {
			return fmt.Errorf("look up Gateway %s: %w", gwRef, err)
		}
	}
	if !known {
		c.rep.Find(rule, policy.Warn, fld, "Gateway %s is not known to meshgate, so whether it admits %ss from namespace %s could not be checked: make sure one of its listeners has allowedRoutes.namespaces from: All, or from: Selector matching namespace %s, or the Gateway API will not attach this route",
			gwRef, c.kind, c.namespace, c.namespace)
		return nil
	}
	var reasons []string
	candidates := 0
	unsureNamespace, unsureKind, byNamespace := false, false, false
	for _, l := range gw.Listeners {
		if p.sectionName != "" && l.Name != p.sectionName {
			continue
		}
		if p.hasPort && int64(l.Port) != p.port {
			continue
		}
		candidates++
		v, why, byKind, err := listenerVerdict(ctx, gw, l, c.namespace, c.routeKind, c.w)
		if err != nil {
			return err
		}
		if v == admitted {
			return nil
		}
		unsureNamespace = unsureNamespace || (v == undecided && !byKind)
		unsureKind = unsureKind || (v == undecided && byKind)
		byNamespace = byNamespace || !byKind
		reasons = append(reasons, fmt.Sprintf("listener %q: %s", l.Name, why))
	}
	if unsureNamespace || unsureKind {
		// A Selector listener may admit the route once the namespace's labels are
		// known (the CLI may not see the Namespace; the server's cache may not have
		// it yet), and a class Istio does not implement decides kinds its own way:
		// a warning, never a denial, as for an unknown Gateway.
		var advice []string
		if unsureNamespace {
			advice = append(advice, fmt.Sprintf("make sure namespace %s carries labels that match the listener's allowedRoutes.namespaces.selector", c.namespace))
		}
		if unsureKind {
			advice = append(advice, fmt.Sprintf("make sure the Gateway's implementation takes %ss on that listener (the route's status.parents says whether it is accepted)", c.kind))
		}
		c.rep.Find(rule, policy.Warn, fld, "Gateway %s may not admit %ss from namespace %s (%s), so whether the Gateway API attaches this route could not be checked: %s",
			gwRef, c.kind, c.namespace, strings.Join(reasons, "; "), strings.Join(advice, "; "))
		return nil
	}
	if candidates == 0 {
		scope := p.listenerScope()
		if scope == "" {
			c.rep.Find(rule, c.mode, fld, "Gateway %s has no listeners, so the Gateway API will not attach this %s: add a listener whose allowedRoutes admit namespace %s",
				gwRef, c.kind, c.namespace)
			return nil
		}
		c.rep.Find(rule, c.mode, fld, "Gateway %s has no listener %s, so the Gateway API will not attach this %s: fix sectionName/port to name one of its listeners (%s)",
			gwRef, scope, c.kind, listenerNames(gw.Listeners))
		return nil
	}
	fix := fmt.Sprintf("point the parentRef (sectionName/port) at a listener that takes %ss (its protocol supports them, and its allowedRoutes.kinds lists them if it lists kinds), or add such a listener to the Gateway", c.kind)
	if byNamespace {
		fix = fmt.Sprintf("the fix is on the Gateway: on a listener that takes %ss set allowedRoutes.namespaces.from: All, or from: Selector with a selector matching namespace %s (and list %s in allowedRoutes.kinds if it lists kinds); a ReferenceGrant does not help (it covers backendRefs and certificateRefs, not parentRefs)",
			c.kind, c.namespace, c.kind)
	}
	c.rep.Find(rule, c.mode, fld, "Gateway %s does not admit %ss from namespace %s (%s), so the Gateway API will not attach this route: %s. Listing %s in routes.allowedNamespaces of the meshgate config would only exempt it from this check: the route would still not attach",
		gwRef, c.kind, c.namespace, strings.Join(reasons, "; "), fix, c.namespace)
	return nil
}

func listenerNames(ls []policy.Listener) string {
	var out []string
	for _, l := range ls {
		s := fmt.Sprintf("%q", l.Name)
		if l.Port != 0 {
			s += fmt.Sprintf(" on port %d", l.Port)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
