package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary behave as the meshgate command (see
// TestHelperProcess), so the CLI tests run the real main with real exit codes,
// standard output and standard error.
const helperEnv = "MESHGATE_TEST_AS_CLI"

// TestHelperProcess is not a test: run with helperEnv set, it is meshgate.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for the CLI tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(args))
}

// meshgate runs the CLI with args in dir, stdin as standard input.
func meshgate(t *testing.T, dir, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1", "NO_COLOR=1")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errb.String()
}

// shim installs a `meshgate` executable that runs this test binary as the CLI,
// and returns a PATH with it first.
func shim(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	script := "#!/bin/sh\n" + helperEnv + "=1 exec '" + os.Args[0] + "' -test.run='^TestHelperProcess$' -- \"$@\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "meshgate"), []byte(script), 0o755))
	return bin + string(os.PathListSeparator) + os.Getenv("PATH")
}

func fixtures(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../../internal/check/testdata")
	require.NoError(t, err)
	return abs
}

func TestCheckCommand(t *testing.T) {
	fx := fixtures(t)
	vs, err := os.ReadFile(filepath.Join(fx, "cli", "enforce", "vs.yaml"))
	require.NoError(t, err)
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout func(t *testing.T, stdout string)
		wantStderr []string
	}{
		{
			name:       "a bad flag exits 2 with the usage on stderr and nothing on stdout",
			args:       []string{"check", "--no-such-flag"},
			wantCode:   2,
			wantStdout: empty,
			wantStderr: []string{"unknown flag: --no-such-flag", "Usage:", "--filename"},
		},
		{
			name:       "no input exits 2 with the usage",
			args:       []string{"check"},
			wantCode:   2,
			wantStdout: empty,
			wantStderr: []string{"no input", "Usage:"},
		},
		{
			name:       "an unknown output format exits 2",
			args:       []string{"check", "-f", fx + "/cli/clean", "-o", "yaml"},
			wantCode:   2,
			wantStdout: empty,
			wantStderr: []string{`unknown output format "yaml"`},
		},
		{
			name:     "clean input exits 0 with the summary",
			args:     []string{"check", "-f", fx + "/cli/clean"},
			wantCode: 0,
			wantStdout: func(t *testing.T, s string) {
				assert.Equal(t, "3 objects, 0 enforce, 0 warn, 0 changes\n", s)
			},
		},
		{
			name:     "an enforce finding exits 1; -o json prints one JSON document",
			args:     []string{"check", "-f", fx + "/cli/enforce", "-o", "json"},
			wantCode: 1,
			wantStdout: func(t *testing.T, s string) {
				var r map[string]any
				require.NoError(t, json.Unmarshal([]byte(s), &r), s)
				assert.Len(t, r["findings"], 1)
			},
		},
		{
			name:     "standard input with -f -",
			args:     []string{"check", "-f", "-", "-o", "json"},
			stdin:    string(vs),
			wantCode: 1,
			wantStdout: func(t *testing.T, s string) {
				assert.Contains(t, s, `"file": "<stdin>"`)
				assert.Contains(t, s, `"line": 12`)
			},
		},
		{
			name:       "positional arguments are inputs too (pre-commit passes file names)",
			args:       []string{"check", fx + "/cli/enforce/vs.yaml"},
			wantCode:   1,
			wantStdout: contains("1 enforce"),
		},
		{
			name:       "--warn-exit-code makes warnings fail",
			args:       []string{"check", "-f", fx + "/cli/enforce", "--config", fx + "/cli/warn.yaml", "--warn-exit-code", "4"},
			wantCode:   4,
			wantStdout: contains("0 enforce, 1 warn"),
		},
		{
			name:       "a broken document is reported with file:line on stderr and the rest is checked",
			args:       []string{"check", "-f", fx + "/cli/broken", "-f", fx + "/cli/enforce"},
			wantCode:   2,
			wantStdout: contains("3 objects, 2 enforce, 0 warn, 0 changes, 1 input errors, 1 skipped (not Kubernetes objects)"),
			wantStderr: []string{fx + "/cli/broken/bad.yaml:10: document 2: invalid YAML", fx + "/cli/broken/bad.yaml:12: skipped: not a Kubernetes object"},
		},
		{
			name:       "a template document is skipped with its line, the documents around it are checked, and --fail-on-skipped exits 2",
			args:       []string{"check", "-f", fx + "/stream/midstream.yaml", "--world", fx + "/stream/injector.yaml", "--fail-on-skipped"},
			wantCode:   2,
			wantStdout: contains("2 objects, 2 enforce, 0 warn, 0 changes, 1 skipped (not Kubernetes objects)"),
			wantStderr: []string{fx + "/stream/midstream.yaml:13: skipped: a Helm or Go template"},
		},
		{
			name:     "a Namespace in the input keeps the --world copy's labels; -o json says it changed it, on stdout only",
			args:     []string{"check", "-f", fx + "/overlay/demo.yaml", "--world", fx + "/overlay/cluster.yaml", "-o", "json"},
			wantCode: 1,
			wantStdout: func(t *testing.T, s string) {
				var r struct {
					Findings []any
					Notes    []struct{ Kind, Message string }
					Summary  struct{ Enforce, Overlays int }
				}
				require.NoError(t, json.Unmarshal([]byte(s), &r), s)
				assert.Equal(t, 2, r.Summary.Enforce)
				assert.Equal(t, 1, r.Summary.Overlays)
				require.Len(t, r.Notes, 1)
				assert.Equal(t, "overlay", r.Notes[0].Kind)
				assert.Contains(t, r.Notes[0].Message, "kept: label istio-injection=enabled")
			},
			wantStderr: nil,
		},
		{
			name:       "--write-mutated - puts the manifests on stdout and the report on stderr",
			args:       []string{"check", "-f", fx + "/scenario", "--write-mutated", "-"},
			wantCode:   1,
			wantStdout: contains("AMBASSADOR_ISTIO_SECRET_DIR"),
			wantStderr: []string{"9 objects, 1 enforce"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := meshgate(t, t.TempDir(), tt.stdin, tt.args...)
			assert.Equal(t, tt.wantCode, code, "stderr: %s", stderr)
			if tt.wantStdout != nil {
				tt.wantStdout(t, stdout)
			}
			for _, s := range tt.wantStderr {
				assert.Contains(t, stderr, s)
			}
		})
	}
}

func empty(t *testing.T, s string) { assert.Empty(t, s, "nothing on stdout") }

func contains(want string) func(t *testing.T, s string) {
	return func(t *testing.T, s string) { assert.Contains(t, s, want) }
}

func TestCheckOutputFile(t *testing.T) {
	fx := fixtures(t)
	dir := t.TempDir()
	code, stdout, _ := meshgate(t, dir, "", "check", "-f", fx+"/cli/enforce", "-o", "junit", "--output-file", "reports/junit.xml")
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	data, err := os.ReadFile(filepath.Join(dir, "reports", "junit.xml"))
	require.NoError(t, err)
	assert.Contains(t, string(data), `<testsuites name="meshgate"`)
}
