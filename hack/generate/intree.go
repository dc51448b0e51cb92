package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
)

// configVariable says how the chart writes a policy variable whose
// expression is a literal from meshgate's configuration
// (intree.ConfigVariable): the JSON of the setting at Setting (its path in
// the configuration document, keys joined with "."), or, with Equals,
// whether the setting is Equals. A setting that is absent, null or "" takes
// its default, as meshgate's configuration does.
type configVariable struct {
	Setting string `json:"setting"`
	Equals  string `json:"equals,omitempty"`
}

// configVariables are the configuration variables of the rules' in-tree
// forms (named cfg...). InTree refuses a policy with a literal cfg variable
// missing here, and checks each entry against intree.Generate.
var configVariables = map[string]configVariable{
	intree.VarScopeAll:       {Setting: "servicePorts.scope", Equals: policy.ScopeAll},
	intree.VarEdgeSelectors:  {Setting: "edgeProxy.selectors"},
	intree.VarCertModeSecret: {Setting: "edgeProxy.certMode", Equals: policy.CertModeSecret},
	intree.VarAllowExisting:  {Setting: "updates.allowExistingFindings"},
	"cfgIstioTLSContext":     {Setting: "mappings.tlsContext"},
	"cfgIstioSecret":         {Setting: "mappings.istioSecret"},
	"cfgEdgeNamespaces":      {Setting: "edgeProxy.namespaces"},
}

// inTreeDoc is the document at generated/in-tree.yaml.
type inTreeDoc struct {
	// Defaults are the defaults of the settings ConfigVariables read.
	Defaults map[string]any `json:"defaults"`
	// ConfigVariables are how the chart writes each configuration variable.
	ConfigVariables map[string]configVariable `json:"configVariables"`
	// Suppressions is the variable holding the rule's suppressions
	// (intree.SuppressionData), which the chart writes from
	// config.suppressions.
	Suppressions string `json:"suppressions"`
	// Rules are the rules with an in-tree form, in registry order.
	Rules []inTreeRule `json:"rules"`
	// NotMeshgate is the match condition every policy starts with when it
	// leaves out meshgate's own requests (intree.Options.ServiceAccountUser):
	// its expression is a format of the user's CEL string literal.
	NotMeshgate admissionregistrationv1.MatchCondition `json:"notMeshgate"`
}

// inTreeRule is one rule's policies and bindings.
type inTreeRule struct {
	ID string `json:"id"`
	// Mode is the rule's default mode (the chart reads config.rules.<id>).
	Mode    policy.Mode    `json:"mode"`
	Objects []inTreeObject `json:"objects"`
}

