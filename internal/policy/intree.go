package policy

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// InTree is a rule's in-tree form: the ValidatingAdmissionPolicies and
// MutatingAdmissionPolicies (admissionregistration.k8s.io/v1) that let the API
// server apply the rule, or the part of it that needs nothing but the object
// and its namespace, without calling meshgate. `meshgate in-tree`, the chart
// and the parity tests derive everything from it.
type InTree struct {
	// Build returns the rule's policies for cfg, without bindings (the caller
	// binds them according to the rule's mode in cfg).
	Build func(cfg *Config) (InTreePolicies, error)
	// Complete: the policies do everything the rule does on every object it
	// reviews at admission, so an admission server whose configuration says the
	// in-tree policies are installed need not run the rule. A partial form
	// leaves the rule running in the webhook as well, where it finds nothing
	// left to do on the objects the policies already handled.
	Complete bool
	// Coverage says, part by part, what the in-tree form covers and what it
	// leaves to the webhook (`meshgate in-tree --explain`, the docs).
	Coverage []Coverage
}

// InTreePolicies are the policies of one rule.
type InTreePolicies struct {
	Validating []admissionregistrationv1.ValidatingAdmissionPolicy
	Mutating   []admissionregistrationv1.MutatingAdmissionPolicy
}

// Coverage is one part of a rule and how the in-tree form treats it.
type Coverage struct {
	// Part names the part of the rule ("unnamed ports", "TLSContext fields").
	Part string
	// Covered: the in-tree form does it exactly as the webhook does.
	Covered bool
	// How is the mechanism (VAP, MAP ApplyConfiguration, MAP JSONPatch) when
	// covered, or why not (the rule reads other objects, ...) otherwise.
	How string
}

// RulesInTree returns the registered rules that have an in-tree form, in Rules
// order.
func RulesInTree() []Rule {
	var out []Rule
	for _, r := range Rules() {
		if r.InTree != nil {
			out = append(out, r)
		}
	}
	return out
}

// HandedOffKinds returns the kinds reviewed at admission whose every rule has
// a complete in-tree form: with the in-tree policies installed, the API
// server need not send them to meshgate at all.
func HandedOffKinds() []Kind {
	var out []Kind
	for _, k := range ReviewedKinds() {
		if len(k.Operations) == 0 {
			continue
		}
		all := true
		for _, r := range RulesFor(k.GroupKind()) {
			if r.InTree == nil || !r.InTree.Complete {
				all = false
				break
			}
		}
		if all {
			out = append(out, k)
		}
	}
	return out
}
