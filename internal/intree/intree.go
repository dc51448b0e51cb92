// Package intree turns the rules' in-tree forms (policy.InTree) into what the
// API server applies itself: ValidatingAdmissionPolicies and
// MutatingAdmissionPolicies (admissionregistration.k8s.io/v1) with their
// bindings, for one meshgate configuration. `meshgate in-tree`, the chart and
// the parity tests use it. It only assembles what the rules declare (each
// rule's form is in its <rule>_intree.go); cel.go holds the CEL building
// blocks they share.
package intree

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
)

// Labels and annotations on every generated object.
const (
	LabelManagedBy       = "app.kubernetes.io/managed-by"
	ManagedBy            = "meshgate"
	LabelRule            = "meshgate.io/rule"
	AnnotationConfigHash = "meshgate.io/config-hash"
)

// Name is the name of rule id's policies and bindings.
func Name(id string) string { return id + ".meshgate.io" }

// StaticName is the name of rule id's policies and bindings in the variant for
// the API server's static manifests directory, whose objects must be named
// "*.static.k8s.io".
func StaticName(id string) string { return id + ".meshgate.static.k8s.io" }

// Options shape the generated policies beyond the configuration.
type Options struct {
	// ExcludeNamespaces are never matched (meshgate's own namespace, like the
	// webhook's namespaceSelector).
	ExcludeNamespaces []string
	// ServiceAccountUser is meshgate's own user name
	// ("system:serviceaccount:<ns>:<name>"); its requests are not matched.
	ServiceAccountUser string
	// Static names the objects for the API server's static manifests
	// directory (StaticName).
	Static bool
}

// Set is the generated policies and bindings of every rule with an in-tree
// form, in policy.Rules order.
type Set struct {
	Rules []RuleSet
}

// RuleSet is one rule's policies and bindings.
type RuleSet struct {
	Rule               string
	Validating         []admissionregistrationv1.ValidatingAdmissionPolicy
	ValidatingBindings []admissionregistrationv1.ValidatingAdmissionPolicyBinding
	Mutating           []admissionregistrationv1.MutatingAdmissionPolicy
	MutatingBindings   []admissionregistrationv1.MutatingAdmissionPolicyBinding
}

// Objects returns the rule's objects: policies, each followed by its binding.
func (rs RuleSet) Objects() []runtime.Object {
	var out []runtime.Object
	for i := range rs.Mutating {
		out = append(out, &rs.Mutating[i])
		for j := range rs.MutatingBindings {
			if rs.MutatingBindings[j].Spec.PolicyName == rs.Mutating[i].Name {
				out = append(out, &rs.MutatingBindings[j])
			}
		}
	}
	for i := range rs.Validating {
		out = append(out, &rs.Validating[i])
		for j := range rs.ValidatingBindings {
			if rs.ValidatingBindings[j].Spec.PolicyName == rs.Validating[i].Name {
				out = append(out, &rs.ValidatingBindings[j])
			}
		}
	}
	return out
}

// Objects returns every object of the set.
func (s *Set) Objects() []runtime.Object {
	var out []runtime.Object
	for _, rs := range s.Rules {
		out = append(out, rs.Objects()...)
	}
	return out
}

