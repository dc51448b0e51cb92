package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AdmissionScope is where a review can change or report an object at
// admission: the webhook registration (webhook.Configurations, and the Helm
// chart from the same declaration) sends the API server's requests for the
// review's kinds only there. It must be a superset of what the review acts
// on; a test over the golden corpus and generated objects holds every scope to
// that. A Review without a scope is sent every object of its kinds (in every
// namespace but the excluded ones).
//
// A scope is a list of webhooks, each a namespace selector and CEL match
// conditions on the object; the webhooks' namespace selectors are disjoint, so
// the API server calls meshgate at most once per object and direction. A
// label selector cannot express "this label or that one", so a scope that
// covers a union of namespace classes has one webhook per class.
type AdmissionScope struct {
	// ID names the scope: the webhooks are named after it
	// ("<id>[-<name>].mutate.meshgate.io").
	ID string
	// Setting is the configuration setting whose value picks the variant (see
	// Config.Setting); "" when the scope has one variant, keyed "".
	Setting string
	// Variants are the scope's webhooks by the setting's value.
	Variants map[string][]AdmissionWebhook
}

// AdmissionWebhook is one webhook of an AdmissionScope.
type AdmissionWebhook struct {
	// Name tells the webhook from the scope's others ("" when it is alone).
	Name string `json:"name,omitempty"`
	// Namespaces are requirements on the labels of the object's namespace,
	// besides the namespaces every webhook excludes.
	Namespaces []metav1.LabelSelectorRequirement `json:"namespaces,omitempty"`
	// EdgeProxy: the object must be an edge proxy by the configuration
	// (Config.IsEdgeProxy): the first match condition, EdgeProxyConditionName,
	// built from edgeProxy.selectors by Config.EdgeProxyCondition.
	EdgeProxy bool `json:"edgeProxy,omitempty"`
	// Conditions are further CEL match conditions on the object. They never
	// read namespaceObject, which the API server leaves empty in match
	// conditions: a namespace's labels belong in Namespaces.
	Conditions []admissionregistrationv1.MatchCondition `json:"conditions,omitempty"`
}

// Webhooks returns the scope's webhooks for cfg.
func (s *AdmissionScope) Webhooks(cfg *Config) []AdmissionWebhook {
	return s.Variants[cfg.Setting(s.Setting)]
}

// Configuration settings an AdmissionScope may switch on.
const (
	SettingCertMode          = "edgeProxy.certMode"
	SettingServicePortsScope = "servicePorts.scope"
)

// Setting returns the value of a setting an AdmissionScope switches on, ""
// for "" or a setting it does not know.
func (c *Config) Setting(name string) string {
	switch name {
	case SettingCertMode:
		return c.EdgeProxy.CertMode
	case SettingServicePortsScope:
		return c.ServicePorts.Scope
	}
	return ""
}

// Settings returns the settings an AdmissionScope may switch on, each with
// the values it can take (Validate refuses others). A setting's name is its
// path in the configuration document, keys joined with "." (the chart reads
// it from its config value so).
func Settings() map[string][]string {
	out := map[string][]string{}
	for name, values := range settingValues {
		if name != "" {
			out[name] = slices.Clone(values)
		}
	}
	return out
}

// settingValues are the values each setting can take (Validate refuses others).
var settingValues = map[string][]string{
	"":                       {""},
	SettingCertMode:          {CertModeAuto, CertModeSecret},
	SettingServicePortsScope: {ScopeMesh, ScopeAll},
}

func validScope(s *AdmissionScope) error {
	values, ok := settingValues[s.Setting]
	switch {
	case !ruleID.MatchString(s.ID):
		return fmt.Errorf("admission scope id %q is not lower-case kebab", s.ID)
	case !ok:
		return fmt.Errorf("admission scope %s switches on unknown setting %q", s.ID, s.Setting)
	}
	for _, v := range values {
		hooks, ok := s.Variants[v]
		if !ok {
			return fmt.Errorf("admission scope %s has no variant for %s %q", s.ID, s.Setting, v)
		}
		for _, h := range hooks {
			if h.Name != "" && !ruleID.MatchString(h.Name) {
				return fmt.Errorf("admission scope %s: webhook name %q is not lower-case kebab", s.ID, h.Name)
			}
			for _, c := range h.Conditions {
				if strings.Contains(c.Expression, "namespaceObject") {
					return fmt.Errorf("admission scope %s: condition %s reads namespaceObject, which is empty in match conditions", s.ID, c.Name)
				}
			}
		}
	}
	return nil
}

