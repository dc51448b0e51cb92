// Package validators holds meshgate's validation rules, one file per rule id. Each
// is a pure function of (object, Target, World, Config) that returns findings; the
// engine runs them on the object as the mutators left it.
package validators
