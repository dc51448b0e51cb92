// Package policy holds the vocabulary every meshgate rule shares: rule ids and
// modes, the configuration file, the read-only World the rules may consult, and
// the Findings and Changes they report (with their RFC 6902 patch operations).
//
// It is a leaf package: mutators/, validators/, engine/ and both front doors
// (webhook/ and cmd/meshgate) import it; it imports none of them.
package policy