// The CEL the edge-proxy match condition is made of. The chart builds the same
// condition from its values with these formats (webhook.Chart exports them).
const (
	// EdgeProxyConditionName is the name of the edge-proxy match condition.
	EdgeProxyConditionName = "edge-proxy"
	// CELEdgeProxyAnnotation is true for an object carrying the opt-in annotation.
	CELEdgeProxyAnnotation = "(has(object.metadata.annotations) && '" + AnnotationEdgeProxy + "' in object.metadata.annotations && object.metadata.annotations['" + AnnotationEdgeProxy + "'] == 'true')"
	// CELSelector wraps one selector's label terms, joined with " && ".
	CELSelector = "(has(object.metadata.labels) && %s)"
	// CELLabelEquals is one label term: %[1]s the key, %[2]s the value,
	// each a CEL string literal (CELString; the chart's toJson).
	CELLabelEquals = "%[1]s in object.metadata.labels && object.metadata.labels[%[1]s] == %[2]s"
)

// EdgeProxyCondition returns a CEL expression, over the admission request's
// object, that is true for exactly the objects IsEdgeProxy accepts: the
// opt-in annotation, or every label of one configured selector. The keys and
// values are quoted (CELString), so that no value can change the expression.
func (c *Config) EdgeProxyCondition() string {
	parts := []string{CELEdgeProxyAnnotation}
	for _, sel := range c.EdgeProxy.Selectors {
		keys := make([]string, 0, len(sel))
		for k := range sel {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		terms := make([]string, len(keys))
		for i, k := range keys {
			terms[i] = fmt.Sprintf(CELLabelEquals, CELString(k), CELString(sel[k]))
		}
		parts = append(parts, fmt.Sprintf(CELSelector, strings.Join(terms, " && ")))
	}
	return strings.Join(parts, " || ")
}

// CELString returns s as a CEL string literal: its JSON encoding (as the
// chart's toJson writes it), whose escapes CEL reads the same way.
func CELString(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// MatchConditions returns the webhook's CEL match conditions for cfg.
func (h AdmissionWebhook) MatchConditions(cfg *Config) []admissionregistrationv1.MatchCondition {
	var out []admissionregistrationv1.MatchCondition
	if h.EdgeProxy {
		out = append(out, admissionregistrationv1.MatchCondition{Name: EdgeProxyConditionName, Expression: cfg.EdgeProxyCondition()})
	}
	return append(out, h.Conditions...)
}

// CELHasLabel and the other helpers below write the CEL terms scopes are
// made of; each guards the map it reads, so no condition fails to evaluate
// (a failed match condition would apply the webhook's failurePolicy).

// CELHasLabel is true when the object carries label key.
func CELHasLabel(key string) string {
	return "(has(object.metadata.labels) && '" + key + "' in object.metadata.labels)"
}

// CELLabelIs is true when the object's label key is value.
func CELLabelIs(key, value string) string {
	return "(has(object.metadata.labels) && '" + key + "' in object.metadata.labels && object.metadata.labels['" + key + "'] == '" + value + "')"
}

// CELHasAnnotation is true when the object carries annotation key.
func CELHasAnnotation(key string) string {
	return "(has(object.metadata.annotations) && '" + key + "' in object.metadata.annotations)"
}

// CELAnnotationIsNot is true when the object carries annotation key with a
// value other than value.
func CELAnnotationIsNot(key, value string) string {
	return "(has(object.metadata.annotations) && '" + key + "' in object.metadata.annotations && object.metadata.annotations['" + key + "'] != '" + value + "')"
}
