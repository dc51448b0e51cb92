package validators

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:      policy.VirtualServiceGatewayRef,
		Summary: "VirtualService gateway references must resolve to the intended Gateway",
		Default: policy.Enforce,
		Reads:   []policy.WorldKind{policy.KindIstioGateway, policy.KindGateway, policy.KindNamespace},
		Reviews: []policy.Review{{Kinds: []policy.Kind{policy.VirtualServiceKind}, Check: policy.ObjectFunc(VirtualServiceGatewayRef)}},
		InTree:  virtualServiceGatewayRefInTree,
	})
}

// msgCrossNamespace is the finding for a reference into a namespace the
// VirtualService may not bind.
const msgCrossNamespace = "%s points into namespace %s, but VirtualServices in %s may only bind Gateways in their own namespace%s, or those their owner shares with %s: %s"

// msgInvalid is the finding for a malformed reference, shared by the rule
// and its in-tree form; fixAnyName is its fix when the name is not a DNS
// label (no Gateway of that name can exist to point at).
const (
	msgInvalid = "gateway reference %q is invalid: %s: write %s"
	fixAnyName = "<namespace>/<name>, or the short name of a Gateway in namespace %s"
)

// plainRef matches the references that Go's %q quotes as they are
// (printable ASCII without a double quote or a backslash): the in-tree form
// reports only those, since CEL cannot quote the others as the rule does.
var plainRef = regexp.MustCompile(intree.PlainText)

// VirtualServiceGatewayRef implements rule virtualservice-gateway-ref on a
// networking.istio.io VirtualService of any version. Every reference in
// spec.gateways and in the gateways of spec.http/tls/tcp[].match[] must:
//   - be well formed (istio.ResolveGatewayRef);
//   - stay in the VirtualService's namespace, point into one of
//     gatewayRefs.allowedNamespaces, or name an Istio Gateway whose owner
//     shares it with the VirtualService's namespace
//     (policy.AnnotationAllowedNamespaces);
//   - when the World holds Istio Gateways: not be a short name that matches no
//     Gateway in this namespace while one it may bind exists elsewhere ("did
//     you mean <ns>/<name>?", the silent 404 of the guides).
//
// A reference that resolves to a Gateway API Gateway is bound by istiod: a
// warning (Istio recommends an HTTPRoute). A reference to a Gateway the World
// does not know, in its own or an allowed namespace, is a warning (never a
// denial: the Gateway may be applied after the VirtualService). Without Istio
// Gateways in the World only the syntax and the namespace are checked.
// Entries that are not strings are left to the API server's schema
// validation.
func VirtualServiceGatewayRef(ctx context.Context, obj *unstructured.Unstructured, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if obj == nil || cfg == nil {
		return rep, nil
	}
	mode := cfg.Mode(policy.VirtualServiceGatewayRef)
	if mode == policy.Off {
		return rep, nil
	}
	spec, _ := obj.Object["spec"].(map[string]any)
	if spec == nil {
		return rep, nil
	}
	c := gatewayRefChecker{ctx: ctx, rep: &rep, mode: mode, ns: t.Namespace, w: w, cfg: cfg}
	specPath := field.NewPath("spec")
	c.checkList(spec["gateways"], specPath.Child("gateways"))
	for _, section := range []string{"http", "tls", "tcp"} {
		routes, _ := spec[section].([]any)
		for i, r := range routes {
			route, _ := r.(map[string]any)
			matches, _ := route["match"].([]any)
			for j, m := range matches {
				match, _ := m.(map[string]any)
				c.checkList(match["gateways"], specPath.Child(section).Index(i).Child("match").Index(j).Child("gateways"))
			}
		}
	}
	return rep, c.err
}

type gatewayRefChecker struct {
	ctx context.Context
	// err is the first World lookup error; once set, nothing more is checked.
	err  error
	rep  *policy.Report
	mode policy.Mode
	ns   string
	w    policy.World
	cfg  *policy.Config
}

func (c *gatewayRefChecker) checkList(v any, fld *field.Path) {
	refs, _ := v.([]any)
	for i, r := range refs {
		if s, ok := r.(string); ok && c.err == nil {
			c.check(s, fld.Index(i))
		}
	}
}