// ConfigHash is the hash the generated objects carry of the configuration
// they were generated for.
func ConfigHash(cfg *policy.Config) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("hash the configuration: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Generate builds the policies of every rule with an in-tree form for cfg.
// A rule in mode enforce is bound with action Deny, in mode warn with Warn; a
// rule that is off gets its policies but no binding. A mutation rule's
// policies are bound whatever its mode but off.
func Generate(cfg *policy.Config, o Options) (*Set, error) {
	if cfg == nil {
		cfg = policy.DefaultConfig()
	}
	hash, err := ConfigHash(cfg)
	if err != nil {
		return nil, err
	}
	set := &Set{}
	for _, r := range policy.RulesInTree() {
		ps, err := r.InTree.Build(cfg)
		if err != nil {
			return nil, fmt.Errorf("rule %s: in-tree form: %w", r.ID, err)
		}
		rs := RuleSet{Rule: r.ID}
		meta := func(n string) metav1.ObjectMeta {
			return metav1.ObjectMeta{
				Name:        n,
				Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelRule: r.ID},
				Annotations: map[string]string{AnnotationConfigHash: hash},
			}
		}
		mode := cfg.Mode(r.ID)
		sup, err := SuppressionData(cfg, r.ID)
		if err != nil {
			return nil, err
		}
		type vap struct {
			p    admissionregistrationv1.ValidatingAdmissionPolicy
			name string
			twin bool
		}
		var vaps []vap
		for i, p := range ps.Validating {
			vaps = append(vaps, vap{p: p, name: numbered(r.ID, i, o.Static)})
			if twin, ok := existingTwin(p); ok {
				vaps = append(vaps, vap{p: twin, name: numbered(r.ID+existingSuffix, i, o.Static), twin: true})
			}
		}
		for _, v := range vaps {
			p, n := v.p, v.name
			// A suppressed object gets neither denial nor warning from the
			// webhook; the policy passes it too.
			p.Spec.Variables = append([]admissionregistrationv1.Variable{
				ConfigVariable(VarSuppressions, sup), {Name: varSuppressed, Expression: suppressed},
			}, p.Spec.Variables...)
			for j := range p.Spec.Validations {
				p.Spec.Validations[j].Expression = "variables." + varSuppressed + " || (" + p.Spec.Validations[j].Expression + ")"
			}
			p.TypeMeta = metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"}
			p.ObjectMeta = meta(n)
			p.Spec.MatchConstraints = exclude(p.Spec.MatchConstraints, o)
			p.Spec.MatchConditions = append(excludeUser(o), p.Spec.MatchConditions...)
			if p.Spec.FailurePolicy == nil {
				fp := admissionregistrationv1.Fail
				if mode != policy.Enforce {
					fp = admissionregistrationv1.Ignore
				}
				p.Spec.FailurePolicy = &fp
			}
			rs.Validating = append(rs.Validating, p)
			if mode == policy.Off {
				continue
			}
			action := admissionregistrationv1.Deny
			if mode == policy.Warn || v.twin {
				action = admissionregistrationv1.Warn
			}
			rs.ValidatingBindings = append(rs.ValidatingBindings, admissionregistrationv1.ValidatingAdmissionPolicyBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
				ObjectMeta: meta(n),
				Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
					PolicyName:        n,
					ValidationActions: []admissionregistrationv1.ValidationAction{action},
				},
			})
		}
		for i, p := range ps.Mutating {
			n := numbered(r.ID, i, o.Static)
			p.TypeMeta = metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicy"}
			p.ObjectMeta = meta(n)
			p.Spec.MatchConstraints = exclude(p.Spec.MatchConstraints, o)
			p.Spec.MatchConditions = append(excludeUser(o), p.Spec.MatchConditions...)
			if p.Spec.FailurePolicy == nil {
				// A mutation that cannot be computed must not block the
				// object: the webhook (or `meshgate check`) still reports it.
				fp := admissionregistrationv1.Ignore
				p.Spec.FailurePolicy = &fp
			}
			if p.Spec.ReinvocationPolicy == "" {
				p.Spec.ReinvocationPolicy = admissionregistrationv1.IfNeededReinvocationPolicy
			}
			rs.Mutating = append(rs.Mutating, p)
			if mode == policy.Off {
				continue
			}
			rs.MutatingBindings = append(rs.MutatingBindings, admissionregistrationv1.MutatingAdmissionPolicyBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicyBinding"},
				ObjectMeta: meta(n),
				Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: n},
			})
		}
		set.Rules = append(set.Rules, rs)
	}
	return set, nil
}

