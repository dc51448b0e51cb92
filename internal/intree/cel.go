package intree

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// CEL building blocks shared by the rules' in-tree forms and the CEL forms of
// internal/istio and internal/emissary: nothing here knows a rule, Istio or
// Emissary. Each returns a CEL expression (a string) over the expressions it
// is given; the generated policies compute them once, as variables.

// String quotes s as a CEL string literal.
func String(s string) string { return strconv.Quote(s) }

// Strings renders ss as a CEL list of strings.
func Strings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = String(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Ints renders ns as a CEL list of ints.
func Ints(ns []int32) string {
	q := make([]string, len(ns))
	for i, n := range ns {
		q[i] = strconv.Itoa(int(n))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Label is the value of label key in labels (a CEL map), or "" when absent.
func Label(labels, key string) string {
	return fmt.Sprintf("(%s in %s ? %s[%s] : '')", String(key), labels, labels, String(key))
}

// Format turns a Go format string whose verbs are %d, %q and %s into a CEL
// string concatenation: each verb takes the next CEL expression of args (an
// int for %d, a string for %q and %s; %q quotes it as Go does a string
// without special characters). The rules' messages are Go format strings
// shared by the rule and its in-tree form, so both say the same.
func Format(format string, args ...string) string {
	var parts []string
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, String(lit.String()))
			lit.Reset()
		}
	}
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			lit.WriteByte(c)
			continue
		}
		i++
		verb := format[i]
		if verb == '%' {
			lit.WriteByte('%')
			continue
		}
		if next >= len(args) {
			panic(fmt.Sprintf("intree.Format: %q needs more than %d arguments", format, len(args)))
		}
		arg := args[next]
		next++
		switch verb {
		case 'd':
			flush()
			parts = append(parts, "string("+arg+")")
		case 'q':
			lit.WriteByte('"')
			flush()
			parts = append(parts, "("+arg+")")
			lit.WriteByte('"')
		case 's':
			flush()
			parts = append(parts, "("+arg+")")
		default:
			panic(fmt.Sprintf("intree.Format: verb %%%c in %q", verb, format))
		}
	}
	flush()
	if next != len(args) {
		panic(fmt.Sprintf("intree.Format: %q takes %d arguments, got %d", format, next, len(args)))
	}
	if len(parts) == 0 {
		return "''"
	}
	return strings.Join(parts, " + ")
}

// ValidDNSLabel is validation.IsDNS1123Label(s) is empty, in CEL.
func ValidDNSLabel(s string) string {
	return fmt.Sprintf("(size(%s) <= 63 && %s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))", s, s)
}

// DNSLabelErrors is strings.Join(validation.IsDNS1123Label(s), "; ") in
// CEL.
func DNSLabelErrors(s string) string {
	long := validation.IsDNS1123Label(strings.Repeat("a", validation.DNS1123LabelMaxLength+1))[0]
	dots := validation.IsDNS1123Label("a.b")[0]
	pattern := validation.IsDNS1123Label("A")[0]
	return fmt.Sprintf("((size(%s) > %d ? [%s] : []) + (%s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') ? [] : %s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$') ? [%s] : [%s])).join('; ')",
		s, validation.DNS1123LabelMaxLength, String(long), s, s, String(dots), String(pattern))
}

// QuoteNames renders the valid port names among the CEL list candidates as
// `"a" or "b"`, or the CEL string fallback when none is valid.
func QuoteNames(fallback, candidates string) string {
	valid := ValidDNSLabel("c")
	return fmt.Sprintf("(%s.exists(c, %s) ? %s.filter(c, %s).map(c, '\"' + c + '\"').join(' or ') : %s)",
		candidates, valid, candidates, valid, fallback)
}

// UncleanPath (RE2, for CEL and Go alike) matches a path that path.Clean
// would shorten other than by trailing slashes: a "." or ".." segment, or an
// inner "//".
const UncleanPath = `//+[^/]|/\.\.?(/|$)|^\.\.?(/|$)`

// PlainText (RE2) matches a string that %q quotes as it is: printable ASCII
// without '"' and '\', so Format's %q says what the Go rule's does.
const PlainText = `^[ !#-\[\]-~]*$`
