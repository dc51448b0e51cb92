package validators

import (
	"context"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/native"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:      policy.VirtualServiceGatewayRef,
		Summary: "VirtualService gateway references must resolve to the intended Gateway",
		Default: policy.Enforce,
		Reads:   []policy.WorldKind{policy.KindIstioGateway},
		Reviews: []policy.Review{{Kinds: []policy.Kind{policy.VirtualServiceKind}, Check: policy.ObjectFunc(VirtualServiceGatewayRef)}},
		InTree: &policy.InTree{
			Build: virtualServiceGatewayRefPolicy,
			Coverage: []policy.Coverage{
				{Part: "a well-formed reference into a namespace other than its own and gatewayRefs.allowedNamespaces", Covered: true, How: "VAP (CEL); the webhook leaves that finding to it"},
				{Part: "malformed references (the fix names the Gateways meshgate knows)", Covered: false, How: "webhook only: it reads other objects (networking.istio.io/Gateway)"},
				{Part: "a short name that matches no Gateway here but one elsewhere; unknown Gateways", Covered: false, How: "webhook only: it reads other objects (networking.istio.io/Gateway)"},
			},
		},
	})
}

// msgCrossNamespace is the finding for a reference into a namespace the
// VirtualService may not bind, shared by the rule and its in-tree form.
const msgCrossNamespace = "%s points into namespace %s, but VirtualServices in %s may only bind Gateways in their own namespace or in %s: move the Gateway or the VirtualService, or add %s to gatewayRefs.allowedNamespaces in the meshgate config"

// virtualServiceGatewayRefPolicy is the in-tree form of the part of the rule
// that reads nothing but the VirtualService: a ValidatingAdmissionPolicy
// that reports every well-formed reference (istio.ResolveGatewayRef, in CEL)
// into a namespace other than the VirtualService's own and
// gatewayRefs.allowedNamespaces, with the rule's message. The rule marks that
// finding as the policy's (Report.FindInTree), so a webhook whose policies
// are installed does not report it twice.
func virtualServiceGatewayRefPolicy(cfg *policy.Config) (policy.InTreePolicies, error) {
	x := "r[0]"
	qualified := x + ".contains('/')"
	rest := x + ".substring(" + x + ".indexOf('.') + 1)"
	ns := fmt.Sprintf("(%s ? %s.substring(0, %s.indexOf('/')) : !%s.contains('.') ? request.namespace : %s.contains('.') ? %s.substring(0, %s.indexOf('.')) : %s)",
		qualified, x, x, x, rest, rest, rest, rest)
	name := fmt.Sprintf("(%s ? %s.substring(%s.indexOf('/') + 1) : !%s.contains('.') ? %s : %s.substring(0, %s.indexOf('.')))",
		qualified, x, x, x, x, x, x)
	resolved := ns + " + '/' + " + name
	what := fmt.Sprintf("%s + (%s != %s ? ' (' + %s + ')' : '')", native.Format("gateway reference %q", x), x, resolved, resolved)
	allowed := "variables." + native.VarAllowedNamespaces
	msg := native.Format(msgCrossNamespace, what, ns, "request.namespace",
		fmt.Sprintf("(size(%s) == 0 ? 'no other namespace' : %s.join(', '))", allowed, allowed), ns)
	cross := fmt.Sprintf("%s != %s && %s && %s && %s != request.namespace && !(%s in %s)",
		x, native.String(istio.MeshGateway), native.ValidDNSLabel(ns), native.ValidDNSLabel(name), ns, ns, allowed)
	// refs: [reference, field] for spec.gateways and the gateways of every
	// match of spec.http, spec.tls and spec.tcp, in the rule's order.
	refs := []string{"lists.range(size(object.spec.?gateways.orValue([]))).map(i, [string(object.spec.gateways[i]), 'spec.gateways[' + string(i) + ']'])"}
	for _, section := range []string{"http", "tls", "tcp"} {
		rs := "object.spec.?" + section + ".orValue([])"
		refs = append(refs, fmt.Sprintf("lists.range(size(%s)).map(i, lists.range(size(%s[i].?match.orValue([]))).map(j, "+
			"lists.range(size(%s[i].match[j].?gateways.orValue([]))).map(k, [string(%s[i].match[j].gateways[k]), 'spec.%s[' + string(i) + '].match[' + string(j) + '].gateways[' + string(k) + ']']))).flatten().flatten()",
			rs, rs, rs, rs, section))
	}
	line := fmt.Sprintf("%s + 'VirtualService ' + request.namespace + '/' + (object.metadata.?name.orValue('') != '' ? object.metadata.name : '<unnamed>') + ': ' + r[1] + ': ' + %s",
		native.String("["+policy.VirtualServiceGatewayRef+"] "), msg)
	vap := admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
		MatchConstraints: native.MatchKinds([]policy.Kind{policy.VirtualServiceKind}, nil),
		// On UPDATE, only what the update adds (native.LinesUpdate).
		Variables: native.LinesUpdate(cfg, append([]admissionregistrationv1.Variable{native.ConfigVariable(native.VarAllowedNamespaces, cfg.GatewayRefs.AllowedNamespaces)},
			native.Variables(
				"refs", strings.Join(refs, " + "),
				"problems", fmt.Sprintf("variables.refs.filter(r, %s).map(r, %s)", cross, line),
			)...)),
		Validations: []admissionregistrationv1.Validation{{
			Expression:        "size(variables.problems) == 0",
			MessageExpression: native.Findings("variables.problems"),
		}},
	}}
	return policy.InTreePolicies{Validating: []admissionregistrationv1.ValidatingAdmissionPolicy{vap}}, nil
}

