package chart_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
)

// hostile are label keys and values (and other chart values) that would
// change a CEL expression they were pasted into unquoted.
var hostile = []string{
	`a" || true || "`,
	`a') || true || ('`,
	"a\n|| true",
	`a\`,
	`)) || object.metadata.name != "`,
}

// celShape parses expr and returns its structure with every literal replaced
// by its type: two expressions of the same shape differ only in constants.
func celShape(t *testing.T, expr string) string {
	t.Helper()
	env, err := cel.NewEnv(cel.OptionalTypes(), cel.Variable("object", cel.DynType), cel.Variable("request", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	parsed, iss := env.Parse(expr)
	if iss.Err() != nil {
		t.Fatalf("CEL %q does not parse: %v", expr, iss.Err())
	}
	var shape func(e celast.Expr) string
	shape = func(e celast.Expr) string {
		switch e.Kind() {
		case celast.LiteralKind:
			return fmt.Sprintf("%T", e.AsLiteral().Value())
		case celast.IdentKind:
			return e.AsIdent()
		case celast.SelectKind:
			s := e.AsSelect()
			if s.IsTestOnly() {
				return "has(" + shape(s.Operand()) + "." + s.FieldName() + ")"
			}
			return shape(s.Operand()) + "." + s.FieldName()
		case celast.CallKind:
			c := e.AsCall()
			var args []string
			for _, a := range c.Args() {
				args = append(args, shape(a))
			}
			tgt := ""
			if c.IsMemberFunction() {
				tgt = shape(c.Target()) + "."
			}
			return tgt + c.FunctionName() + "(" + strings.Join(args, ", ") + ")"
		case celast.ListKind:
			var elems []string
			for _, x := range e.AsList().Elements() {
				elems = append(elems, shape(x))
			}
			return "[" + strings.Join(elems, ", ") + "]"
		default:
			return fmt.Sprintf("<%v>", e.Kind())
		}
	}
	return shape(parsed.NativeRep().Expr())
}

// celEval compiles expr and evaluates it for an object with labels.
func celEval(t *testing.T, expr string, labels map[string]string) bool {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		t.Fatalf("CEL %q does not compile: %v", expr, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]any{"name": "edge"}
	if labels != nil {
		l := map[string]any{}
		for k, v := range labels {
			l[k] = v
		}
		meta["labels"] = l
	}
	out, _, err := prg.Eval(map[string]any{"object": map[string]any{"metadata": meta}})
	if err != nil {
		t.Fatalf("evaluate %q: %v", expr, err)
	}
	return out.Value() == true
}

// edgeProxyCondition renders the chart with selectors and returns the
// edge-proxy match condition of its first Pod webhook.
func edgeProxyCondition(t *testing.T, selectors []map[string]string) string {
	t.Helper()
	doc, err := yaml.Marshal(map[string]any{"config": map[string]any{"edgeProxy": map[string]any{"selectors": selectors}}})
	if err != nil {
		t.Fatal(err)
	}
	var mut admissionregistrationv1.MutatingWebhookConfiguration
	one(t, render(t, string(doc)), "MutatingWebhookConfiguration", &mut)
	for _, w := range mut.Webhooks {
		for _, c := range w.MatchConditions {
			if c.Name == policy.EdgeProxyConditionName {
				return c.Expression
			}
		}
	}
	t.Fatal("no edge-proxy match condition rendered")
	return ""
}

// TestHostileSelectorValuesCannotChangeTheCEL: the chart writes
// edgeProxy.selectors into the edge-proxy match condition quoted, so a key
// or value holding quotes, parentheses, || or a newline renders a condition
// of the same structure as a plain one, which compiles, matches exactly the
// pods carrying that label, and equals what the server's own code builds.
func TestHostileSelectorValuesCannotChangeTheCEL(t *testing.T) {
	plain := celShape(t, edgeProxyCondition(t, []map[string]string{{"app": "edge", "tier": "front"}}))
	for _, h := range hostile {
		t.Run(fmt.Sprintf("%q", h), func(t *testing.T) {
			for name, sel := range map[string]map[string]string{
				"as a value":         {"app": h, "tier": "front"},
				"as a key":           {h: "edge", "tier": "front"},
				"as a key and value": {h: h, "tier": "front"},
			} {
				expr := edgeProxyCondition(t, []map[string]string{sel})
				if got := celShape(t, expr); got != plain {
					t.Errorf("%s: the condition's structure changed:\n got %s\nwant %s", name, got, plain)
				}
				if !celEval(t, expr, sel) {
					t.Errorf("%s: a pod with exactly those labels does not match %q", name, expr)
				}
				other := map[string]string{}
				for k := range sel {
					other[k] = "other"
				}
				if celEval(t, expr, other) || celEval(t, expr, nil) {
					t.Errorf("%s: %q matches a pod without those labels", name, expr)
				}
				cfg := policy.DefaultConfig()
				cfg.EdgeProxy.Selectors = []map[string]string{sel}
				if want := cfg.EdgeProxyCondition(); want != expr {
					t.Errorf("%s: the chart's condition differs from the server's:\n got %s\nwant %s", name, expr, want)
				}
			}
		})
	}
}

// TestHostileValuesInTheInTreePolicies: the values the in-tree policies'
// CEL carries (edgeProxy.namespaces, the Istio TLSContext's name) are quoted
// too: every expression keeps its structure. (The ServiceAccount's name,
// also in their CEL, is quoted and must be a DNS name: the values schema.)
func TestHostileValuesInTheInTreePolicies(t *testing.T) {
	shapes := func(vals string) map[string]string {
		out := map[string]string{}
		for _, o := range renderServed(t, "inTree: {enabled: true}\n"+vals) {
			spec, _ := o.Object["spec"].(map[string]any)
			for _, field := range []string{"variables", "matchConditions", "validations"} {
				list, _ := spec[field].([]any)
				for i, item := range list {
					m := item.(map[string]any)
					if e, ok := m["expression"].(string); ok {
						out[fmt.Sprintf("%s/%s %s[%d]", o.GetKind(), o.GetName(), field, i)] = celShape(t, e)
					}
				}
			}
		}
		return out
	}
	plain := shapes("config: {edgeProxy: {namespaces: [edge]}, mappings: {tlsContext: istio-upstream}}")
	if len(plain) == 0 {
		t.Fatal("no expressions rendered")
	}
	for _, h := range hostile {
		t.Run(fmt.Sprintf("%q", h), func(t *testing.T) {
			doc, err := yaml.Marshal(map[string]any{
				"config": map[string]any{"edgeProxy": map[string]any{"namespaces": []string{h}}, "mappings": map[string]any{"tlsContext": h}},
			})
			if err != nil {
				t.Fatal(err)
			}
			got := shapes(string(doc))
			var keys []string
			for k := range plain {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if got[k] != plain[k] {
					t.Errorf("%s changed structure:\n got %s\nwant %s", k, got[k], plain[k])
				}
			}
		})
	}
}