func (c *gatewayRefChecker) check(ref string, fld *field.Path) {
	const rule = policy.VirtualServiceGatewayRef
	gw, err := istio.ResolveGatewayRef(ref, c.ns)
	if err != nil {
		if len(validation.IsDNS1123Label(gw.Name)) > 0 && plainRef.MatchString(ref) {
			// No Gateway can have that name: the fix reads nothing, and
			// the in-tree form reports it too.
			c.rep.FindInTree(rule, c.mode, fld, msgInvalid, ref, err.Error(), fmt.Sprintf(fixAnyName, c.ns))
			return
		}
		fix := c.fixFor(gw)
		if c.err == nil {
			c.rep.Find(rule, c.mode, fld, msgInvalid, ref, err.Error(), fix)
		}
		return
	}
	if gw.Mesh {
		return
	}
	what := fmt.Sprintf("gateway reference %q", ref)
	if ref != gw.String() {
		what += fmt.Sprintf(" (%s)", gw)
	}
	istioGW, istioFound, apiFound, ok := c.lookup(gw)
	if !ok {
		return
	}
	if gw.Namespace != c.ns && !slices.Contains(c.cfg.GatewayRefs.AllowedNamespaces, gw.Namespace) {
		c.crossNamespace(what, gw, istioGW, istioFound, apiFound, fld)
		return
	}
	switch {
	case istioFound:
		return
	case apiFound:
		c.rep.Find(rule, policy.Warn, fld, "%s names the Gateway API Gateway %s: istiod binds it, but Istio recommends an HTTPRoute whose parentRefs name it instead", what, gw)
		return
	case !c.knowsGateways():
		return
	}
	found, err := c.gateways(gw.Name)
	if err != nil {
		return
	}
	elsewhere := c.suggestions(found)
	switch {
	case gw.Form == istio.RefShort && len(elsewhere) > 0:
		c.rep.Find(rule, c.mode, fld, "%s: there is no Gateway %s in namespace %s, and a short name always means the VirtualService's own namespace, so istiod binds nothing and requests get 404: did you mean %s?",
			what, gw.Name, c.ns, strings.Join(elsewhere, " or "))
	case len(elsewhere) > 0:
		c.rep.Find(rule, policy.Warn, fld, "%s: no Gateway %s is known to meshgate: did you mean %s?",
			what, gw, strings.Join(elsewhere, " or "))
	default:
		c.rep.Find(rule, policy.Warn, fld, "%s: no Gateway %s is known to meshgate: create the Gateway, or fix the reference (<namespace>/<name>)",
			what, gw)
	}
}

// lookup finds the Gateways gw may name: the Istio Gateway (with its sharing
// annotation) and whether a Gateway API Gateway of that namespace and name
// exists. ok is false after a lookup error.
func (c *gatewayRefChecker) lookup(gw istio.GatewayRef) (istioGW policy.IstioGateway, istioFound, apiFound, ok bool) {
	if c.knowsGateways() {
		found, err := c.gateways(gw.Name)
		if err != nil {
			return istioGW, false, false, false
		}
		for _, g := range found {
			if g.Namespace == gw.Namespace {
				istioGW, istioFound = g, true
			}
		}
	}
	if !istioFound && c.w != nil && c.w.Has(policy.KindGateway) {
		_, found, err := c.w.Gateway(c.ctx, gw.Namespace, gw.Name)
		if err != nil {
			c.fail(fmt.Errorf("look up Gateway %s: %w", gw, err))
			return istioGW, false, false, false
		}
		apiFound = found
	}
	return istioGW, istioFound, apiFound, true
}

// crossNamespace judges a reference into a namespace that is neither the
// VirtualService's nor one of gatewayRefs.allowedNamespaces: it passes only
// when the owner of the Istio Gateway shares it with this namespace.
func (c *gatewayRefChecker) crossNamespace(what string, gw istio.GatewayRef, istioGW policy.IstioGateway, istioFound, apiFound bool, fld *field.Path) {
	const rule = policy.VirtualServiceGatewayRef
	orConfig := fmt.Sprintf("or add %s to gatewayRefs.allowedNamespaces in the meshgate config", gw.Namespace)
	annotation := fmt.Sprintf("%s: %q", policy.AnnotationAllowedNamespaces, c.ns)
	var fix string
	switch {
	case istioFound && istioGW.Shared:
		allowed, err := istio.ParseAllowedNamespaces(istioGW.AllowedNamespaces)
		if err != nil {
			fix = fmt.Sprintf("the annotation %s of Gateway %s is invalid, so it shares the Gateway with no namespace (%v): its owner can fix it to admit %s, %s",
				policy.AnnotationAllowedNamespaces, gw, err, c.ns, orConfig)
			break
		}
		labels, known := map[string]string(nil), true
		if allowed.NeedsLabels(c.ns) {
			var ns policy.Namespace
			var err error
			ns, known, err = c.w.Namespace(c.ctx, c.ns)
			if err != nil {
				c.fail(fmt.Errorf("look up namespace %s: %w", c.ns, err))
				return
			}
			labels = ns.Labels
		}
		switch {
		case !known:
			c.rep.Find(rule, policy.Warn, fld, "%s points into namespace %s: Gateway %s is shared with the namespaces its annotation %s selects (%q), and meshgate does not know the labels of namespace %s, so the admission webhook decides",
				what, gw.Namespace, gw, policy.AnnotationAllowedNamespaces, istioGW.AllowedNamespaces, c.ns)
			return
		case allowed.Admits(c.ns, labels):
			return
		}
		fix = fmt.Sprintf("Gateway %s is shared only with %q (annotation %s): its owner can add %s there, %s",
			gw, istioGW.AllowedNamespaces, policy.AnnotationAllowedNamespaces, c.ns, orConfig)
	case istioFound:
		fix = fmt.Sprintf("annotate Gateway %s with %s (its owner shares it), %s", gw, annotation, orConfig)
	case apiFound:
		fix = fmt.Sprintf("%s is a Gateway API Gateway: attach an HTTPRoute to it instead (its listeners' allowedRoutes decide which namespaces may), %s", gw, orConfig)
	case c.w == nil || !c.w.Complete(policy.KindIstioGateway):
		// Sharing is the exception, shown by the Gateway itself: one that
		// meshgate does not see shares nothing it can tell.
		fix = fmt.Sprintf("annotate Gateway %s with %s (its owner shares it; meshgate does not see that Gateway: if it is shared already, give it with --world or --kubeconfig), %s", gw, annotation, orConfig)
	default:
		fix = fmt.Sprintf("no Gateway %s exists to share: create it, annotated %s, %s", gw, annotation, orConfig)
	}
	c.rep.Find(rule, c.mode, fld, msgCrossNamespace, what, gw.Namespace, c.ns, allowedList(c.cfg.GatewayRefs.AllowedNamespaces), c.ns, fix)
}

