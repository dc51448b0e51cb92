package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
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
)

// The CI integrations at the repository's root: .pre-commit-hooks.yaml and
// action.yml. They name commands and flags of this binary, so they are tested
// here.

// preCommitHook holds the keys pre-commit's manifest schema allows for a hook
// (pre-commit's clientlib MANIFEST_HOOK_DICT); strict decoding refuses others.
type preCommitHook struct {
	ID                      string   `json:"id"`
	Name                    string   `json:"name"`
	Entry                   string   `json:"entry"`
	Language                string   `json:"language"`
	Alias                   string   `json:"alias,omitempty"`
	Files                   string   `json:"files,omitempty"`
	Exclude                 string   `json:"exclude,omitempty"`
	Types                   []string `json:"types,omitempty"`
	TypesOr                 []string `json:"types_or,omitempty"`
	ExcludeTypes            []string `json:"exclude_types,omitempty"`
	AdditionalDependencies  []string `json:"additional_dependencies,omitempty"`
	Args                    []string `json:"args,omitempty"`
	AlwaysRun               bool     `json:"always_run,omitempty"`
	FailFast                bool     `json:"fail_fast,omitempty"`
	PassFilenames           *bool    `json:"pass_filenames,omitempty"`
	Description             string   `json:"description,omitempty"`
	LanguageVersion         string   `json:"language_version,omitempty"`
	LogFile                 string   `json:"log_file,omitempty"`
	MinimumPreCommitVersion string   `json:"minimum_pre_commit_version,omitempty"`
	RequireSerial           bool     `json:"require_serial,omitempty"`
	Stages                  []string `json:"stages,omitempty"`
	Verbose                 bool     `json:"verbose,omitempty"`
}

// checkCommandLine asserts that argv (without the leading "meshgate") names
// the check command and flags it has.
func checkCommandLine(t *testing.T, argv []string) {
	t.Helper()
	require.NotEmpty(t, argv)
	cmd, rest, err := newRootCommand().Find(argv)
	require.NoError(t, err)
	require.Equal(t, "check", cmd.Name(), "%q runs meshgate check", argv)
	for i, a := range rest {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := cmd.Flags().Lookup(name)
		if !strings.HasPrefix(a, "--") {
			f = cmd.Flags().ShorthandLookup(name)
		}
		require.NotNil(t, f, "meshgate check has the flag %s", a)
		if f.Name == "output" {
			if !hasValue && i+1 < len(rest) {
				value = rest[i+1]
			}
			assert.Contains(t, check.Formats, value, "-o %s is a format", value)
		}
	}
}

func TestPreCommitHooksFile(t *testing.T) {
	data, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	require.NoError(t, err)
	var hooks []preCommitHook
	require.NoError(t, yaml.UnmarshalStrict(data, &hooks), "only keys pre-commit's schema knows")
	require.Len(t, hooks, 1)
	h := hooks[0]
	assert.Equal(t, "meshgate-check", h.ID)
	assert.NotEmpty(t, h.Name)
	assert.Equal(t, "golang", h.Language, "pre-commit builds it with go install")
	assert.Equal(t, []string{"yaml"}, h.Types)
	assert.True(t, h.RequireSerial, "one run over all files, so they form one World")
	argv := strings.Fields(h.Entry)
	require.Equal(t, "meshgate", argv[0])
	checkCommandLine(t, argv[1:])

	// pre-commit appends the changed files to entry (and args): all are
	// checked, in one World.
	dir := workspace(t)
	files := []string{"deploy/namespaces.yaml", "deploy/emissary.yaml", "deploy/shop.yaml"}
	code, stdout, stderr := meshgate(t, dir, "", append(argv[1:], files...)...)
	assert.Equal(t, 1, code, "shop.yaml's enforce finding fails the hook: %s", stderr)
	assert.Contains(t, stdout, "deploy/shop.yaml:32: error [virtualservice-gateway-ref]")
	assert.NotContains(t, stdout, "does not know", "the Namespaces of namespaces.yaml are in the World of the other files")

	for name, args := range map[string][]string{
		"-f repeated":                 {"check", "-f", files[0], "-f", files[1], "-f", files[2]},
		"-f with more files after it": {"check", "-f", files[0], files[1], files[2]},
		"args before the files":       append(append(argv[1:], "--world", "deploy/namespaces.yaml"), files...),
	} {
		t.Run(name+" checks the same files", func(t *testing.T) {
			code2, stdout2, stderr2 := meshgate(t, dir, "", args...)
			assert.Equal(t, code, code2, stderr2)
			assert.Equal(t, stdout, stdout2)
		})
	}
}

