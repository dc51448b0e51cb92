// Package mutators holds meshgate's mutation rules, one file per rule id. Each is
// a pure function of (object, Target, World, Config): it changes the object in
// place and returns a policy.Report whose Changes carry the RFC 6902 operations
// that make the same change to the object as submitted. A mutator states each
// change once, as the field path it changes, next to its in-place edit: the
// Report's change helpers (Add, Replace, Append, SetKey) derive the operation's
// JSON pointer from that path. Mutators are deterministic and idempotent: a
// second run over their output changes nothing. A rule with an in-tree form
// (policy.InTree: what the API server applies itself) keeps it beside the
// rule, in <rule>_intree.go, and registers it with the rule.
package mutators
