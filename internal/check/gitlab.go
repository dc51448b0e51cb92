package check

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/meshgate/meshgate/internal/policy"
)

// FormatGitLab writes a GitLab Code Quality report (the subset of the
// CodeClimate issue format GitLab reads), so the findings appear in the merge
// request widget: a JSON array of issues with description, check_name (the
// rule id), fingerprint, severity and location (path relative to the working
// directory, lines.begin).
//
// Severity: enforce findings are critical, warnings minor, input errors
// blocker, notes with a file (duplicates) info. Suppressed findings, changes,
// skipped inputs and notes about the whole World are not in the report.
//
// The fingerprint identifies an issue across pipelines, so GitLab can tell a
// new finding from an old one: it hashes the rule, the file, the object and
// the field, not the line, so editing lines above a finding does not make it
// new.
const FormatGitLab = "gitlab"

// GitLabIssue is one issue of a GitLab Code Quality report.
type GitLabIssue struct {
	Description string         `json:"description"`
	CheckName   string         `json:"check_name"`
	Fingerprint string         `json:"fingerprint"`
	Severity    string         `json:"severity"`
	Location    GitLabLocation `json:"location"`
}

// GitLabLocation is where an issue is.
type GitLabLocation struct {
	Path  string      `json:"path"`
	Lines GitLabLines `json:"lines"`
}

// GitLabLines holds the line an issue starts at (1-based).
type GitLabLines struct {
	Begin int `json:"begin"`
}

// GitLab builds the Code Quality report of res.
func (r *Result) GitLab(workDir string) []GitLabIssue {
	out := []GitLabIssue{}
	seen := map[string]int{}
	add := func(severity, check, path string, line int, description string, identity ...string) {
		if path == "" {
			path = StdinName
		}
		if line < 1 {
			line = 1
		}
		fp := fingerprint(append([]string{check, path}, identity...)...)
		// Two issues with the same identity (one rule, two messages on one
		// field) must still differ; the n-th one hashes its rank too.
		if n := seen[fp]; n > 0 {
			seen[fp] = n + 1
			fp = fingerprint(fp, fmt.Sprint(n+1))
		} else {
			seen[fp] = 1
		}
		out = append(out, GitLabIssue{
			Description: description, CheckName: check, Fingerprint: fp, Severity: severity,
			Location: GitLabLocation{Path: path, Lines: GitLabLines{Begin: line}},
		})
	}
	for _, e := range r.Errors {
		add("blocker", "input-error", ghPath(e.File, workDir), e.Line, e.Message, e.Message)
	}
	for _, o := range r.Objects {
		for _, f := range o.Findings {
			var severity string
			switch f.Mode {
			case policy.Enforce:
				severity = "critical"
			case policy.Warn:
				severity = "minor"
			default:
				continue
			}
			add(severity, f.Rule, ghPath(f.File, workDir), f.Line,
				fmt.Sprintf("%s: %s%s", f.Object, fieldPrefix(f.Field), f.Message),
				f.Object.APIVersion, f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Field)
		}
	}
	for _, n := range allNotes(r) {
		if n.File == "" || n.Kind == NoteSkipped {
			continue
		}
		add("info", n.Kind, ghPath(n.File, workDir), n.Line, n.Message, n.Message)
	}
	return out
}

// fingerprint hashes its parts (each length-prefixed, so no two lists of
// parts collide) into 32 hex digits.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func writeGitLab(w io.Writer, res *Result, workDir string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(res.GitLab(workDir))
}