// inTreeObject is one policy or binding as intree.Generate writes it for the
// default configuration, without what the chart adds (the release's label,
// the excluded namespaces, meshgate's own service account).
type inTreeObject struct {
	Kind   string            `json:"kind"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Spec   map[string]any    `json:"spec"`
	// Modes are the rule's modes the object is rendered in, each with the
	// fields of the spec it sets for that mode.
	Modes map[policy.Mode]map[string]any `json:"modes"`
}

// InTree returns generated/in-tree.yaml: every rule's policies and bindings
// for the default configuration, with the spec fields each mode sets and
// the modes an object is rendered in, all from intree.Generate.
func InTree() ([]byte, error) {
	doc := inTreeDoc{Defaults: map[string]any{}, ConfigVariables: configVariables, Suppressions: intree.VarSuppressions}
	def, err := toMap(policy.DefaultConfig())
	if err != nil {
		return nil, err
	}
	for _, v := range configVariables {
		doc.Defaults[v.Setting] = at(def, v.Setting)
	}
	if err := checkConfigVariables(doc.Defaults); err != nil {
		return nil, err
	}
	if doc.NotMeshgate, err = notMeshgate(); err != nil {
		return nil, err
	}
	modes := []policy.Mode{policy.Enforce, policy.Warn, policy.Off}
	for _, r := range policy.RulesInTree() {
		rule := inTreeRule{ID: r.ID, Mode: r.Default}
		byKey := map[string]*inTreeObject{}
		for _, mode := range append([]policy.Mode{r.Default}, modes...) {
			cfg := policy.DefaultConfig()
			cfg.Rules[r.ID] = mode
			objs, err := ruleObjects(cfg, r.ID)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				key := o.Kind + "/" + o.Name
				seen, ok := byKey[key]
				if !ok {
					rule.Objects = append(rule.Objects, o)
					seen = &rule.Objects[len(rule.Objects)-1]
					seen.Modes = map[policy.Mode]map[string]any{}
					byKey[key] = seen
				}
				patch, err := specPatch(seen.Spec, o.Spec)
				if err != nil {
					return nil, fmt.Errorf("%s in mode %s: %w", key, mode, err)
				}
				seen.Modes[mode] = patch
			}
		}
		// Pointers into rule.Objects are only kept while it does not grow
		// past them: rebuild the modes from byKey.
		for i := range rule.Objects {
			rule.Objects[i].Modes = byKey[rule.Objects[i].Kind+"/"+rule.Objects[i].Name].Modes
		}
		doc.Rules = append(doc.Rules, rule)
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode the chart's in-tree policies: %w", err)
	}
	header := "# Generated from meshgate's rule registry by `make generate` (hack/generate).\n" +
		"# Do not edit: change a rule's in-tree form in mutators/ or validators/ instead.\n"
	return append([]byte(header), b...), nil
}

// notMeshgate returns the match condition intree.Generate puts first to
// leave out meshgate's own requests, with %s for the user's name.
func notMeshgate() (admissionregistrationv1.MatchCondition, error) {
	const user = "system:serviceaccount:chart:meshgate"
	set, err := intree.Generate(policy.DefaultConfig(), intree.Options{ServiceAccountUser: user})
	if err != nil {
		return admissionregistrationv1.MatchCondition{}, fmt.Errorf("generate the in-tree policies: %w", err)
	}
	var policies []admissionregistrationv1.ValidatingAdmissionPolicy
	for _, rs := range set.Rules {
		policies = append(policies, rs.Validating...)
	}
	if len(policies) == 0 {
		return admissionregistrationv1.MatchCondition{}, fmt.Errorf("no in-tree ValidatingAdmissionPolicy")
	}
	c := policies[0].Spec.MatchConditions[0]
	quoted := intree.String(user)
	if !strings.Contains(c.Expression, quoted) {
		return c, fmt.Errorf("%s: the first match condition does not name meshgate's user: %s", policies[0].Name, c.Expression)
	}
	c.Expression = strings.Replace(strings.ReplaceAll(c.Expression, "%", "%%"), quoted, "%s", 1)
	return c, nil
}

// ruleObjects returns rule's policies and bindings for cfg, without their
// configuration hash, and checks that each variable that is a literal is a
// configuration variable the chart knows.
func ruleObjects(cfg *policy.Config, rule string) ([]inTreeObject, error) {
	set, err := intree.Generate(cfg, intree.Options{})
	if err != nil {
		return nil, fmt.Errorf("generate the in-tree policies: %w", err)
	}
	var out []inTreeObject
	for _, rs := range set.Rules {
		if rs.Rule != rule {
			continue
		}
		for _, o := range rs.Objects() {
			m, err := toMap(o)
			if err != nil {
				return nil, err
			}
			meta, _ := m["metadata"].(map[string]any)
			spec, _ := m["spec"].(map[string]any)
			labels := map[string]string{}
			for k, v := range meta["labels"].(map[string]any) {
				labels[k] = v.(string)
			}
			obj := inTreeObject{Kind: m["kind"].(string), Name: meta["name"].(string), Labels: labels, Spec: spec}
			vars, _ := spec["variables"].([]any)
			for _, v := range vars {
				v := v.(map[string]any)
				name, expr := v["name"].(string), v["expression"].(string)
				if _, known := configVariables[name]; !known && name != intree.VarSuppressions && strings.HasPrefix(name, "cfg") && json.Valid([]byte(expr)) {
					return nil, fmt.Errorf("%s %s: variable %s is a literal from the configuration (%s): add it to configVariables in hack/generate", obj.Kind, obj.Name, name, expr)
				}
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

// specPatch returns the top-level fields of spec that differ from base.
func specPatch(base, spec map[string]any) (map[string]any, error) {
	patch := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(base)) {
		if _, ok := spec[k]; !ok {
			return nil, fmt.Errorf("spec.%s is set in another mode only", k)
		}
	}
	for k, v := range spec {
		if !reflect.DeepEqual(base[k], v) {
			patch[k] = v
		}
	}
	return patch, nil
}

// checkConfigVariables holds configVariables to intree.Generate: for the
// default configuration and, per variable, a configuration that sets its
// setting (to Equals, to another value, to an empty list), every policy's
// variable must be what the chart writes for that configuration.
func checkConfigVariables(defaults map[string]any) error {
	docs := []map[string]any{{}}
	for _, name := range slices.Sorted(maps.Keys(configVariables)) {
		v := configVariables[name]
		for _, value := range probes(v, defaults[v.Setting]) {
			docs = append(docs, nested(v.Setting, value))
		}
	}
	for _, doc := range docs {
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encode %v: %w", doc, err)
		}
		cfg, err := policy.ParseConfig(b)
		if err != nil {
			return fmt.Errorf("configuration %s: %w", b, err)
		}
		set, err := intree.Generate(cfg, intree.Options{})
		if err != nil {
			return fmt.Errorf("generate for %s: %w", b, err)
		}
		for _, o := range set.Objects() {
			m, err := toMap(o)
			if err != nil {
				return err
			}
			spec, _ := m["spec"].(map[string]any)
			vars, _ := spec["variables"].([]any)
			for _, vv := range vars {
				vv := vv.(map[string]any)
				cv, ok := configVariables[vv["name"].(string)]
				if !ok {
					continue
				}
				want, err := chartExpression(doc, cv, defaults[cv.Setting])
				if err != nil {
					return err
				}
				if got := vv["expression"].(string); got != want {
					return fmt.Errorf("configuration %s: variable %s is %s, the chart would write %s: fix configVariables in hack/generate", b, vv["name"], got, want)
				}
			}
		}
	}
	return nil
}

// chartExpression is what the chart writes for v from the configuration
// document doc (templates/_helpers.tpl, meshgate.setting).
func chartExpression(doc map[string]any, v configVariable, def any) (string, error) {
	value := at(doc, v.Setting)
	if value == nil || value == "" {
		value = def
	}
	b, err := json.Marshal(value)
	if err != nil {
		return "", fmt.Errorf("encode %v: %w", value, err)
	}
	if v.Equals != "" {
		equals, _ := json.Marshal(v.Equals) // a string always encodes
		return fmt.Sprint(string(b) == string(equals)), nil
	}
	return string(b), nil
}

// probes are values to set v's setting to, besides its default def: Equals,
// another value of def's type, and an empty list for a list.
func probes(v configVariable, def any) []any {
	if v.Equals != "" {
		return []any{v.Equals}
	}
	switch d := def.(type) {
	case string:
		return []any{"probe"}
	case bool:
		return []any{!d}
	case []any:
		if len(d) > 0 {
			if _, isMap := d[0].(map[string]any); isMap {
				return []any{[]any{map[string]any{"probe": "probe"}}, []any{}}
			}
		}
		return []any{[]any{"probe"}, []any{}}
	}
	return nil
}

// nested is the configuration document that sets setting to value.
func nested(setting string, value any) map[string]any {
	keys := strings.Split(setting, ".")
	doc := map[string]any{keys[len(keys)-1]: value}
	for i := len(keys) - 2; i >= 0; i-- {
		doc = map[string]any{keys[i]: doc}
	}
	return doc
}

// at returns the value at setting's path in doc (nil when absent).
func at(doc map[string]any, setting string) any {
	var v any = doc
	for _, k := range strings.Split(setting, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// toMap is v's JSON as a map.
func toMap(v any) (map[string]any, error) {
	if o, ok := v.(runtime.Object); ok {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("convert %T: %w", o, err)
		}
		return m, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %T: %w", v, err)
	}
	return m, nil
}