func (c *gatewayRefChecker) knowsGateways() bool {
	return c.w != nil && c.w.Has(policy.KindIstioGateway)
}

// fail records the first World lookup error.
func (c *gatewayRefChecker) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// fixFor proposes a well-formed reference for an invalid one: the Gateways of
// that name the World knows and the VirtualService may bind, or
// <namespace>/<name> in the VirtualService's namespace.
func (c *gatewayRefChecker) fixFor(gw istio.GatewayRef) string {
	if len(validation.IsDNS1123Label(gw.Name)) > 0 {
		return fmt.Sprintf(fixAnyName, c.ns)
	}
	if c.knowsGateways() {
		if all, err := c.gateways(gw.Name); err == nil {
			if found := c.suggestions(all); len(found) > 0 {
				return `"` + strings.Join(found, `" or "`) + `"`
			}
		}
	}
	return fmt.Sprintf("%q (or the short name %q)", c.ns+"/"+gw.Name, gw.Name)
}

// gateways returns the Istio Gateways called name, recording a lookup error.
func (c *gatewayRefChecker) gateways(name string) ([]policy.IstioGateway, error) {
	found, err := c.w.IstioGateways(c.ctx, name)
	if err != nil {
		c.fail(fmt.Errorf("look up Istio Gateways named %q: %w", name, err))
	}
	return found, err
}

// suggestions lists, as namespace/name, the Gateways of that name that are
// plausibly the one meant: those the VirtualService may bind (in its own
// namespace, in gatewayRefs.allowedNamespaces, or shared with its namespace
// by their owner), those of its own and allowed namespaces first. A Gateway
// it could not bind anyway is never suggested.
func (c *gatewayRefChecker) suggestions(found []policy.IstioGateway) []string {
	var allowed, shared []string
	for _, m := range found {
		s := m.Namespace + "/" + m.Name
		switch {
		case m.Namespace == c.ns || slices.Contains(c.cfg.GatewayRefs.AllowedNamespaces, m.Namespace):
			allowed = append(allowed, s)
		case c.sharedWithUs(m):
			shared = append(shared, s)
		}
	}
	slices.Sort(allowed)
	slices.Sort(shared)
	return slices.Compact(append(allowed, shared...))
}

// sharedWithUs reports whether gw's owner shares it with the VirtualService's
// namespace (false when that cannot be told).
func (c *gatewayRefChecker) sharedWithUs(gw policy.IstioGateway) bool {
	if !gw.Shared {
		return false
	}
	allowed, err := istio.ParseAllowedNamespaces(gw.AllowedNamespaces)
	if err != nil {
		return false
	}
	var labels map[string]string
	if allowed.NeedsLabels(c.ns) {
		ns, ok, err := c.w.Namespace(c.ctx, c.ns)
		if err != nil {
			c.fail(fmt.Errorf("look up namespace %s: %w", c.ns, err))
		}
		if err != nil || !ok {
			return false
		}
		labels = ns.Labels
	}
	return allowed.Admits(c.ns, labels)
}

// allowedList is ", in <namespaces>" for gatewayRefs.allowedNamespaces.
func allowedList(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return " or in " + strings.Join(ns, ", ")
}
