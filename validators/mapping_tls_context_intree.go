package validators

import (
	"fmt"
	"regexp"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
)

// mappingTLSContextInTree is the rule's in-tree form (policy.Rule.InTree).
var mappingTLSContextInTree = &policy.InTree{
	Build: tlsContextWiringPolicy,
	Coverage: []policy.Coverage{
		{Part: "the Istio TLSContext: namespace, secret, legacy files, alpn_protocols", Covered: true, How: "VAP (CEL); the webhook leaves those findings to it"},
		{Part: "UPDATE: what the old object had too is a warning (updates.allowExistingFindings)", Covered: true, How: "VAP oldObject; a second policy, bound Warn, names it"},
		{Part: "a TLSContext with a \" or \\ or a non-ASCII character in those fields, or a file path with . or .. segments", Covered: false, How: "not matched: the webhook reports it"},
		{Part: "Mappings: the TLSContext exists, the upstream's data plane, mTLS and port", Covered: false, How: "webhook only: it reads other objects (Service, TLSContext, PeerAuthentication, Module, Resolver)"},
	},
}

// tlsContextWiringPolicy is the in-tree form of TLSContextWiring: a
// ValidatingAdmissionPolicy with the same findings, in the same order, with
// the same messages, on the TLSContexts tlsContextPlain accepts (its
// matchCondition).
func tlsContextWiringPolicy(cfg *policy.Config) (policy.InTreePolicies, error) {
	q := intree.String
	str := func(key string) string {
		return fmt.Sprintf("((has(object.spec) && has(object.spec.%s) && type(object.spec.%s) == string) ? object.spec.%s : '')", key, key, key)
	}
	var plain []string
	for _, key := range []string{"secret", "alpn_protocols", "cert_chain_file", "private_key_file", "cacert_chain_file"} {
		cond := fmt.Sprintf("%s.matches(%s)", str(key), q(intree.PlainText))
		if strings.HasSuffix(key, "_file") {
			cond += fmt.Sprintf(" && !%s.matches(%s)", str(key), q(intree.UncleanPath))
		}
		// A value that is not a string is not plain (the schema has them
		// all as strings).
		plain = append(plain, fmt.Sprintf("(!has(object.spec) || !has(object.spec.%s) || type(object.spec.%s) == string) && %s", key, key, cond))
	}
	name, ns, secret := "variables.name", "request.namespace", "variables.secret"
	want := "variables." + varIstioSecret
	edgeNS := "variables." + varEdgeNamespaces + ".join(' or ')"
	line := func(fld, msg string) string {
		return fmt.Sprintf("%s + 'TLSContext ' + request.namespace + '/' + variables.name + ': ' + %s + ': ' + %s",
			q("["+policy.MappingTLSContext+"] "), fld, msg)
	}
	when := func(cond, fld, msg string) string { return fmt.Sprintf("(%s ? [%s] : [])", cond, line(fld, msg)) }
	var files []string
	for _, f := range legacyFiles {
		v := "variables." + f.key
		dir := q(emissary.LegacyCertDir)
		if f.required {
			files = append(files, when(v+" == ''", q("spec."+f.key),
				intree.Format(msgTLSFileMissing, name, q(f.key), dir, q(f.key), dir, q(f.example))))
		}
		inDir := fmt.Sprintf("%s.matches(%s)", v, q("^"+regexp.QuoteMeta(emissary.LegacyCertDir)+"[^/]"))
		files = append(files, when(v+" != '' && !"+inDir, q("spec."+f.key),
			intree.Format(msgTLSFileElsewhere, q(f.key), name, v, dir, q(f.key), dir, q(f.example))))
	}
	secretFinding := fmt.Sprintf("variables.secretOK ? [] : (variables.%s && %s == '') ? (%s) : (%s == '' && variables.usesFiles) ? [%s] : %s == '' ? [%s] : [%s]",
		intree.VarCertModeSecret, secret, strings.Join(files, " + "),
		secret, line("'spec.secret'", intree.Format(msgTLSFiles, name, want)),
		secret, line("'spec.secret'", intree.Format(msgTLSNoSecret, name, want)),
		line("'spec.secret'", intree.Format(msgTLSOtherSecret, name, secret, want, want)))
	got := "(size(variables.alpn) == 0 ? 'is not set' : 'is \"' + variables.alpn.join(',') + '\"')"

	vap := admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
		MatchConstraints: intree.MatchKinds([]policy.Kind{policy.TLSContextKind}, nil),
		MatchConditions:  []admissionregistrationv1.MatchCondition{{Name: "plain-values", Expression: strings.Join(plain, " && ")}},
		// On UPDATE, only what the update adds (intree.LinesUpdate).
		Variables: intree.LinesUpdate(cfg, append([]admissionregistrationv1.Variable{
			intree.ConfigVariable(varIstioTLSContext, cfg.Mappings.TLSContext),
			intree.ConfigVariable(varIstioSecret, cfg.Mappings.IstioSecret),
			intree.ConfigVariable(varEdgeNamespaces, cfg.EdgeProxy.Namespaces),
			intree.ConfigVariable(intree.VarCertModeSecret, cfg.EdgeProxy.CertMode == policy.CertModeSecret),
		}, intree.Variables(
			"name", "object.metadata.?name.orValue('')",
			"secret", str("secret"),
			"cert_chain_file", str("cert_chain_file"),
			"private_key_file", str("private_key_file"),
			"cacert_chain_file", str("cacert_chain_file"),
			"usesFiles", "variables.cert_chain_file != '' || variables.private_key_file != '' || variables.cacert_chain_file != ''",
			"alpn", str("alpn_protocols")+".split(',').map(p, p.trim()).filter(p, p != '')",
			// istioSecretRef: the Secret itself, or <secret>.<namespace>
			// (Emissary's secret_namespacing; the last dot splits).
			"secretOK", fmt.Sprintf("%s != '' && (%s == %s || (%s.contains('.') && %s.substring(0, %s.lastIndexOf('.')) == %s && %s.substring(%s.lastIndexOf('.') + 1) == %s))",
				secret, secret, want, secret, secret, secret, want, secret, secret, ns),
			"problems", fmt.Sprintf("variables.name == '' || variables.name != variables.%s ? [] : %s + (%s) + %s",
				varIstioTLSContext,
				when(fmt.Sprintf("!(%s in variables.%s)", ns, varEdgeNamespaces), "'metadata.namespace'",
					intree.Format(msgTLSNamespace, name, ns, want, edgeNS, edgeNS)),
				secretFinding,
				when("!('"+emissary.ALPNIstio+"' in variables.alpn)", "'spec.alpn_protocols'", intree.Format(msgTLSALPN, name, got))),
		)...)),
		Validations: []admissionregistrationv1.Validation{{
			Expression:        "size(variables.problems) == 0",
			MessageExpression: intree.Findings("variables.problems"),
		}},
	}}
	return policy.InTreePolicies{Validating: []admissionregistrationv1.ValidatingAdmissionPolicy{vap}}, nil
}

// The variables of the policy that carry meshgate's configuration.
const (
	varIstioTLSContext = "cfgIstioTLSContext"
	varIstioSecret     = "cfgIstioSecret"
	varEdgeNamespaces  = "cfgEdgeNamespaces"
)
