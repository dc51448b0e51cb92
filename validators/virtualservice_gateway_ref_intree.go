package validators

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

// virtualServiceGatewayRefInTree is the rule's in-tree form (policy.Rule.InTree).
var virtualServiceGatewayRefInTree = &policy.InTree{
	Build: virtualServiceGatewayRefPolicy,
	Coverage: []policy.Coverage{
		{Part: "a malformed reference whose gateway name is not a DNS label", Covered: true, How: "VAP (CEL); the webhook leaves that finding to it"},
		{Part: `such a reference with a " or \ or a non-ASCII character`, Covered: false, How: "not matched: the webhook reports it"},
		{Part: "other malformed references (the fix names the Gateways meshgate knows)", Covered: false, How: "webhook only: it reads other objects (networking.istio.io/Gateway)"},
		{Part: "a reference into another namespace (allowed by config, or shared by the Gateway's owner)", Covered: false, How: "webhook only: it reads the Gateway's meshgate.io/allowed-namespaces annotation"},
		{Part: "a short name that matches no Gateway here but one elsewhere; unknown Gateways; Gateway API Gateways", Covered: false, How: "webhook only: it reads other objects (networking.istio.io and gateway.networking.k8s.io Gateways)"},
	},
}

// virtualServiceGatewayRefPolicy is the in-tree form of the part of the rule
// that reads nothing but the VirtualService: a ValidatingAdmissionPolicy that
// reports every malformed reference (istio.ResolveGatewayRef, in CEL) whose
// gateway name is not a DNS label, with the rule's message. The rule marks
// that finding as the policy's (Report.FindInTree), so a webhook whose
// policies are installed does not report it twice. A reference into another
// namespace is the webhook's: only it can read whether the Gateway's owner
// shares it.
func virtualServiceGatewayRefPolicy(cfg *policy.Config) (policy.InTreePolicies, error) {
	// Each reference r is [reference, field, namespace, name] (resolved
	// as istio.ResolveGatewayRef does).
	x, ns, name := "r[0]", "r[2]", "r[3]"
	resolveNS, resolveName := istio.ResolveGatewayRefCEL(x, "request.namespace")
	why := istio.GatewayRefErrorCEL(x, ns, name)
	msg := intree.Format(msgInvalid, x, why, intree.Format(fixAnyName, "request.namespace"))
	inTree := fmt.Sprintf("%s != %s && %s.matches(%s) && !%s", x, intree.String(istio.MeshGateway), x, intree.String(plainRef.String()), intree.ValidDNSLabel(name))
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
		intree.String("["+policy.VirtualServiceGatewayRef+"] "), msg)
	vap := admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
		MatchConstraints: intree.MatchKinds([]policy.Kind{policy.VirtualServiceKind}, nil),
		// On UPDATE, only what the update adds (intree.LinesUpdate).
		Variables: intree.LinesUpdate(cfg, intree.Variables(
			"refs", fmt.Sprintf("(%s).map(r, [r[0], r[1], %s, %s])", strings.Join(refs, " + "), resolveNS, resolveName),
			"problems", fmt.Sprintf("variables.refs.filter(r, %s).map(r, %s)", inTree, line),
		)),
		Validations: []admissionregistrationv1.Validation{{
			Expression:        "size(variables.problems) == 0",
			MessageExpression: intree.Findings("variables.problems"),
		}},
	}}
	return policy.InTreePolicies{Validating: []admissionregistrationv1.ValidatingAdmissionPolicy{vap}}, nil
}
