package webhook

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/meshgate/meshgate/internal/policy"
)

// Limits the kube-apiserver applies to admission warnings
// (k8s.io/apiserver/pkg/endpoints/filters/warning.go): warnings carrying
// control characters or invalid UTF-8 are dropped silently, and once the
// warnings of one request exceed 4096 runes in total every warning is cut to
// 256 runes. meshgate shapes its warnings to fit, so that none is lost and a
// cut is visible.
const (
	// WarningTotalRunes is the total the API server passes uncut.
	WarningTotalRunes = 4 * 1024
	// WarningItemRunes is what each warning is cut to past the total.
	WarningItemRunes = 256
)

// Warnings renders warn findings as admission warnings that the API server
// passes on unchanged: one per finding, control characters replaced, and, when
// they would exceed WarningTotalRunes together, each cut to WarningItemRunes
// (ending in "…") with the ones that still do not fit summarised in a last line.
func Warnings(fs []policy.Finding) []string {
	if len(fs) == 0 {
		return nil
	}
	out := make([]string, 0, len(fs))
	seen := make(map[string]bool, len(fs))
	total := 0
	for _, f := range fs {
		w := sanitize(f.String())
		if seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
		total += utf8.RuneCountInString(w)
	}
	if total <= WarningTotalRunes {
		return out
	}
	cut := make([]string, 0, len(out))
	total = 0
	for i, w := range out {
		w = truncateRunes(w, WarningItemRunes)
		n := utf8.RuneCountInString(w)
		rest := len(out) - i
		// Keep room for the summary line when more warnings follow.
		if rest > 1 && total+n+WarningItemRunes > WarningTotalRunes {
			cut = append(cut, fmt.Sprintf("[meshgate] %d more warnings not shown: run `meshgate check` on the object to see them all", rest))
			return cut
		}
		cut = append(cut, w)
		total += n
	}
	return cut
}

// sanitize makes s valid UTF-8 without control characters (newlines become
// spaces), as the API server requires of warning texts.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// truncateRunes cuts s to at most n runes, the last being "…" when it cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
