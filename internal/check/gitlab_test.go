package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/check/schematest"
)

// validateGitLab checks out against the schema and decodes it.
func validateGitLab(t *testing.T, out []byte) []GitLabIssue {
	t.Helper()
	schematest.ValidateGitLab(t, out)
	var issues []GitLabIssue
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&issues))
	require.False(t, dec.More(), "nothing after the report")
	return issues
}

func TestGitLabSchemaRejects(t *testing.T) {
	ok := `{"description":"d","check_name":"c","fingerprint":"f","severity":"major","location":{"path":"a.yaml","lines":{"begin":1}}}`
	require.NoError(t, schematest.Validate(t, schematest.GitLab, []byte("["+ok+"]")), "the documented example shape passes")
	for name, bad := range map[string]string{
		"not an array":        ok,
		"unknown severity":    strings.Replace(ok, `"major"`, `"error"`, 1),
		"no fingerprint":      strings.Replace(ok, `"fingerprint":"f",`, "", 1),
		"no line":             strings.Replace(ok, `,"lines":{"begin":1}`, "", 1),
		"line 0":              strings.Replace(ok, `"begin":1`, `"begin":0`, 1),
		"a ./ path":           strings.Replace(ok, `"a.yaml"`, `"./a.yaml"`, 1),
		"no check name":       strings.Replace(ok, `"check_name":"c",`, "", 1),
		"an empty check name": strings.Replace(ok, `"check_name":"c"`, `"check_name":""`, 1),
	} {
		doc := "[" + bad + "]"
		if name == "not an array" {
			doc = bad
		}
		assert.Error(t, schematest.Validate(t, schematest.GitLab, []byte(doc)), name)
	}
}

func TestGitLabReport(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	type want struct {
		check, severity, path string
		line                  int
	}
	tests := []struct {
		name     string
		opts     Options
		wantCode int
		want     []want
	}{
		{
			name:     "an enforce finding is critical, at its file (relative to the checkout) and line",
			opts:     Options{Files: []string{cli + "/enforce"}},
			wantCode: ExitEnforce,
			want:     []want{{"virtualservice-gateway-ref", "critical", "testdata/cli/enforce/vs.yaml", 12}},
		},
		{
			name:     "a warning is minor",
			opts:     Options{Files: []string{cli + "/enforce"}, ConfigFile: cli + "/warn.yaml"},
			wantCode: ExitOK,
			want:     []want{{"virtualservice-gateway-ref", "minor", "testdata/cli/enforce/vs.yaml", 12}},
		},
		{
			name:     "clean manifests give an empty array",
			opts:     Options{Files: []string{cli + "/clean"}},
			wantCode: ExitOK,
			want:     nil,
		},
		{
			name:     "an input error is a blocker, the rest is still checked, skipped documents are left out",
			opts:     Options{Files: []string{cli + "/broken"}},
			wantCode: ExitBadInput,
			want: []want{
				{"input-error", "blocker", "testdata/cli/broken/bad.yaml", 10},
				{"virtualservice-gateway-ref", "critical", "testdata/cli/broken/bad.yaml", 21},
			},
		},
		{
			name:     "standard input",
			opts:     Options{Files: []string{"-"}, Stdin: mustOpen(t, cli+"/enforce/vs.yaml")},
			wantCode: ExitEnforce,
			want:     []want{{"virtualservice-gateway-ref", "critical", StdinName, 12}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Format = FormatGitLab
			tt.opts.WorkDir = wd
			r := runCheck(t, tt.opts)
			require.NoError(t, r.err)
			assert.Equal(t, tt.wantCode, r.code)
			var got []want
			for _, is := range validateGitLab(t, []byte(r.stdout)) {
				assert.Len(t, is.Fingerprint, 32)
				assert.NotEmpty(t, is.Description)
				got = append(got, want{is.CheckName, is.Severity, is.Location.Path, is.Location.Lines.Begin})
			}
			assert.Equal(t, tt.want, got)
			if tt.want == nil {
				assert.Equal(t, "[]\n", r.stdout)
			}
		})
	}
}