// actionFile is the part of action.yml the runner reads.
type actionFile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Branding    map[string]string
	Inputs      map[string]struct {
		Description string  `json:"description"`
		Required    bool    `json:"required"`
		Default     *string `json:"default"`
	} `json:"inputs"`
	Outputs map[string]struct {
		Description string `json:"description"`
		Value       string `json:"value"`
	} `json:"outputs"`
	Runs struct {
		Using string       `json:"using"`
		Steps []actionStep `json:"steps"`
	} `json:"runs"`
}

type actionStep struct {
	Name  string            `json:"name"`
	ID    string            `json:"id"`
	If    string            `json:"if"`
	Shell string            `json:"shell"`
	Env   map[string]string `json:"env"`
	Run   string            `json:"run"`
	Uses  string            `json:"uses"`
	With  map[string]string `json:"with"`
}

var expressionRE = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

func readAction(t *testing.T) actionFile {
	t.Helper()
	data, err := os.ReadFile("../../action.yml")
	require.NoError(t, err)
	var a actionFile
	require.NoError(t, yaml.UnmarshalStrict(data, &a))
	return a
}

func TestActionFile(t *testing.T) {
	a := readAction(t)
	assert.NotEmpty(t, a.Name)
	assert.NotEmpty(t, a.Description)
	assert.Equal(t, "composite", a.Runs.Using)
	for name, in := range a.Inputs {
		assert.NotEmpty(t, in.Description, "input %s", name)
		assert.NotNil(t, in.Default, "input %s has a default", name)
	}

	// Every expression names an input that exists, the action's ref, or the
	// check step's output; every input is used. Inputs reach scripts through
	// env only, never pasted into the script.
	used := map[string]bool{}
	exprRE := regexp.MustCompile(`^(?:inputs\.([a-z-]+)(?: == 'true')?|github\.action_ref|steps\.check\.outputs\.exit-code)$`)
	var texts []string
	for _, s := range a.Runs.Steps {
		assert.NotContains(t, s.Run, "${{", "step %q: no expressions in scripts", s.Name)
		texts = append(texts, s.If)
		for _, v := range s.Env {
			texts = append(texts, v)
		}
		for _, v := range s.With {
			texts = append(texts, v)
		}
		if s.Run != "" {
			assert.Equal(t, "bash", s.Shell, "step %q", s.Name)
		}
	}
	for _, o := range a.Outputs {
		texts = append(texts, o.Value)
	}
	for _, text := range texts {
		for _, m := range expressionRE.FindAllStringSubmatch(text, -1) {
			em := exprRE.FindStringSubmatch(m[1])
			require.NotNil(t, em, "unexpected expression %q", m[0])
			if em[1] != "" {
				_, ok := a.Inputs[em[1]]
				assert.True(t, ok, "input %s exists", em[1])
				used[em[1]] = true
			}
		}
	}
	for name := range a.Inputs {
		assert.True(t, used[name], "input %s is used", name)
	}

	// The meshgate command lines name flags and formats that exist.
	var checks int
	for _, s := range a.Runs.Steps {
		for _, line := range strings.Split(s.Run, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "meshgate check ") {
				continue
			}
			line = strings.TrimSuffix(line, " || true")
			// Shell words; the variables stand for paths and values.
			argv := strings.Fields(strings.ReplaceAll(line, `"`, ""))
			checkCommandLine(t, argv[1:])
			checks++
		}
	}
	assert.Equal(t, 2, checks, "one run for annotations, one for SARIF")

	var upload *actionStep
	for i, s := range a.Runs.Steps {
		if strings.HasPrefix(s.Uses, "github/codeql-action/upload-sarif@") {
			upload = &a.Runs.Steps[i]
		}
	}
	require.NotNil(t, upload, "SARIF is uploaded with github/codeql-action/upload-sarif")
	assert.Equal(t, "${{ inputs.sarif-file }}", upload.With["sarif_file"])
	assert.Equal(t, "${{ inputs.sarif == 'true' }}", upload.If, "only when asked")
}