// SuppressionData is cfg's suppressions of rule, as the data the policies'
// suppressed variable reads: per suppression a list of string lists, [kind],
// [namespace pattern], [name pattern], the selector's matchLabels flattened
// (key, value, ...) in key order, then each matchExpression as [key,
// operator, values...]. A pattern with a "\" escape is an error: CEL cannot
// read it as path.Match does.
func SuppressionData(cfg *policy.Config, rule string) ([][][]string, error) {
	out := [][][]string{}
	for i, s := range cfg.Suppressions {
		if s.Rule != rule {
			continue
		}
		for _, pattern := range []string{s.Namespace, s.Name} {
			if strings.Contains(pattern, `\`) {
				return nil, fmt.Errorf("suppressions[%d] (rule %s): pattern %q has a \\ escape, which the in-tree policies cannot mirror: write it without one", i, rule, pattern)
			}
		}
		labels := []string{}
		var exprs [][]string
		if s.Selector != nil {
			keys := slices.Sorted(maps.Keys(s.Selector.MatchLabels))
			for _, k := range keys {
				labels = append(labels, k, s.Selector.MatchLabels[k])
			}
			for _, e := range s.Selector.MatchExpressions {
				exprs = append(exprs, append([]string{e.Key, string(e.Operator)}, e.Values...))
			}
		}
		out = append(out, append([][]string{{s.Kind}, {s.Namespace}, {s.Name}, labels}, exprs...))
	}
	return out, nil
}

// globRegex turns the CEL string of a path.Match pattern (without "\\"
// escapes) into an anchored RE2 expression: "*" any run, "?" one character,
// character classes as they are, every other character literal.
func globRegex(p string) string {
	for _, c := range []string{".", "+", "(", ")", "{", "}", "|", "$", "^"} {
		p += fmt.Sprintf(".replace(%s, %s)", String(c), String(`\`+c))
	}
	return fmt.Sprintf("'^' + %s.replace(%s, '[^').replace('*', '.*').replace('?', '.') + '$'", p, String(`[\^`))
}

// suppressed is true when one of the policy's suppressions
// (VarSuppressions) matches the object: Suppression.matches in CEL.
var suppressed = func() string {
	l := "object.metadata.?labels.orValue({})"
	e := "s[j + 4]"
	in := fmt.Sprintf("(%s[0] in %s && %s[%s[0]] in %s.slice(2, size(%s)))", e, l, l, e, e, e)
	expr := fmt.Sprintf("(%s[1] == 'In' ? %s : %s[1] == 'NotIn' ? !%s : %s[1] == 'Exists' ? %s[0] in %s : !(%s[0] in %s))",
		e, in, e, in, e, e, l, e, l)
	return fmt.Sprintf("variables.%s.exists(s, (s[0][0] == '' || s[0][0] == request.kind.kind) && "+
		"(s[1][0] == '' || request.namespace.matches(%s)) && "+
		"(s[2][0] == '' || object.metadata.?name.orValue('').matches(%s)) && "+
		"lists.range(size(s[3]) / 2).all(i, s[3][2 * i] in %s && %s[s[3][2 * i]] == s[3][2 * i + 1]) && "+
		"lists.range(size(s) - 4).all(j, %s))",
		VarSuppressions, globRegex("s[1][0]"), globRegex("s[2][0]"), l, l, expr)
}()

// numbered names a rule's i-th policy of a kind: Name(id), then
// Name(id-2), ...
func numbered(id string, i int, static bool) string {
	if i > 0 {
		id = fmt.Sprintf("%s-%d", id, i+1)
	}
	if static {
		return StaticName(id)
	}
	return Name(id)
}

// exclude adds the excluded namespaces to mr's namespaceSelector.
func exclude(mr *admissionregistrationv1.MatchResources, o Options) *admissionregistrationv1.MatchResources {
	if len(o.ExcludeNamespaces) == 0 {
		return mr
	}
	if mr == nil {
		mr = &admissionregistrationv1.MatchResources{}
	}
	if mr.NamespaceSelector == nil {
		mr.NamespaceSelector = &metav1.LabelSelector{}
	}
	ns := slices.Clone(o.ExcludeNamespaces)
	slices.Sort(ns)
	mr.NamespaceSelector.MatchExpressions = append(mr.NamespaceSelector.MatchExpressions, metav1.LabelSelectorRequirement{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: slices.Compact(ns),
	})
	return mr
}

func excludeUser(o Options) []admissionregistrationv1.MatchCondition {
	if o.ServiceAccountUser == "" {
		return nil
	}
	return []admissionregistrationv1.MatchCondition{{
		Name:       "not-meshgate",
		Expression: "request.userInfo.username != " + String(o.ServiceAccountUser),
	}}
}

// header starts every generated file.
const header = "# Generated by `meshgate in-tree`: meshgate's in-tree policies.\n# Do not edit: change meshgate's configuration and generate them again.\n"

// WriteYAML writes objs as one YAML stream.
func WriteYAML(w io.Writer, objs []runtime.Object) error {
	var buf bytes.Buffer
	buf.WriteString(header)
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode %T: %w", o, err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteDir writes one file per rule, <rule-id>.yaml, into dir.
func WriteDir(dir string, s *Set) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, rs := range s.Rules {
		var buf bytes.Buffer
		if err := WriteYAML(&buf, rs.Objects()); err != nil {
			return err
		}
		path := filepath.Join(dir, rs.Rule+".yaml")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// Explain writes the coverage table: for every registered rule, each part
// and whether its in-tree form covers it.
func Explain(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tPART\tIN-TREE\tHOW")
	for _, r := range policy.Rules() {
		if r.InTree == nil {
			fmt.Fprintf(tw, "%s\t(all)\tno\twebhook only: %s\n", r.ID, webhookOnlyReason(r))
			continue
		}
		for _, c := range r.InTree.Coverage {
			yes := "no"
			if c.Covered {
				yes = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, c.Part, yes, c.How)
		}
	}
	return tw.Flush()
}

func webhookOnlyReason(r policy.Rule) string {
	var reads []string
	for _, k := range r.Reads {
		if k != policy.KindNamespace {
			reads = append(reads, string(k))
		}
	}
	if len(reads) > 0 {
		return "it reads other objects (" + strings.Join(reads, ", ") + ")"
	}
	if r.NoInTree != "" {
		return r.NoInTree
	}
	return "no in-tree form yet"
}

// MatchKinds returns match constraints for kinds (their resources, versions
// and admission operations, as the rule registry declares them), excluding
// the namespaces named in excludeNamespaces.
func MatchKinds(kinds []policy.Kind, excludeNamespaces []string) *admissionregistrationv1.MatchResources {
	mr := &admissionregistrationv1.MatchResources{}
	for _, k := range kinds {
		ops := make([]admissionregistrationv1.OperationType, 0, len(k.Operations))
		for _, op := range k.Operations {
			ops = append(ops, admissionregistrationv1.OperationType(op))
		}
		mr.ResourceRules = append(mr.ResourceRules, admissionregistrationv1.NamedRuleWithOperations{
			RuleWithOperations: admissionregistrationv1.RuleWithOperations{
				Operations: ops,
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{k.Group}, APIVersions: slices.Clone(k.Versions), Resources: []string{k.Resource},
				},
			},
		})
	}
	if len(excludeNamespaces) > 0 {
		mr.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: slices.Clone(excludeNamespaces),
		}}}
	}
	return mr
}

// Variables builds policy variables from name, expression pairs.
func Variables(nameExpr ...string) []admissionregistrationv1.Variable {
	if len(nameExpr)%2 != 0 {
		panic("intree.Variables: odd number of arguments")
	}
	out := make([]admissionregistrationv1.Variable, 0, len(nameExpr)/2)
	for i := 0; i < len(nameExpr); i += 2 {
		out = append(out, admissionregistrationv1.Variable{Name: nameExpr[i], Expression: nameExpr[i+1]})
	}
	return out
}

// Findings is the messageExpression of a validation whose variable list
// holds one finding line per problem: the line, or "<n> problems: " and the
// lines (the API server allows no line break in a message, where the webhook
// puts one between findings).
func Findings(list string) string {
	return fmt.Sprintf("size(%s) == 1 ? %s[0] : string(size(%s)) + ' problems: ' + %s.join(' ')", list, list, list, list)
}

// Variables whose expression is a literal from meshgate's configuration
// (ConfigVariable): the only parts of the policies that depend on it, besides
// the rules' modes. The chart renders them from its values.
const (
	// VarScopeAll is servicePorts.scope == all.
	VarScopeAll = "cfgScopeAll"
	// VarEdgeSelectors is edgeProxy.selectors.
	VarEdgeSelectors = "cfgEdgeSelectors"
	// VarCertModeSecret is edgeProxy.certMode == secret.
	VarCertModeSecret = "cfgCertModeSecret"
	// VarAllowedNamespaces is gatewayRefs.allowedNamespaces.
	VarAllowedNamespaces = "cfgAllowedNamespaces"
	// VarSuppressions is the suppressions of the policy's rule
	// (SuppressionData).
	VarSuppressions = "cfgSuppressions"
	// varSuppressed is true when one of them matches the object.
	varSuppressed = "meshgateSuppressed"
)

// ConfigVariable is a variable whose expression is value as a JSON literal
// (valid CEL for booleans, strings, lists and string maps).
func ConfigVariable(name string, value any) admissionregistrationv1.Variable {
	b, err := json.Marshal(value)
	if err != nil {
		panic(fmt.Sprintf("intree.ConfigVariable %s: %v", name, err)) // the values are plain data
	}
	if string(b) == "null" {
		b = []byte("[]")
	}
	return admissionregistrationv1.Variable{Name: name, Expression: string(b)}
}
