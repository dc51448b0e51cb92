package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
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
	for _, name := range []string{"github-actions", "gitlab", "git-hook", "pre-commit", "helm"} {
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
				Name string            `json:"name"`
				Uses string            `json:"uses"`
				Run  string            `json:"run"`
				If   string            `json:"if"`
				With map[string]string `json:"with"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	// Not strict: the workflow's `on:` is a YAML 1.1 boolean key to this decoder.
	require.NoError(t, yaml.Unmarshal([]byte(docExamples(t)["github-actions"]), &wf))
	assert.Equal(t, "write", wf.Permissions["security-events"], "uploading SARIF needs security-events: write")
	job, ok := wf.Jobs["meshgate"]
	require.True(t, ok)

	dir, path := workspace(t), shim(t)
	var ran, uploaded bool
	var sarifFile string
	for _, step := range job.Steps {
		switch {
		case strings.Contains(step.Run, "meshgate check"):
			code, out := sh(t, dir, path, step.Run)
			assert.Equal(t, 1, code, "the scenario has an enforce finding, so the step fails the job: %s", out)
			m := regexp.MustCompile(`--output-file (\S+)`).FindStringSubmatch(step.Run)
			require.NotNil(t, m)
			sarifFile = m[1]
			data, err := os.ReadFile(filepath.Join(dir, sarifFile))
			require.NoError(t, err)
			validateSARIF(t, data)
			assert.Contains(t, string(data), `"uri": "deploy/shop.yaml"`, "paths relative to the checkout")
			ran = true
		case strings.HasPrefix(step.Uses, "github/codeql-action/upload-sarif@"):
			assert.True(t, ran, "the upload comes after the check")
			assert.Equal(t, sarifFile, step.With["sarif_file"])
			assert.Equal(t, "always()", step.If, "upload even when the check step fails")
			uploaded = true
		}
	}
	assert.True(t, ran && uploaded)
}

func validateSARIF(t *testing.T, data []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures(t), "sarif", "sarif-schema-2.1.0.json"))
	require.NoError(t, err)
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("file:///sarif-schema-2.1.0.json", schemaDoc))
	s, err := c.Compile("file:///sarif-schema-2.1.0.json")
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	require.NoError(t, s.Validate(inst))
}

func TestDocsGitLab(t *testing.T) {
	var ci map[string]struct {
		Script    []string `json:"script"`
		Artifacts struct {
			When    string `json:"when"`
			Reports struct {
				JUnit string `json:"junit"`
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
		data, err := os.ReadFile(filepath.Join(dir, job.Artifacts.Reports.JUnit))
		require.NoError(t, err, "the script writes the file artifacts:reports:junit names")
		var suites struct {
			Failures int `xml:"failures,attr"`
			Tests    int `xml:"tests,attr"`
		}
		require.NoError(t, xml.Unmarshal(data, &suites))
		assert.Equal(t, 1, suites.Failures)
		assert.Positive(t, suites.Tests)
		ran = true
	}
	assert.True(t, ran)
}

func TestDocsGitHook(t *testing.T) {
	hook := docExamples(t)["git-hook"]
	dir, path := workspace(t), shim(t)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+path, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	commit := func(files ...string) (int, string) {
		cmd := exec.Command("git", append([]string{"commit", "-q", "-m", "change", "--"}, files...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+path, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		require.NoError(t, err, string(out))
		return 0, string(out)
	}
	git("init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".git", "hooks", "pre-commit"), []byte(hook), 0o755))

	git("add", "deploy/namespaces.yaml", "deploy/emissary.yaml")
	code, out := commit("deploy/namespaces.yaml", "deploy/emissary.yaml")
	assert.Equal(t, 0, code, "manifests without enforce findings commit: %s", out)
	assert.Contains(t, out, "changes", "the hook shows what the webhook will change")

	git("add", "deploy/shop.yaml")
	code, out = commit("deploy/shop.yaml")
	assert.NotEqual(t, 0, code, "an enforce finding stops the commit")
	assert.Contains(t, out, "deploy/shop.yaml:32: error [virtualservice-gateway-ref]")
}

func TestDocsPreCommitFramework(t *testing.T) {
	var cfg struct {
		Repos []struct {
			Repo  string `json:"repo"`
			Hooks []struct {
				ID       string `json:"id"`
				Name     string `json:"name"`
				Entry    string `json:"entry"`
				Language string `json:"language"`
				Files    string `json:"files"`
			} `json:"hooks"`
		} `json:"repos"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(docExamples(t)["pre-commit"]), &cfg))
	require.Len(t, cfg.Repos, 1)
	require.Len(t, cfg.Repos[0].Hooks, 1)
	hook := cfg.Repos[0].Hooks[0]
	assert.Equal(t, "system", hook.Language)
	files := regexp.MustCompile(hook.Files)
	dir, path := workspace(t), shim(t)

	// pre-commit runs `entry` with the staged files matching `files` appended.
	run := func(names ...string) (int, string) {
		var args []string
		for _, n := range names {
			require.True(t, files.MatchString(n), "%s matches the hook's files pattern", n)
			args = append(args, n)
		}
		assert.False(t, files.MatchString("README.md"))
		return sh(t, dir, path, hook.Entry+" "+strings.Join(args, " "))
	}
	code, out := run("deploy/namespaces.yaml", "deploy/emissary.yaml")
	assert.Equal(t, 0, code, out)
	code, out = run("deploy/shop.yaml")
	assert.Equal(t, 1, code, out)
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
