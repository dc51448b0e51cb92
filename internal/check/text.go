package check

import (
	"fmt"
	"io"

	"github.com/meshgate/meshgate/internal/policy"
)

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiBold   = "\x1b[1m"
)

// writeText renders the report for people: one line per finding and change,
// compiler style (`file:line: level [rule] Kind ns/name: field: message`, so
// editors can jump to it), then the notes about duplicates and what the World
// did not know, then the summary line. Input errors and skipped inputs are on
// standard error already; the summary counts them.
func writeText(w io.Writer, res *Result, color bool) error {
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + ansiReset
	}
	for _, o := range res.Objects {
		for _, f := range o.Findings {
			level, c := "warning", ansiYellow
			switch f.Mode {
			case policy.Enforce:
				level, c = "error", ansiRed
			case policy.Suppressed:
				level, c = "suppressed", ansiBold
			}
			if _, err := fmt.Fprintf(w, "%s: %s [%s] %s: %s\n", clean(loc(f.File, f.Line)), paint(c, level), f.Rule, clean(f.Object.String()), clean(fieldPrefix(f.Field)+f.Message)); err != nil {
				return err
			}
		}
		for _, ch := range o.Changes {
			if _, err := fmt.Fprintf(w, "%s: %s [%s] %s: %s\n", clean(loc(ch.File, ch.Line)), paint(ansiCyan, "change"), ch.Rule, clean(ch.Object.String()), clean(fieldPrefix(ch.Field)+ch.Reason)); err != nil {
				return err
			}
		}
		for _, n := range o.Notes {
			if _, err := fmt.Fprintf(w, "%s: %s %s\n", clean(loc(n.File, n.Line)), paint(ansiBold, "note"), clean(n.Message)); err != nil {
				return err
			}
		}
	}
	for _, n := range res.Notes {
		if n.Kind == NoteSkipped {
			continue
		}
		prefix := ""
		if n.File != "" {
			prefix = clean(loc(n.File, n.Line)) + ": "
		}
		if _, err := fmt.Fprintf(w, "%s%s %s\n", prefix, paint(ansiBold, "note"), clean(n.Message)); err != nil {
			return err
		}
	}
	s := res.Summary()
	line := fmt.Sprintf("%d objects, %d enforce, %d warn, %d changes", s.Objects, s.Enforce, s.Warn, s.Changes)
	if s.Suppressed > 0 {
		line += fmt.Sprintf(", %d suppressed", s.Suppressed)
	}
	if s.Drift > 0 {
		line += fmt.Sprintf(", %d drift", s.Drift)
	}
	if s.Errors > 0 {
		line += fmt.Sprintf(", %d input errors", s.Errors)
	}
	if s.Duplicates > 0 {
		line += fmt.Sprintf(", %d duplicates", s.Duplicates)
	}
	if s.Overlays > 0 {
		line += fmt.Sprintf(", %d World objects merged with the input", s.Overlays)
	}
	if s.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped (not Kubernetes objects)", s.Skipped)
	}
	if s.Unchecked > 0 {
		line += fmt.Sprintf("; NOT FULLY CHECKED: the World did not know what the rules needed (%d notes above)", s.Unchecked)
	}
	if color {
		line = ansiBold + line + ansiReset
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

func loc(file string, line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

func fieldPrefix(f string) string {
	if f == "" {
		return ""
	}
	return f + ": "
}
