package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/check"
	"github.com/meshgate/meshgate/internal/check/schematest"
)

// The examples of docs/ci.md, run so they cannot rot. Each example is the fenced
// block after an `<!-- example: NAME -->` marker.

func docExamples(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../../docs/ci.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)<!-- example: ([a-z-]+) -->\\s*```[a-z]*\\n(.*?)```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		out[m[1]] = m[2]
	}
	for _, name := range []string{"github-actions", "gitlab", "pre-commit", "helm"} {
		require.Contains(t, out, name, "docs/ci.md must hold the %s example", name)
	}
	return out
}

// workspace is a temporary repository checkout with the sample scenario in
// deploy/ (it has one enforce finding and several changes).
func workspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(fixtures(t), "scenario")
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "deploy"), 0o755))
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy", e.Name()), data, 0o644))
	}
	return dir
}

// sh runs script with bash in dir, with path as PATH.
func sh(t *testing.T, dir, path, script string) (int, string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+path, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err, string(out))
	return 0, string(out)
}

func TestDocsGitHubActions(t *testing.T) {
	var wf struct {
		Permissions map[string]string `json:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				Uses string            `json:"uses"`
				With map[string]string `json:"with"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	// Not strict: the workflow's `on:` is a YAML 1.1 boolean key to this decoder.
	require.NoError(t, yaml.Unmarshal([]byte(docExamples(t)["github-actions"]), &wf))
	job, ok := wf.Jobs["meshgate"]
	require.True(t, ok)
	action := readAction(t)
	var used bool
	for _, step := range job.Steps {
		if !strings.HasPrefix(step.Uses, "meshgate/meshgate@") {
			continue
		}
		used = true
		assert.Regexp(t, `@v\d+\.\d+\.\d+$`, step.Uses, "a release tag: the action installs that version")
		for k, v := range step.With {
			_, ok := action.Inputs[k]
			assert.True(t, ok, "action.yml has the input %s", k)
			if k == "sarif" && v == "true" {
				assert.Equal(t, "write", wf.Permissions["security-events"], "uploading SARIF needs security-events: write")
			}
		}
	}
	assert.True(t, used, "the example uses the action")
}

func TestDocsGitLab(t *testing.T) {
	var ci map[string]struct {
		Script    []string `json:"script"`
		Artifacts struct {
			When    string `json:"when"`
			Reports struct {
				CodeQuality string `json:"codequality"`
			} `json:"reports"`
		} `json:"artifacts"`
		Stage string `json:"stage"`
		Image string `json:"image"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(docExamples(t)["gitlab"]), &ci))
	job, ok := ci["meshgate"]
	require.True(t, ok)
	assert.Equal(t, "always", job.Artifacts.When, "keep the report when the job fails")
	dir, path := workspace(t), shim(t)
	var ran bool
	for _, line := range job.Script {
		if !strings.HasPrefix(line, "meshgate ") {
			continue
		}
		code, out := sh(t, dir, path, line)
		assert.Equal(t, 1, code, out)
		data, err := os.ReadFile(filepath.Join(dir, job.Artifacts.Reports.CodeQuality))
		require.NoError(t, err, "the script writes the file artifacts:reports:codequality names")
		// the scenario's one enforce finding, and the warning on its Emissary
		// 3.9 image (certificates that stop rotating)
		severities := map[string]string{}
		for _, is := range validateGitLab(t, data) {
			severities[is.Location.Path] = is.Severity
		}
		assert.Equal(t, map[string]string{"deploy/shop.yaml": "critical", "deploy/emissary.yaml": "minor"}, severities)
		ran = true
	}
	assert.True(t, ran)
}

// validateGitLab checks a Code Quality report against GitLab's format.
func validateGitLab(t *testing.T, data []byte) []check.GitLabIssue {
	t.Helper()
	schematest.ValidateGitLab(t, data)
	var issues []check.GitLabIssue
	require.NoError(t, json.Unmarshal(data, &issues))
	return issues
}

func TestDocsPreCommitFramework(t *testing.T) {
	var cfg struct {
		Repos []struct {
			Repo  string `json:"repo"`
			Rev   string `json:"rev"`
			Hooks []struct {
				ID   string   `json:"id"`
				Args []string `json:"args"`
			} `json:"hooks"`
		} `json:"repos"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(docExamples(t)["pre-commit"]), &cfg))
	require.Len(t, cfg.Repos, 1)
	assert.Equal(t, "https://github.com/meshgate/meshgate", cfg.Repos[0].Repo)
	assert.Regexp(t, `^v\d+\.\d+\.\d+$`, cfg.Repos[0].Rev)
	require.Len(t, cfg.Repos[0].Hooks, 1)
	use := cfg.Repos[0].Hooks[0]

	data, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	require.NoError(t, err)
	var hooks []preCommitHook
	require.NoError(t, yaml.Unmarshal(data, &hooks))
	var entry string
	for _, h := range hooks {
		if h.ID == use.ID {
			entry = h.Entry
		}
	}
	require.NotEmpty(t, entry, "the repository provides the hook %s", use.ID)

	// pre-commit runs entry, then args, then the changed files.
	dir := workspace(t)
	argv := append(append(strings.Fields(entry)[1:], use.Args...), "deploy/emissary.yaml")
	code, _, stderr := meshgate(t, dir, "", argv...)
	assert.Equal(t, 0, code, stderr)
	code, stdout, _ := meshgate(t, dir, "", append(argv, "deploy/shop.yaml")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "deploy/shop.yaml:32: error [virtualservice-gateway-ref]")
}

func TestDocsHelm(t *testing.T) {
	pipeline := strings.TrimSpace(docExamples(t)["helm"])
	dir, path := workspace(t), shim(t)
	// helm is not installed here: a stand-in prints a pre-rendered chart.
	bin := t.TempDir()
	rendered := filepath.Join(fixtures(t), "docs", "helm-template.yaml")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "helm"), []byte("#!/bin/sh\n[ \"$1\" = template ] || exit 64\nexec cat '"+rendered+"'\n"), 0o755))
	path = bin + string(os.PathListSeparator) + path

	code, out := sh(t, dir, path, pipeline)
	assert.Equal(t, 1, code, "the pipeline's status is meshgate's: 1 for the chart's enforce finding: %s", out)
	data, err := os.ReadFile(filepath.Join(dir, "meshgate.json"))
	require.NoError(t, err)
	var report struct {
		Findings []struct {
			Rule string `json:"rule"`
			File string `json:"file"`
			Line int    `json:"line"`
		} `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(data, &report), string(data))
	require.Len(t, report.Findings, 1)
	assert.Equal(t, "service-port-name", report.Findings[0].Rule)
	assert.Equal(t, "<stdin>", report.Findings[0].File)
	assert.Equal(t, 22, report.Findings[0].Line, "the line of the port's name in the rendered stream")
}
