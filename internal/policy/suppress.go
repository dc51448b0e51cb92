package policy

import (
	"errors"
	"fmt"
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Suppressed is the mode of a finding that a suppression in the configuration
// matched: it is reported as suppressed, never denied, warned or failed.
const Suppressed Mode = "suppressed"

// Suppression silences one rule's findings on the objects it matches. Every
// field that is set must match; kind is the object's kind (a workload's, for
// findings on its pod template or pods), namespace and name are exact or
// path.Match globs ("team-*").
type Suppression struct {
	// Rule is the rule id (required).
	Rule string `json:"rule"`
	// Kind is the object's kind ("Deployment", "Service", ...).
	Kind string `json:"kind,omitempty"`
	// Namespace and Name match the object's namespace and name.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Selector matches the object's labels.
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Reason is shown beside every finding it suppresses.
	Reason string `json:"reason,omitempty"`

	selector labels.Selector
}

// validate checks s and compiles its selector.
func (s *Suppression) validate(i int) error {
	var errs []error
	if _, ok := LookupRule(s.Rule); !ok {
		errs = append(errs, fmt.Errorf("suppressions[%d].rule: unknown rule %q (known: %s)", i, s.Rule, knownRules()))
	}
	for _, g := range []struct{ name, pattern string }{{"namespace", s.Namespace}, {"name", s.Name}} {
		if _, err := path.Match(g.pattern, ""); err != nil {
			errs = append(errs, fmt.Errorf("suppressions[%d].%s: bad pattern %q: %w", i, g.name, g.pattern, err))
		}
	}
	if s.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(s.Selector)
		if err != nil {
			errs = append(errs, fmt.Errorf("suppressions[%d].selector: %w", i, err))
		}
		s.selector = sel
	}
	return errors.Join(errs...)
}

// matches reports whether s suppresses f on an object with these labels.
func (s *Suppression) matches(f Finding, objLabels map[string]string) bool {
	if s.Rule != f.Rule || (s.Kind != "" && s.Kind != f.Object.Kind) {
		return false
	}
	if !glob(s.Namespace, f.Object.Namespace) || !glob(s.Name, f.Object.Name) {
		return false
	}
	if s.Selector != nil {
		sel := s.selector
		if sel == nil { // a Config built in code, not parsed
			var err error
			if sel, err = metav1.LabelSelectorAsSelector(s.Selector); err != nil {
				return false
			}
		}
		if !sel.Matches(labels.Set(objLabels)) {
			return false
		}
	}
	return true
}

func glob(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// Suppress marks the findings in fs that a suppression matches (objLabels are
// the labels of the object they are about) as Suppressed, with the
// suppression's reason appended to the message.
func (c *Config) Suppress(fs []Finding, objLabels map[string]string) {
	if c == nil || len(c.Suppressions) == 0 {
		return
	}
	for i := range fs {
		if fs[i].Mode == Suppressed {
			continue
		}
		for j := range c.Suppressions {
			s := &c.Suppressions[j]
			if !s.matches(fs[i], objLabels) {
				continue
			}
			fs[i].Mode = Suppressed
			if s.Reason != "" {
				fs[i].Message += " (suppressed: " + s.Reason + ")"
			}
			break
		}
	}
}
