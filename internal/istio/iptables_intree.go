package istio

import (
	"fmt"
	"strings"

	"github.com/meshgate/meshgate/internal/intree"
)

// The CEL forms of RewriteIptablesArgs, over a CEL list of strings, built
// from the same flags and read the way matchFlag reads them.

// iptablesSeparateCEL is true when the CEL string x is one of the flags
// written with its value as the next argument.
func iptablesSeparateCEL(x string) string {
	var terms []string
	for _, f := range iptablesFlags {
		terms = append(terms, x+" == "+intree.String(f[0]), x+" == "+intree.String(f[1]))
	}
	return "(" + strings.Join(terms, " || ") + ")"
}

// iptablesFlagCEL is true when the CEL string x is flag f in any form
// (matchFlag; the flags are tried in order, the long form first).
func iptablesFlagCEL(x string, f []string) string {
	return fmt.Sprintf("(%s == %s || %s == %s || %s.startsWith(%s) || (!%s.startsWith('%s') && %s.startsWith(%s)))",
		x, intree.String(f[0]), x, intree.String(f[1]), x, intree.String(f[1]+"="), x, longFlag, x, intree.String(f[0]))
}

// IptablesArgsRewritableCEL is true when RewriteIptablesArgs(a), a a CEL
// list of strings, can be computed by IptablesArgsRewriteCEL: no "--", and
// no flag that takes the next argument followed by another such flag (the
// second would be read as the first's value, a parse CEL cannot follow).
func IptablesArgsRewritableCEL(a string) string {
	return fmt.Sprintf("(!('%s' in %s) && !lists.range(size(%s)).exists(i, i > 0 && %s && %s))",
		endOfFlags, a, a, iptablesSeparateCEL(a+"[i - 1]"), iptablesSeparateCEL(a+"[i]"))
}

// IptablesArgsRewriteCEL is RewriteIptablesArgs(a) for a CEL list of
// strings a for which IptablesArgsRewritableCEL holds: every -b and -i (in
// every form) with the value "", the absent ones appended as -b "" and -i "".
// Under that condition an argument is a flag's value exactly when the one
// before it is a flag written with its value apart.
func IptablesArgsRewriteCEL(a string) string {
	x := "string(" + a + "[i])" // a typed string, as the list literals need
	consumed := fmt.Sprintf("(i > 0 && %s)", iptablesSeparateCEL(a+"[i - 1]"))
	piece := "[" + x + "]"
	for j := len(iptablesFlags) - 1; j >= 0; j-- {
		f := iptablesFlags[j]
		piece = fmt.Sprintf("(%s == %s || %s == %s) ? [%s, ''] : %s.startsWith(%s) ? [%s] : (!%s.startsWith('%s') && %s.startsWith(%s)) ? [%s, ''] : %s",
			x, intree.String(f[0]), x, intree.String(f[1]), x,
			x, intree.String(f[1]+"="), intree.String(f[1]+"="),
			x, longFlag, x, intree.String(f[0]), intree.String(f[0]), piece)
	}
	out := fmt.Sprintf("lists.range(size(%s)).map(i, %s ? [] : (%s)).flatten()", a, consumed, piece)
	for j, f := range iptablesFlags {
		// A flag counts as seen in the form matchFlag gives it: the earlier
		// flag's forms win (never an issue for -b and -i, which share none).
		cond := "!" + consumed + " && " + iptablesFlagCEL(x, f)
		for _, g := range iptablesFlags[:j] {
			cond += " && !" + iptablesFlagCEL(x, g)
		}
		out += fmt.Sprintf(" + (lists.range(size(%s)).exists(i, %s) ? [] : [%s, ''])", a, cond, intree.String(f[0]))
	}
	return out
}
