package validators

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

// servicePortNameInTree is the rule's in-tree form (policy.Rule.InTree).
var servicePortNameInTree = &policy.InTree{
	Build:    servicePortNamePolicy,
	Complete: true,
	Coverage: []policy.Coverage{
		{Part: "Istio's protocol reading of every port", Covered: true, How: "VAP (CEL)"},
		{Part: "mesh scope (namespace labels), skipped namespaces, Istio-managed Services, servicePorts.scope", Covered: true, How: "VAP: namespaceSelector, matchConditions, variables"},
		{Part: "ExternalName port named tcp (IST0150)", Covered: true, How: "VAP (CEL)"},
		{Part: "messages with the fix", Covered: true, How: "VAP messageExpression (several findings in one message; the first 8)"},
		{Part: "UPDATE: what the old object had too is a warning (updates.allowExistingFindings)", Covered: true, How: "VAP oldObject; a second policy, bound Warn, names it"},
		{Part: "a Service with more than 256 ports", Covered: false, How: "reported as not checked (denied in enforce mode): a bound on the CEL's cost"},
	},
}

// Bounds of the rule's in-tree form, so that its cost is bounded whatever
// the Service (the API server's CEL cost limits, and its CPU): it checks at
// most maxInTreePorts ports (a Service with more is reported as such, and
// denied in enforce mode), and writes the messages of the first
// maxInTreeShown findings (the rest are counted).
const (
	maxInTreePorts  = 256
	maxInTreeShown  = 8
	msgTooManyPorts = "this Service has %d ports, more than the %d the in-tree policy checks: run `meshgate check` on it, or suppress this rule for it"
)

// inTreePortFields is the CEL list of the field paths of the findings of
// service-port-name on the Service obj ("object" or "oldObject"): for each
// port Istio cannot read (or named tcp on an ExternalName Service),
// spec.ports[i].name, or spec.ports[i].appProtocol when that is set. Empty
// for a Service with more than maxInTreePorts ports.
func inTreePortFields(obj string) string {
	return fmt.Sprintf("[%s.spec.?ports.orValue([])].map(all, (%s).transformList(i, p, %s, %s))[0]",
		obj, inTreeFirstPorts("all"), inTreeBad(obj), inTreeField(obj, "i"))
}

// inTreeFirstPorts is the first ports of the CEL list all, at most
// maxInTreePorts (none when it has more), in a list whose size the cost
// estimator knows; a Service with few ports pays for few iterations.
func inTreeFirstPorts(all string) string {
	first := func(n int) string {
		return fmt.Sprintf("lists.range(%d).filter(i, i < size(%s)).map(i, %s[i])", n, all, all)
	}
	return fmt.Sprintf("size(%s) <= 8 ? %s : size(%s) <= %d ? %s : []", all, first(8), all, maxInTreePorts, first(maxInTreePorts))
}

// inTreeBad is true for a port p of Service obj that the rule reports.
func inTreeBad(obj string) string {
	return fmt.Sprintf("(%s || %s == '')", inTreeExtTCP(obj), istio.ReadCEL("p"))
}

func inTreeExtTCP(obj string) string {
	return fmt.Sprintf("(%s.spec.?type.orValue('') == '%s' && p.?name.orValue('') == '%s')", obj, corev1.ServiceTypeExternalName, externalNameTCP)
}

// inTreeField is the finding's field path for port p, index i, of obj.
func inTreeField(obj, i string) string {
	return fmt.Sprintf("'spec.ports[' + string(%s) + '].' + (%s ? 'name' : has(p.appProtocol) ? 'appProtocol' : 'name')", i, inTreeExtTCP(obj))
}

