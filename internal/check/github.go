package check

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/meshgate/meshgate/internal/policy"
)

// FormatGitHub writes GitHub Actions workflow commands, one per line, so the
// findings appear as annotations on the pull request's lines:
//
//	::error file=deploy/shop.yaml,line=32,title=meshgate virtualservice-gateway-ref::VirtualService shop/quote: spec.gateways[1]: ...
//
// Enforce findings and input errors are ::error, warnings ::warning, notes
// (duplicates, what the World did not know, skipped inputs) ::notice.
// Suppressed findings and changes are not annotated. Paths are relative to the
// working directory (the checkout); standard input has no file property.
const FormatGitHub = "github"

func writeGitHub(w io.Writer, res *Result, workDir string) error {
	bw := &errWriter{w: w}
	for _, e := range res.Errors {
		bw.command("error", ghPath(e.File, workDir), e.Line, "meshgate input error", e.Message)
	}
	for _, o := range res.Objects {
		for _, f := range o.Findings {
			var level string
			switch f.Mode {
			case policy.Enforce:
				level = "error"
			case policy.Warn:
				level = "warning"
			default:
				continue
			}
			bw.command(level, ghPath(f.File, workDir), f.Line, "meshgate "+f.Rule, fmt.Sprintf("%s: %s%s", f.Object, fieldPrefix(f.Field), f.Message))
		}
	}
	for _, n := range allNotes(res) {
		bw.command("notice", ghPath(n.File, workDir), n.Line, "meshgate "+n.Kind, n.Message)
	}
	return bw.err
}

// errWriter writes workflow commands and keeps the first error.
type errWriter struct {
	w   io.Writer
	err error
}

// command writes one workflow command; file "" and line 0 are left out.
func (e *errWriter) command(level, file string, line int, title, message string) {
	if e.err != nil {
		return
	}
	var props []string
	if file != "" {
		props = append(props, "file="+ghEscapeProperty(file))
		if line > 0 {
			props = append(props, fmt.Sprintf("line=%d", line))
		}
	}
	props = append(props, "title="+ghEscapeProperty(title))
	_, e.err = fmt.Fprintf(e.w, "::%s %s::%s\n", level, strings.Join(props, ","), ghEscapeData(message))
}

// ghPath is file as GitHub wants it in an annotation: relative to workDir (the
// repository checkout) with / separators when it is under it, "" for
// standard input.
func ghPath(file, workDir string) string {
	if file == "" || file == StdinName {
		return ""
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return filepath.ToSlash(file)
	}
	if workDir != "" {
		if rel, err := filepath.Rel(workDir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(abs)
}

// ghEscapeData escapes a workflow command's message as the runner unescapes
// it (% CR LF). Other control bytes are written as %XX too: the runner leaves
// those as text, so a message cannot move the cursor, colour the log or start
// a command of its own.
func ghEscapeData(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' || c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ghEscapeProperty escapes a workflow command's property value: as data, plus
// the separators : and ,.
func ghEscapeProperty(s string) string {
	s = ghEscapeData(s)
	s = strings.ReplaceAll(s, ":", "%3A")
	return strings.ReplaceAll(s, ",", "%2C")
}