// TestActionRuns runs the action's scripts as the runner would, against a
// release served on 127.0.0.1: install (checksum verified), check, fail.
func TestActionRuns(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "tar", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	a := readAction(t)
	const version = "9.9.9"

	// The release: an archive whose meshgate is this test binary as the CLI.
	meshgateBin := filepath.Join(strings.SplitN(shim(t), string(os.PathListSeparator), 2)[0], "meshgate")
	exe, err := os.ReadFile(meshgateBin)
	require.NoError(t, err)
	var archive bytes.Buffer
	gz := gzip.NewWriter(&archive)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "meshgate", Mode: 0o755, Size: int64(len(exe))}))
	_, err = tw.Write(exe)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	name := "meshgate_" + version + "_linux_amd64.tar.gz"
	serve := func(sumOf []byte) string {
		sum := sha256.Sum256(sumOf)
		files := map[string][]byte{
			"/v" + version + "/" + name:    archive.Bytes(),
			"/v" + version + "/SHA256SUMS": []byte(hex.EncodeToString(sum[:]) + "  " + name + "\n"),
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			data, ok := files[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(data)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}

	// runStep runs one step's script with its env expressions evaluated.
	type runner struct {
		inputs        map[string]string
		env           []string
		outputs, path string
	}
	step := func(r runner, s actionStep, dir string) (int, string) {
		t.Helper()
		env := append([]string{}, r.env...)
		for k, v := range s.Env {
			v = expressionRE.ReplaceAllStringFunc(v, func(e string) string {
				expr := expressionRE.FindStringSubmatch(e)[1]
				switch {
				case strings.HasPrefix(expr, "inputs."):
					return r.inputs[strings.TrimPrefix(expr, "inputs.")]
				case expr == "github.action_ref":
					return "v" + version
				case expr == "steps.check.outputs.exit-code":
					data, _ := os.ReadFile(r.outputs)
					m := regexp.MustCompile(`exit-code=(\d+)`).FindSubmatch(data)
					require.NotNil(t, m, "the check step wrote its exit code")
					return string(m[1])
				}
				t.Fatalf("unexpected expression %s", e)
				return ""
			})
			env = append(env, k+"="+v)
		}
		// As the runner runs `shell: bash`.
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
		cmd.Dir = dir
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		require.NoError(t, err, string(out))
		return 0, string(out)
	}
	newRunner := func(t *testing.T, url string, with map[string]string) runner {
		tmp := t.TempDir()
		r := runner{inputs: map[string]string{}, outputs: filepath.Join(tmp, "output"), path: filepath.Join(tmp, "path")}
		for k, in := range a.Inputs {
			r.inputs[k] = *in.Default
		}
		r.inputs["download-url"] = url
		for k, v := range with {
			r.inputs[k] = v
		}
		r.env = append(os.Environ(), "RUNNER_OS=Linux", "RUNNER_ARCH=X64", "RUNNER_TEMP="+tmp,
			"GITHUB_PATH="+r.path, "GITHUB_OUTPUT="+r.outputs, "NO_COLOR=1")
		return r
	}

	t.Run("installs the release for the action's ref, checks, annotates, writes SARIF and fails on the enforce finding", func(t *testing.T) {
		r := newRunner(t, serve(archive.Bytes()), map[string]string{"paths": "deploy/\n", "sarif": "true"})
		dir := workspace(t)
		code, out := step(r, a.Runs.Steps[0], dir)
		require.Equal(t, 0, code, out)
		path, err := os.ReadFile(r.path)
		require.NoError(t, err)
		installed := strings.TrimSpace(string(path))
		assert.FileExists(t, filepath.Join(installed, "meshgate"))
		// The runner puts GITHUB_PATH's directories first on PATH.
		r.env = append(r.env, "PATH="+installed+string(os.PathListSeparator)+os.Getenv("PATH"))

		code, out = step(r, a.Runs.Steps[1], dir)
		require.Equal(t, 0, code, "the check step records the exit code and lets the upload run: %s", out)
		assert.Contains(t, out, "::error file=deploy/shop.yaml,line=32,title=meshgate virtualservice-gateway-ref::")
		assert.FileExists(t, filepath.Join(dir, "meshgate.sarif"))

		code, _ = step(r, a.Runs.Steps[3], dir)
		assert.Equal(t, 1, code, "the last step fails the job with meshgate's exit code")
	})

	t.Run("a checksum that does not match stops the install", func(t *testing.T) {
		r := newRunner(t, serve([]byte("something else")), nil)
		code, out := step(r, a.Runs.Steps[0], t.TempDir())
		assert.NotEqual(t, 0, code)
		assert.Contains(t, out, "does not match SHA256SUMS")
	})

	t.Run("a ref that is not a release needs the version input", func(t *testing.T) {
		r := newRunner(t, serve(archive.Bytes()), nil)
		s := a.Runs.Steps[0]
		s.Env = map[string]string{"MESHGATE_VERSION": "", "MESHGATE_ACTION_REF": "main", "MESHGATE_DOWNLOAD_URL": "http://127.0.0.1:1"}
		code, out := step(r, s, t.TempDir())
		assert.Equal(t, 2, code)
		assert.Contains(t, out, "set the version input")
	})
}
