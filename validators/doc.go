// Package validators holds meshgate's validation rules, one file per rule id. Each
// is a pure function of (object, Target, World, Config) that returns findings; the
// engine runs them on the object as the mutators left it. A rule with an
// in-tree form (policy.InTree: what the API server applies itself) keeps it
// beside the rule, in <rule>_intree.go, and registers it with the rule.
package validators
