package check

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/policy"
)

// workflowCommand is one parsed GitHub Actions workflow command.
type workflowCommand struct {
	Level   string
	Props   map[string]string // unescaped
	Message string            // unescaped
}

// The grammar of the annotation commands meshgate writes (GitHub's "Workflow
// commands for GitHub Actions"): ::LEVEL[ NAME=VALUE(,NAME=VALUE)*]::DATA on
// one line, where a value holds no raw ':' or ',' and every '%' starts one of
// the escapes.
var (
	commandRE  = regexp.MustCompile(`^::(error|warning|notice)(?: ([^:]*))?::(.*)$`)
	propertyRE = regexp.MustCompile(`^(file|line|endLine|col|endColumn|title)=([^,:]*)$`)
	escapeRE   = regexp.MustCompile(`%(?:[0-9A-F]{2})?`)
)

// parseWorkflowCommand checks one line against the grammar and unescapes it
// as the runner does (%25 %0D %0A, and %3A %2C in properties).
func parseWorkflowCommand(line string) (workflowCommand, error) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return workflowCommand{}, fmt.Errorf("control byte %#x in %q", c, line)
		}
	}
	for _, m := range escapeRE.FindAllString(line, -1) {
		if len(m) != 3 {
			return workflowCommand{}, fmt.Errorf("a %% that starts no escape in %q", line)
		}
	}
	m := commandRE.FindStringSubmatch(line)
	if m == nil {
		return workflowCommand{}, fmt.Errorf("not a workflow command: %q", line)
	}
	unescape := func(s string, property bool) string {
		r := []string{"%0D", "\r", "%0A", "\n"}
		if property {
			r = append(r, "%3A", ":", "%2C", ",")
		}
		s = strings.NewReplacer(r...).Replace(s)
		return strings.ReplaceAll(s, "%25", "%")
	}
	c := workflowCommand{Level: m[1], Props: map[string]string{}, Message: unescape(m[3], false)}
	if m[2] != "" {
		for _, p := range strings.Split(m[2], ",") {
			pm := propertyRE.FindStringSubmatch(p)
			if pm == nil {
				return workflowCommand{}, fmt.Errorf("bad property %q in %q", p, line)
			}
			if _, dup := c.Props[pm[1]]; dup {
				return workflowCommand{}, fmt.Errorf("property %s twice in %q", pm[1], line)
			}
			if pm[1] != "file" && pm[1] != "title" {
				if _, err := strconv.Atoi(pm[2]); err != nil {
					return workflowCommand{}, fmt.Errorf("%s=%q is not a number", pm[1], pm[2])
				}
			}
			c.Props[pm[1]] = unescape(pm[2], true)
		}
	}
	return c, nil
}

// parseWorkflowCommands parses every line of out; each must be a command.
func parseWorkflowCommands(t *testing.T, out string) []workflowCommand {
	t.Helper()
	var cmds []workflowCommand
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" && out == "" {
			break
		}
		c, err := parseWorkflowCommand(line)
		require.NoError(t, err)
		cmds = append(cmds, c)
	}
	return cmds
}