// VirtualServiceGatewayRef implements rule virtualservice-gateway-ref on a
// networking.istio.io VirtualService of any version. Every reference in
// spec.gateways and in the gateways of spec.http/tls/tcp[].match[] must:
//   - be well formed (istio.ResolveGatewayRef);
//   - stay in the VirtualService's namespace, or point into one of
//     gatewayRefs.allowedNamespaces;
//   - when the World holds Istio Gateways: not be a short name that matches no
//     Gateway in this namespace while one of that name exists elsewhere ("did
//     you mean <ns>/<name>?", the silent 404 of the guides).
//
// A reference to a Gateway the World does not know, in any other form, is a
// warning (never a denial: the Gateway may be applied after the
// VirtualService). Without Istio Gateways in the World only the syntax and the
// namespace are checked. Entries that are not strings are left to the API
// server's schema validation.
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
		c.rep.Find(rule, c.mode, fld, "gateway reference %q is invalid: %v: write %s",
			ref, err, c.fixFor(gw))
		return
	}
	if gw.Mesh {
		return
	}
	what := fmt.Sprintf("gateway reference %q", ref)
	if ref != gw.String() {
		what += fmt.Sprintf(" (%s)", gw)
	}
	if gw.Namespace != c.ns && !slices.Contains(c.cfg.GatewayRefs.AllowedNamespaces, gw.Namespace) {
		c.rep.FindInTree(rule, c.mode, fld, msgCrossNamespace, what, gw.Namespace, c.ns, allowedList(c.cfg.GatewayRefs.AllowedNamespaces), gw.Namespace)
		return
	}
	if !c.knowsGateways() {
		return
	}
	found, err := c.gateways(gw.Name)
	if err != nil {
		return
	}
	if slices.ContainsFunc(found, func(m policy.ObjectMeta) bool { return m.Namespace == gw.Namespace }) {
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

func (c *gatewayRefChecker) knowsGateways() bool {
	return c.w != nil && c.w.Has(policy.KindIstioGateway)
}

// fixFor proposes a well-formed reference for an invalid one: the Gateways of
// that name the World knows, or <namespace>/<name> in the VirtualService's
// namespace.
func (c *gatewayRefChecker) fixFor(gw istio.GatewayRef) string {
	if len(validation.IsDNS1123Label(gw.Name)) > 0 {
		return "<namespace>/<name>, or the short name of a Gateway in namespace " + c.ns
	}
	if c.knowsGateways() {
		if all, err := c.gateways(gw.Name); err == nil && len(c.suggestions(all)) > 0 {
			found := c.suggestions(all)
			return `"` + strings.Join(found, `" or "`) + `"`
		}
	}
	return fmt.Sprintf("%q (or the short name %q)", c.ns+"/"+gw.Name, gw.Name)
}

// gateways returns the Istio Gateways called name, recording a lookup error.
func (c *gatewayRefChecker) gateways(name string) ([]policy.ObjectMeta, error) {
	found, err := c.w.IstioGateways(c.ctx, name)
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("look up Istio Gateways named %q: %w", name, err)
	}
	return found, err
}

// suggestions lists the Gateways of that name elsewhere as namespace/name,
// those in allowed namespaces first, then by namespace.
func (c *gatewayRefChecker) suggestions(found []policy.ObjectMeta) []string {
	var allowed, other []string
	for _, m := range found {
		s := m.Namespace + "/" + m.Name
		if m.Namespace == c.ns || slices.Contains(c.cfg.GatewayRefs.AllowedNamespaces, m.Namespace) {
			allowed = append(allowed, s)
		} else {
			other = append(other, s)
		}
	}
	slices.Sort(allowed)
	slices.Sort(other)
	return slices.Compact(append(allowed, other...))
}

func allowedList(ns []string) string {
	if len(ns) == 0 {
		return "no other namespace"
	}
	return strings.Join(ns, ", ")
}
