package check

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// clean makes a string that comes from the input (a field value, a name, a
// file name) safe to print: control characters (ESC, CR, BEL, newline, DEL,
// the C1 controls) and invalid UTF-8 are written as Go escapes (\x1b, \r,
// \u009b), so a crafted manifest cannot move the cursor, overwrite a line of a
// CI log or start a line of its own. Tabs stay.
func clean(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f || c == '\t' {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError && !(r >= 0x80 && r <= 0x9f) {
				i += size
				continue
			}
		}
		break
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case r == '\t' || r >= 0x20 && r < 0x7f || r > 0x9f:
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\r', '\u009b'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}
