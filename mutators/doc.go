// Package mutators holds meshgate's mutation rules, one file per rule id. Each is
// a pure function of (object, Target, World, Config): it changes the object in
// place and returns a policy.Report whose Changes carry the RFC 6902 operations
// that make the same change to the object as submitted. Mutators are
// deterministic and idempotent: a second run over their output changes nothing.
package mutators