func TestWorkflowCommandGrammarRejects(t *testing.T) {
	for _, bad := range []string{
		"::error file=a.yaml,line=1::two\ncommands",
		"::error file=a:b.yaml::raw colon in a property",
		"::error file=a.yaml,title=x,y::raw comma in a property",
		"::error line=one::line is a number",
		"::error::100% sure",
		"::error::ansi \x1b[31mred",
		"::fatal::unknown level",
		"error: not a command",
	} {
		_, err := parseWorkflowCommand(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestGitHubEscaping(t *testing.T) {
	tests := []struct {
		name, in, data, property string
	}{
		{"plain text is unchanged", "Service shop/quote", "Service shop/quote", "Service shop/quote"},
		{"percent is escaped first, so it cannot forge an escape", "100%0A", "100%250A", "100%250A"},
		{"line breaks cannot start a second command", "a\r\n::error::forged", "a%0D%0A::error::forged", "a%0D%0A%3A%3Aerror%3A%3Aforged"},
		{"properties escape their separators", "deploy/a:b,c.yaml", "deploy/a:b,c.yaml", "deploy/a%3Ab%2Cc.yaml"},
		{"other control bytes are written as escapes the runner leaves as text", "red \x1b[31m\x00\x7f", "red %1B[31m%00%7F", "red %1B[31m%00%7F"},
		{"UTF-8 passes through", "naïve ✓", "naïve ✓", "naïve ✓"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.data, ghEscapeData(tt.in))
			assert.Equal(t, tt.property, ghEscapeProperty(tt.in))
		})
	}
}

func TestGitHubCommandsCannotBeForged(t *testing.T) {
	evil := "x\n::error file=README.md,line=1::forged\r%0A,:"
	res := &Result{
		Objects: []*Reviewed{{Findings: []Finding{{
			Finding: policy.Finding{Rule: "service-port-name", Mode: policy.Enforce, Object: policy.ObjectRef{Kind: "Service", Namespace: "ns", Name: "a,b:c"}, Field: "spec.ports[0].name", Message: evil},
			File:    "dir:1,2/evil\n.yaml", Line: 7,
		}}}},
		Notes: []Note{{Kind: NoteWorld, Message: evil}},
	}
	var out bytes.Buffer
	require.NoError(t, writeGitHub(&out, res, "/nowhere"))
	cmds := parseWorkflowCommands(t, out.String())
	require.Len(t, cmds, 2, "one command per finding and note, whatever the text holds:\n%s", out.String())
	assert.Equal(t, "error", cmds[0].Level)
	assert.Equal(t, "Service ns/a,b:c: spec.ports[0].name: "+evil, cmds[0].Message, "the runner reads back the message as written")
	assert.True(t, strings.HasSuffix(cmds[0].Props["file"], "dir:1,2/evil\n.yaml"), cmds[0].Props["file"])
	assert.Equal(t, "7", cmds[0].Props["line"])
	assert.Equal(t, "notice", cmds[1].Level)
	assert.Equal(t, evil, cmds[1].Message)
	assert.NotContains(t, cmds[1].Props, "file", "a note about the whole World has no file")
}

func TestGitHubOutput(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	type want struct{ level, file, line, title string }
	tests := []struct {
		name     string
		opts     Options
		wantCode int
		want     []want
	}{
		{
			name:     "enforce findings are errors on their file and line, relative to the checkout",
			opts:     Options{Files: []string{cli + "/enforce"}},
			wantCode: ExitEnforce,
			want:     []want{{"error", "testdata/cli/enforce/vs.yaml", "12", "meshgate virtualservice-gateway-ref"}},
		},
		{
			name:     "warnings are warnings",
			opts:     Options{Files: []string{cli + "/enforce"}, ConfigFile: cli + "/warn.yaml"},
			wantCode: ExitOK,
			want:     []want{{"warning", "testdata/cli/enforce/vs.yaml", "12", "meshgate virtualservice-gateway-ref"}},
		},
		{
			name:     "clean manifests print nothing",
			opts:     Options{Files: []string{cli + "/clean"}},
			wantCode: ExitOK,
		},
		{
			name:     "input errors are errors at their line, the rest is still checked, skipped documents are notices",
			opts:     Options{Files: []string{cli + "/broken"}},
			wantCode: ExitBadInput,
			want: []want{
				{"error", "testdata/cli/broken/bad.yaml", "10", "meshgate input error"},
				{"error", "testdata/cli/broken/bad.yaml", "21", "meshgate virtualservice-gateway-ref"},
				{"notice", "testdata/cli/broken/bad.yaml", "12", "meshgate skipped"},
			},
		},
		{
			name:     "standard input has no file",
			opts:     Options{Files: []string{"-"}, Stdin: mustOpen(t, cli+"/enforce/vs.yaml")},
			wantCode: ExitEnforce,
			want:     []want{{"error", "", "", "meshgate virtualservice-gateway-ref"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Format = FormatGitHub
			tt.opts.WorkDir = wd
			r := runCheck(t, tt.opts)
			require.NoError(t, r.err)
			assert.Equal(t, tt.wantCode, r.code)
			var got []want
			for _, c := range parseWorkflowCommands(t, r.stdout) {
				assert.NotEmpty(t, c.Message)
				got = append(got, want{c.Level, c.Props["file"], c.Props["line"], c.Props["title"]})
			}
			assert.Equal(t, tt.want, got, r.stdout)
		})
	}
}
