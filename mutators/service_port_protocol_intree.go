package mutators

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

// servicePortProtocolInTree is the rule's in-tree form (policy.Rule.InTree).
var servicePortProtocolInTree = &policy.InTree{
	Build:    servicePortProtocolPolicy,
	Complete: true,
	Coverage: []policy.Coverage{
		{Part: "name unnamed ports (after appProtocol, Emissary's ports, 80, 443, Istio's TCP ports), unique names", Covered: true, How: "MAP ApplyConfiguration (merge by port and protocol)"},
		{Part: "appProtocol on named ports Istio cannot read; selector-less Services keep their names", Covered: true, How: "MAP ApplyConfiguration"},
		{Part: "mesh scope, skipped namespaces, Istio-managed Services, servicePorts.scope", Covered: true, How: "MAP: namespaceSelector, matchConditions, variables"},
		{Part: "the reason of each change (audit annotation)", Covered: false, How: "a MAP records no reason; `meshgate check` shows it"},
	},
}

// servicePortProtocolPolicy is the rule's in-tree form: a
// MutatingAdmissionPolicy whose ApplyConfiguration merges, by each port's key
// (port and protocol), a name into the unnamed ports and an appProtocol into
// the named ones Istio cannot read, exactly where ServicePortProtocol would:
// it never renames a port nor overwrites an appProtocol.
func servicePortProtocolPolicy(cfg *policy.Config) (policy.InTreePolicies, error) {
	match, conditions, scope := istio.InScopeInTree(cfg)
	target := "((!has(p.targetPort) || p.targetPort == 0) ? p.port : p.targetPort)"
	// targetProto: what a named targetPort says (istio.ByPortName), "" for none.
	targetProto := "(has(p.targetPort) && type(p.targetPort) == string) ? " + istio.NameProtocolCEL("string(p.targetPort)", "") + " : ''"
	tp := "variables.targetProto[i]"
	infer := fmt.Sprintf("((variables.edge && (%s == %s || %s == %d || %s == %d)) ? %s : %s in %s ? '' : %s != '' ? %s : %s)",
		target, intree.String(emissary.AdminPortName), target, emissary.AdminPort, target, emissary.SnapshotPort, istio.NameCEL(istio.HTTP),
		tp, istio.NamesCEL(istio.UDP, istio.HTTPProxy), tp, tp, istio.ByPortNumberCEL("p.port"))
	tcp := "p.?protocol.orValue('TCP') == 'TCP'"
	unnamed := "p.?name.orValue('') == ''"
	// An appProtocol names the port after what Istio reads from it, but for
	// HTTP_PROXY, which no port name carries (istio.PortName).
	base := fmt.Sprintf("(%s && %s && !variables.selectorless) ? (has(p.appProtocol) ? (variables.proto[i] != %s ? variables.proto[i] : '') : variables.infer[i]) : ''",
		tcp, unnamed, istio.NameCEL(istio.HTTPProxy))
	b, withPort := "variables.base[i]", "variables.base[i] + '-' + string(p.port)"
	// uniquePortName: base, base-<port>, or the first free base-<port>-<n>
	// (the range always holds one).
	name := fmt.Sprintf("%s == '' ? '' : (!(%s in variables.used) && !variables.base.exists(j, v, j < i && v == %s)) ? %s : !(%s in variables.used) ? %s : "+
		"lists.range(size(variables.used) + size(variables.ports)).map(n, %s + '-' + string(n + 2)).filter(c, !(c in variables.used))[0]",
		b, b, b, b, withPort, withPort, withPort)
	newAP := fmt.Sprintf("(%s && !(%s && !variables.selectorless) && !has(p.appProtocol) && variables.proto[i] == '') ? variables.infer[i] : ''", tcp, unnamed)
	item := "Object.spec.ports{port: p.port, protocol: p.?protocol.orValue('TCP'), %s: %s}"
	apply := fmt.Sprintf("variables.inScope && (variables.newName.exists(n, n != '') || variables.newAP.exists(a, a != '')) ? "+
		"Object{spec: Object.spec{ports: variables.ports.transformList(i, p, variables.newName[i] != '' || variables.newAP[i] != '', variables.newName[i] != '' ? %s : %s)}} : Object{}",
		fmt.Sprintf(item, "name", "variables.newName[i]"), fmt.Sprintf(item, "appProtocol", "variables.newAP[i]"))

	mp := admissionregistrationv1.MutatingAdmissionPolicy{Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
		MatchConstraints: match,
		MatchConditions:  conditions,
		Variables: append(append(scope, intree.ConfigVariable(intree.VarEdgeSelectors, cfg.EdgeProxy.Selectors)), intree.Variables(
			"ports", "object.spec.?ports.orValue([])",
			"selectorless", "size(object.spec.?selector.orValue({})) == 0",
			"edge", fmt.Sprintf("%s == %s || %s == %s || (!variables.selectorless && %s.exists(s, size(s) > 0 && s.all(k, k in object.spec.selector && object.spec.selector[k] == s[k])))",
				intree.Label("variables.objLabels", emissary.LabelProduct), intree.String(emissary.ProductAES),
				intree.Label("variables.objLabels", emissary.LabelService), intree.String(emissary.ServiceAmbassadorAdmin),
				"variables."+intree.VarEdgeSelectors),
			"proto", "variables.ports.map(p, "+istio.ReadCEL("p")+")",
			"targetProto", "variables.ports.map(p, "+targetProto+")",
			"infer", "variables.ports.transformList(i, p, "+infer+")",
			"used", "variables.ports.filter(p, p.?name.orValue('') != '').map(p, p.name)",
			"base", "variables.ports.transformList(i, p, "+base+")",
			"newName", "variables.ports.transformList(i, p, "+name+")",
			"newAP", "variables.ports.transformList(i, p, "+newAP+")",
		)...),
		Mutations: []admissionregistrationv1.Mutation{{
			PatchType:          admissionregistrationv1.PatchTypeApplyConfiguration,
			ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: apply},
		}},
	}}
	return policy.InTreePolicies{Mutating: []admissionregistrationv1.MutatingAdmissionPolicy{mp}}, nil
}
