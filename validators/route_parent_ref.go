package validators

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/policy"
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

// ListenerAdmits reports whether listener l of a Gateway in gatewayNamespace
// admits a route of kind routeKind ("group/Kind") from routeNamespace, and if
// not, why. allowedRoutes.namespaces decides: All admits every namespace, Same
// (the default) only the Gateway's own, Selector the namespaces whose labels it
// matches, read from w (plus kubernetes.io/metadata.name, which Kubernetes sets
// on every namespace); a namespace w does not know can only match a selector on
// that label. A listener that lists allowedRoutes.kinds admits only those kinds
// (the protocol's default kinds, when none are listed, are not checked: this
// may let through a route the listener's protocol would not take, but never
// refuses one the Gateway API would attach).
func ListenerAdmits(ctx context.Context, l policy.Listener, gatewayNamespace, routeNamespace, routeKind string, w policy.World) (bool, string, error) {
	v, why, err := listenerVerdict(ctx, l, gatewayNamespace, routeNamespace, routeKind, w)
	return v == admitted, why, err
}

// verdict is whether a listener admits a route: yes, no, or cannot tell (a
// Selector listener and a route namespace whose labels the World does not know).
type verdict int

const (
	refused verdict = iota
	admitted
	undecided
)

// listenerVerdict is ListenerAdmits, telling "no" from "cannot tell". A listener
// whose kinds exclude the route's kind refuses it whatever its namespaces say.
func listenerVerdict(ctx context.Context, l policy.Listener, gatewayNamespace, routeNamespace, routeKind string, w policy.World) (verdict, string, error) {
	if len(l.Kinds) > 0 && !slices.Contains(l.Kinds, routeKind) {
		return refused, fmt.Sprintf("its allowedRoutes.kinds admit only %s", strings.Join(l.Kinds, ", ")), nil
	}
	return namespaceAdmitted(ctx, l, gatewayNamespace, routeNamespace, w)
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
			ns, known, err = w.Namespace(ctx, routeNamespace)
			if err != nil {
				return refused, "", fmt.Errorf("look up namespace %q: %w", routeNamespace, err)
			}
			nsLabels = ns.Labels
		}
		set := make(labels.Set, len(nsLabels)+1)
		for k, v := range nsLabels {
			set[k] = v
		}
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

// RouteParentRef implements rule route-parent-ref on Gateway API routes
// (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute; any version). For each
// spec.parentRefs[i] to a Gateway (group gateway.networking.k8s.io and kind
// Gateway, the defaults; other parents such as the Services of GAMMA mesh
// routing are skipped) in another namespace than the route's, one of the
// Gateway's listeners (only the one named by sectionName, only those on port,
// when set) must admit the route (ListenerAdmits); otherwise the Gateway API
// would not attach it. Routes in a namespace listed in routes.allowedNamespaces
// are not checked. A Gateway the World does not know gives a warning whatever
// the rule's mode: never a silent pass, never a denial. So does a Gateway whose
// only candidate admission is a Selector listener when the World does not know
// the route's namespace (its labels decide, and meshgate cannot read them).
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
	routeKind := gvk.Group + "/" + gvk.Kind
	for i, r := range refs {
		ref, _ := r.(map[string]any)
		if ref == nil {
			continue
		}
		p := readParentRef(ref, t.Namespace)
		if !p.isGateway() || p.namespace == t.Namespace || p.name == "" {
			continue
		}
		if err := checkParentRef(ctx, &rep, mode, p, field.NewPath("spec", "parentRefs").Index(i), t, gvk.Kind, routeKind, w); err != nil {
			return rep, err
		}
	}
	return rep, nil
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

func checkParentRef(ctx context.Context, rep *policy.Report, mode policy.Mode, p parentRef, fld *field.Path, t policy.Target, kind, routeKind string, w policy.World) error {
	const rule = policy.RouteParentRef
	gwRef := p.namespace + "/" + p.name
	var gw policy.Gateway
	known := false
	if w != nil {
		var err error
		gw, known, err = w.Gateway(ctx, p.namespace, p.name)
		if err != nil {
			return fmt.Errorf("look up Gateway %s: %w", gwRef, err)
		}
	}
	if !known {
		rep.Find(rule, policy.Warn, fld, "Gateway %s is not known to meshgate, so whether it admits %ss from namespace %s could not be checked: make sure one of its listeners has allowedRoutes.namespaces from: All, or from: Selector matching namespace %s, or the Gateway API will not attach this route",
			gwRef, kind, t.Namespace, t.Namespace)
		return nil
	}
	var reasons []string
	candidates := 0
	unsure := false
	for _, l := range gw.Listeners {
		if p.sectionName != "" && l.Name != p.sectionName {
			continue
		}
		if p.hasPort && int64(l.Port) != p.port {
			continue
		}
		candidates++
		v, why, err := listenerVerdict(ctx, l, gw.Namespace, t.Namespace, routeKind, w)
		if err != nil {
			return err
		}
		if v == admitted {
			return nil
		}
		unsure = unsure || v == undecided
		reasons = append(reasons, fmt.Sprintf("listener %q: %s", l.Name, why))
	}
	if unsure {
		// A Selector listener may admit the route once the namespace's labels are
		// known (the CLI may not see the Namespace; the server's cache may not have
		// it yet): a warning, never a denial, as for an unknown Gateway.
		rep.Find(rule, policy.Warn, fld, "Gateway %s may not admit %ss from namespace %s (%s), so whether the Gateway API attaches this route could not be checked: make sure namespace %s carries labels that match the listener's allowedRoutes.namespaces.selector",
			gwRef, kind, t.Namespace, strings.Join(reasons, "; "), t.Namespace)
		return nil
	}
	if candidates == 0 {
		scope := p.listenerScope()
		if scope == "" {
			rep.Find(rule, mode, fld, "Gateway %s has no listeners, so the Gateway API will not attach this %s: add a listener whose allowedRoutes admit namespace %s",
				gwRef, kind, t.Namespace)
			return nil
		}
		rep.Find(rule, mode, fld, "Gateway %s has no listener %s, so the Gateway API will not attach this %s: fix sectionName/port to name one of its listeners (%s)",
			gwRef, scope, kind, listenerNames(gw.Listeners))
		return nil
	}
	rep.Find(rule, mode, fld, "Gateway %s does not admit %ss from namespace %s (%s), so the Gateway API will not attach this route: on a listener set allowedRoutes.namespaces.from: All, or from: Selector with a selector matching namespace %s (and list %s in allowedRoutes.kinds if it lists kinds), or add %s to routes.allowedNamespaces in the meshgate config",
		gwRef, kind, t.Namespace, strings.Join(reasons, "; "), t.Namespace, kind, t.Namespace)
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