// servicePortNamePolicy is the rule's in-tree form: a ValidatingAdmissionPolicy
// that reads every port as istio.Read does and reports, with the rule's own
// messages, the ports Istio cannot read, in the Services istio.InScope
// selects: the system namespaces by the namespaceSelector, the Istio-managed
// Services by a matchCondition (object only: the API server gives
// matchConditions no namespaceObject), the mesh scope from the namespace's
// labels in a variable. On UPDATE it reports only what the update adds
// (intree.UpdateVariables); its twin warns about the rest.
func servicePortNamePolicy(cfg *policy.Config) (policy.InTreePolicies, error) {
	match, conditions, scope := istio.InScopeInTree(cfg)
	extTCP := inTreeExtTCP("object")
	std := intree.Strings(standardAppProtocols)
	apLower := "p.appProtocol.lowerAscii()"
	apMsg := fmt.Sprintf("(%s.exists(s, %s == s) ? %s : %s)", std, apLower,
		intree.Format(msgAppProtocolCase, "p.appProtocol", "p.port", fmt.Sprintf("%s.filter(s, %s == s)[0]", std, apLower)),
		intree.Format(msgAppProtocol,
			fmt.Sprintf("(p.appProtocol == '' ? %s : %s)", intree.Format(msgAppProtocolNone, "p.port"), intree.Format(msgAppProtocolWhat, "p.appProtocol", "p.port")),
			intree.String(knownAppProtocols)))
	tp := "string(p.targetPort)"
	// A targetPort given by name: the API server admits only port names with
	// a letter (IANA_SVC_NAME), never digits alone. (type(...) == string
	// would do, but the cost estimator counts a comparison of types as one
	// of lists of any size.)
	example := fmt.Sprintf("((has(p.targetPort) && %s.matches('[a-z]') && p.?protocol.orValue('TCP') != 'UDP' && %s != '') ? %s : %s)",
		tp, istio.NameProtocolCEL(tp, ""), intree.Format("%q like its targetPort", tp), intree.Format(`"http" or "tcp-%d"`, "p.port"))
	unnamed := intree.Format(msgUnnamed, "p.port", intree.String(knownPrefixes()), example,
		fmt.Sprintf("(size(variables.ports) > 1 ? %s : '')", intree.String(msgUnnamedAlso)))
	// k indexes the shown findings; i is the port's index.
	rename := intree.Format(msgRename, "p.name", "p.port", intree.String(knownPrefixes()), "variables.advice[k][0]", "variables.advice[k][1]")
	msg := fmt.Sprintf("(%s ? %s : has(p.appProtocol) ? %s : p.?name.orValue('') == '' ? %s : %s)",
		extTCP, intree.Format(msgExternalNameTCP, "p.port", "p.port", "p.port", "p.port"), apMsg, unnamed, rename)
	line := fmt.Sprintf("%s + variables.ref + ': ' + %s + ': ' + %s + variables.%s",
		intree.String("["+policy.ServicePortName+"] "), inTreeField("object", "i"), msg, intree.VarNote)

	// renameAdvice, per shown port: [advice, appProtocol].
	l, g, ps, f := "variables.lower[k]", "variables.glued[k]", "variables.parts[k]", "variables.first[k]"
	gluedRest := fmt.Sprintf("%s.substring(size(%s[0])).find('[^-_.].*')", l, g)
	firstProto := fmt.Sprintf("%s[%s[0]]", ps, f)
	firstRest := fmt.Sprintf("%s.transformList(j, x, j != %s[0], x).join('-')", ps, f)
	advice := fmt.Sprintf("size(%s) > 0 ? [%s, 'appProtocol: ' + %s[0]] : size(%s) > 0 ? [%s, 'appProtocol: ' + %s] : [%s, %s]",
		g, intree.String(msgAdviceGlued)+" + "+intree.QuoteNames(intree.Format("%q", g+"[0]"), fmt.Sprintf("[%s[0], %s[0] + '-' + %s]", g, g, gluedRest)), g,
		f, intree.String(msgAdviceFirst)+" + "+intree.QuoteNames(intree.Format("%q", firstProto), fmt.Sprintf("[%s + '-' + %s]", firstProto, firstRest)), firstProto,
		intree.String(msgAdviceNone)+" + "+intree.QuoteNames(intree.String(msgAdviceNoneNames), fmt.Sprintf("['http-' + %s, 'tcp-' + %s]", l, l)),
		intree.String(msgAdviceNoneAP))
	// Each shown finding's port, bound as p (i its index) in e.
	perShown := func(e string) string {
		return fmt.Sprintf("variables.shown.transformList(k, i, [variables.ports[i]].map(p, %s)[0])", e)
	}

	vars := append(scope, intree.Variables(
		"allPorts", "object.spec.?ports.orValue([])",
		// At most maxInTreePorts, in a list whose size the cost estimator knows.
		"ports", inTreeFirstPorts("variables.allPorts"),
		"ref", "'Service ' + request.namespace + '/' + (object.metadata.?name.orValue('') != '' ? object.metadata.name : '<unnamed>')",
		"bad", fmt.Sprintf("variables.ports.transformList(i, p, %s, i)", inTreeBad("object")),
		intree.VarFields, fmt.Sprintf("variables.bad.map(i, [variables.ports[i]].map(p, %s)[0])", inTreeField("object", "i")),
	)...)
	vars = append(vars, intree.UpdateVariables(cfg, inTreePortFields("oldObject"))...)
	vars = append(vars, intree.Variables(
		// The ports of the first maxInTreeShown reported findings.
		"shown", fmt.Sprintf("lists.range(%d).filter(k, k < size(variables.%s)).map(k, variables.bad[variables.%s[k]])", maxInTreeShown, intree.VarReported, intree.VarReported),
		"lower", "variables.shown.map(i, variables.ports[i].?name.orValue('').lowerAscii())",
		"glued", "variables.lower.map(l, "+intree.Strings(suggestPrefixes)+".filter(x, l.startsWith(x) && size(l) > size(x)))",
		"parts", "variables.lower.map(l, l.split('-'))",
		"first", fmt.Sprintf("variables.parts.map(ps, ps.transformList(j, x, j > 0 && x in %s && x != %s && x != %s, j))",
			istio.KnownProtocolsCEL(), istio.NameCEL(istio.UDP), istio.NameCEL(istio.HTTPProxy)),
		"advice", perShown(advice),
		"problems", perShown(line),
	)...)
	more := fmt.Sprintf("size(variables.%s) > size(variables.problems) ? string(size(variables.%s)) + ' problems, the first %d: ' + variables.problems.join(' ') : %s",
		intree.VarReported, intree.VarReported, maxInTreeShown, intree.Findings("variables.problems"))
	vap := admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
		MatchConstraints: match,
		MatchConditions:  conditions,
		Variables:        vars,
		Validations: []admissionregistrationv1.Validation{{
			Expression:        "!variables.inScope || size(variables.problems) == 0",
			MessageExpression: more,
			Message:           "Istio cannot tell the protocol of a port of this Service (run `meshgate check` on it for the details)",
			Reason:            ptr.To(metav1.StatusReasonForbidden),
		}, {
			Expression: fmt.Sprintf("!variables.inScope || size(variables.allPorts) <= %d", maxInTreePorts),
			MessageExpression: intree.String("["+policy.ServicePortName+"] ") + " + variables.ref + ': spec.ports: ' + " +
				intree.Format(msgTooManyPorts, "size(variables.allPorts)", fmt.Sprint(maxInTreePorts)),
			Message: fmt.Sprintf("this Service has more than %d ports, more than the in-tree policy checks: run `meshgate check` on it", maxInTreePorts),
			Reason:  ptr.To(metav1.StatusReasonForbidden),
		}},
	}}
	return policy.InTreePolicies{Validating: []admissionregistrationv1.ValidatingAdmissionPolicy{vap}}, nil
}