// TestGitLabFingerprints: GitLab tells new issues from old ones by the
// fingerprint, so it must survive edits that only move lines, and tell apart
// what is different.
func TestGitLabFingerprints(t *testing.T) {
	const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: quote
  namespace: shop
spec:
  hosts: [quote.example.com]
  gateways:
  - team-b/public-gateway
  - team-c/other-gateway
`
	report := func(t *testing.T, content string) []GitLabIssue {
		t.Helper()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "vs.yaml"), []byte(content), 0o644))
		r := runCheck(t, Options{Files: []string{filepath.Join(dir, "vs.yaml")}, Format: FormatGitLab, WorkDir: dir})
		require.NoError(t, r.err)
		issues := validateGitLab(t, []byte(r.stdout))
		require.Len(t, issues, 2, r.stdout)
		return issues
	}
	before := report(t, vs)
	assert.Equal(t, "vs.yaml", before[0].Location.Path)
	assert.NotEqual(t, before[0].Fingerprint, before[1].Fingerprint, "two fields, two fingerprints")

	moved := report(t, "# a comment\n# and another\n"+vs)
	for i := range before {
		assert.Equal(t, before[i].Location.Lines.Begin+2, moved[i].Location.Lines.Begin, "the lines moved")
		assert.Equal(t, before[i].Fingerprint, moved[i].Fingerprint, "moving lines keeps the fingerprint")
	}

	renamed := report(t, strings.Replace(vs, "name: quote", "name: quote-v2", 1))
	assert.NotEqual(t, before[0].Fingerprint, renamed[0].Fingerprint, "another object, another fingerprint")
}

func TestGitLabFingerprintsAreUniqueForOneField(t *testing.T) {
	f := Finding{File: "a.yaml", Line: 3}
	f.Rule, f.Mode, f.Field = "service-port-name", "enforce", "spec.ports[0].name"
	res := &Result{Objects: []*Reviewed{{Findings: []Finding{f, f, f}}}}
	seen := map[string]bool{}
	for _, is := range res.GitLab("") {
		assert.False(t, seen[is.Fingerprint], "GitLab shows one issue per fingerprint")
		seen[is.Fingerprint] = true
	}
	assert.Len(t, seen, 3)
}

// checkCIFormats renders res as the GitHub workflow commands and the GitLab
// report (the golden corpus runs every case through it): both follow their
// grammar or schema and carry every enforce and warn finding at its line.
func checkCIFormats(t *testing.T, res *Result, workDir string) {
	t.Helper()
	type at struct {
		rule string
		line int
	}
	var want []at
	for _, o := range res.Objects {
		for _, f := range o.Findings {
			if f.Mode == "enforce" || f.Mode == "warn" {
				want = append(want, at{f.Rule, f.Line})
			}
		}
	}

	var gh bytes.Buffer
	require.NoError(t, writeGitHub(&gh, res, workDir))
	var gotGH []at
	for _, c := range parseWorkflowCommands(t, gh.String()) {
		if c.Level == "notice" {
			continue
		}
		line, _ := strconv.Atoi(c.Props["line"])
		gotGH = append(gotGH, at{strings.TrimPrefix(c.Props["title"], "meshgate "), line})
	}
	assert.Equal(t, want, gotGH, "-o github: one annotation per finding, at its line")

	var gl bytes.Buffer
	require.NoError(t, writeGitLab(&gl, res, workDir))
	var gotGL []at
	seen := map[string]bool{}
	for _, is := range validateGitLab(t, gl.Bytes()) {
		assert.False(t, seen[is.Fingerprint], "fingerprints are unique")
		seen[is.Fingerprint] = true
		if is.Severity == "info" {
			continue
		}
		gotGL = append(gotGL, at{is.CheckName, is.Location.Lines.Begin})
	}
	assert.Equal(t, want, gotGL, "-o gitlab: one issue per finding, at its line")
}
