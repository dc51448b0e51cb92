package check

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

const cli = "testdata/cli"

type runResult struct {
	code           int
	err            error
	stdout, stderr string
}

func runCheck(t *testing.T, o Options) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o.Stdout, o.Stderr = &stdout, &stderr
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	code, err := Run(context.Background(), o)
	return runResult{code: code, err: err, stdout: stdout.String(), stderr: stderr.String()}
}

func decodeJSON(t *testing.T, s string) JSONReport {
	t.Helper()
	var r JSONReport
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&r), "stdout must be exactly one JSON document:\n%s", s)
	require.False(t, dec.More(), "stdout must hold nothing after the JSON document")
	return r
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantCode int
		wantErr  bool
	}{
		{"clean manifests exit 0", Options{Files: []string{cli + "/clean"}}, ExitOK, false},
		{"an enforce finding exits 1", Options{Files: []string{cli + "/enforce"}}, ExitEnforce, false},
		{"warnings alone exit 0 by default", Options{Files: []string{cli + "/enforce"}, ConfigFile: cli + "/warn.yaml"}, ExitOK, false},
		{"--warn-exit-code makes warnings fail", Options{Files: []string{cli + "/enforce"}, ConfigFile: cli + "/warn.yaml", WarnExitCode: 3}, 3, false},
		{"--warn-exit-code does not soften enforce findings", Options{Files: []string{cli + "/enforce"}, WarnExitCode: 3}, ExitEnforce, false},
		{"--warn-exit-code does not fail clean input", Options{Files: []string{cli + "/clean"}, WarnExitCode: 3}, ExitOK, false},
		{"a broken document exits 2", Options{Files: []string{cli + "/broken"}}, ExitBadInput, false},
		{"a missing file exits 2", Options{Files: []string{cli + "/nosuch.yaml", cli + "/clean"}}, ExitBadInput, false},
		{"no input is a usage error", Options{}, ExitBadInput, true},
		{"an unknown format is a usage error", Options{Files: []string{cli + "/clean"}, Format: "xml"}, ExitBadInput, true},
		{"a bad config is an error", Options{Files: []string{cli + "/clean"}, ConfigFile: cli + "/clean/ok.yaml"}, ExitBadInput, true},
		{"a warn exit code out of range is a usage error", Options{Files: []string{cli + "/clean"}, WarnExitCode: 300}, ExitBadInput, true},
		{"--write-mutated - with a machine format on stdout is a usage error", Options{Files: []string{cli + "/clean"}, Format: FormatJSON, WriteMutated: "-"}, ExitBadInput, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, tt.opts)
			assert.Equal(t, tt.wantCode, r.code, "stderr: %s", r.stderr)
			if tt.wantErr {
				require.Error(t, r.err)
				assert.Empty(t, r.stdout, "nothing on stdout on a usage error")
			} else {
				require.NoError(t, r.err)
			}
		})
	}
}

func TestBrokenDocumentIsReportedAndTheRestChecked(t *testing.T) {
	r := runCheck(t, Options{Files: []string{cli + "/broken", cli + "/enforce"}, Format: FormatJSON})
	require.NoError(t, r.err)
	assert.Equal(t, ExitBadInput, r.code)
	rep := decodeJSON(t, r.stdout)

	bad := filepath.Join(cli, "broken", "bad.yaml")
	require.Len(t, rep.Errors, 1, "the broken manifest is an error")
	assert.Equal(t, JSONError{File: bad, Line: 10, Message: rep.Errors[0].Message}, rep.Errors[0])
	assert.Contains(t, rep.Errors[0].Message, "document 2")
	assert.Contains(t, r.stderr, bad+":10: document 2", "input errors also go to stderr, with file:line")
	require.Len(t, rep.Notes, 1, "the mapping without apiVersion and kind is skipped with a note")
	assert.Equal(t, JSONNote{Kind: NoteSkipped, File: bad, Line: 12, Message: "skipped: not a Kubernetes object: no `apiVersion` and `kind`"}, rep.Notes[0])
	assert.Equal(t, 1, rep.Summary.Skipped)

	var files []string
	for _, f := range rep.Findings {
		files = append(files, f.File+":"+f.Object.Name)
	}
	assert.Equal(t, []string{bad + ":after-the-break", filepath.Join(cli, "enforce", "vs.yaml") + ":quote"}, files,
		"the document after the broken one and the other file are still checked")
	assert.Equal(t, 3, rep.Summary.Objects)
}

func TestJSONReportShape(t *testing.T) {
	r := runCheck(t, Options{Files: []string{cli + "/enforce"}, Format: FormatJSON})
	require.NoError(t, r.err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &raw))
	assert.ElementsMatch(t, []string{"findings", "changes", "errors", "notes", "summary"}, keys(raw))
	findings := raw["findings"].([]any)
	require.Len(t, findings, 1)
	f := findings[0].(map[string]any)
	assert.ElementsMatch(t, []string{"rule", "mode", "object", "field", "message", "file", "line"}, keys(f))
	assert.ElementsMatch(t, []string{"apiVersion", "kind", "namespace", "name"}, keys(f["object"].(map[string]any)))
	assert.Equal(t, map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "namespace": "shop", "name": "quote"}, f["object"])
	assert.Equal(t, "virtualservice-gateway-ref", f["rule"])
	assert.Equal(t, "enforce", f["mode"])
	assert.Equal(t, "spec.gateways[1]", f["field"])
	assert.Equal(t, float64(12), f["line"], "the line of the gateway reference, not of the document")
	assert.Equal(t, []any{}, raw["changes"], "empty lists are [], not null")
	assert.Empty(t, r.stderr)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestInputs(t *testing.T) {
	vs, err := os.ReadFile(cli + "/enforce/vs.yaml")
	require.NoError(t, err)
	tests := []struct {
		name      string
		opts      Options
		wantFiles []string // file:line of each finding
		wantObjs  int
	}{
		{
			name:      "standard input",
			opts:      Options{Files: []string{"-"}, Stdin: bytes.NewReader(vs)},
			wantFiles: []string{"<stdin>:12"},
			wantObjs:  1,
		},
		{
			name:      "a List's items are checked with their own lines",
			opts:      Options{Files: []string{cli + "/list/list.yaml"}},
			wantFiles: []string{filepath.Join(cli, "list", "list.yaml") + ":17"},
			wantObjs:  2,
		},
		{
			name:      "directories recurse into .yaml/.yml/.json files and skip hidden folders and other files",
			opts:      Options{Files: []string{cli + "/nested"}},
			wantFiles: []string{filepath.Join(cli, "nested", "sub", "vs.yml") + ":12"},
			wantObjs:  2,
		},
		{
			name:      "a file named twice is checked once",
			opts:      Options{Files: []string{cli + "/enforce/vs.yaml", cli + "/enforce"}},
			wantFiles: []string{cli + "/enforce/vs.yaml:12"},
			wantObjs:  1,
		},
		{
			name:      "--world objects are in the World but not checked",
			opts:      Options{Files: []string{cli + "/clean"}, WorldFiles: []string{cli + "/enforce"}},
			wantFiles: nil,
			wantObjs:  3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Format = FormatJSON
			r := runCheck(t, tt.opts)
			require.NoError(t, r.err)
			rep := decodeJSON(t, r.stdout)
			assert.Empty(t, rep.Errors)
			var got []string
			for _, f := range rep.Findings {
				got = append(got, f.File+":"+strconv.Itoa(f.Line))
			}
			assert.Equal(t, tt.wantFiles, got)
			assert.Equal(t, tt.wantObjs, rep.Summary.Objects)
		})
	}
}

func TestStdinTwiceIsAnInputError(t *testing.T) {
	r := runCheck(t, Options{Files: []string{"-", "-"}, Stdin: strings.NewReader("")})
	require.NoError(t, r.err)
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.stderr, "standard input given more than once")
}

func TestTextOutput(t *testing.T) {
	tests := []struct {
		name      string
		color     string
		wantColor bool
	}{
		{"never", ColorNever, false},
		{"always", ColorAlways, true},
		{"auto is off when stdout is not a terminal", ColorAuto, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, Options{Files: []string{cli + "/enforce", cli + "/clean"}, Color: tt.color})
			require.NoError(t, r.err)
			assert.Equal(t, tt.wantColor, strings.Contains(r.stdout, "\x1b["))
			plain := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(r.stdout, "")
			lines := strings.Split(strings.TrimSpace(plain), "\n")
			require.Len(t, lines, 2)
			assert.True(t, strings.HasPrefix(lines[0], filepath.Join(cli, "enforce", "vs.yaml")+":12: error [virtualservice-gateway-ref] VirtualService shop/quote: spec.gateways[1]: "), lines[0])
			assert.Equal(t, "4 objects, 1 enforce, 0 warn, 0 changes", lines[1])
		})
	}
}

func TestOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "reports", "meshgate.json")
	r := runCheck(t, Options{Files: []string{cli + "/enforce"}, Format: FormatJSON, OutputFile: out})
	require.NoError(t, r.err)
	assert.Equal(t, ExitEnforce, r.code)
	assert.Empty(t, r.stdout, "the report goes to the file, not stdout")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Len(t, decodeJSON(t, string(data)).Findings, 1)
}

func TestJUnit(t *testing.T) {
	r := runCheck(t, Options{Files: []string{cli + "/enforce", cli + "/broken", cli + "/clean"}, Format: FormatJUnit})
	require.NoError(t, r.err)
	var doc junitSuites
	require.NoError(t, xml.Unmarshal([]byte(r.stdout), &doc))
	assert.Equal(t, "meshgate", doc.Name)
	require.Len(t, doc.Suites, 3, "one suite per file")
	vs := doc.Suites[0]
	assert.Equal(t, filepath.Join(cli, "enforce", "vs.yaml"), vs.Name)
	require.Len(t, vs.Cases, 1, "one case per object x applicable rule")
	c := vs.Cases[0]
	assert.Equal(t, "VirtualService shop/quote", c.Name)
	assert.Equal(t, "meshgate.virtualservice-gateway-ref", c.Classname)
	require.NotNil(t, c.Failure)
	assert.Equal(t, 12, c.Line)
	assert.Equal(t, 1, vs.Failures)

	broken := doc.Suites[1]
	assert.Equal(t, 1, broken.Errors, "unreadable documents are errors")
	assert.Equal(t, 1, broken.Skipped, "documents that are not Kubernetes objects are skipped test cases")
	assert.Equal(t, 1, broken.Failures)
	assert.Equal(t, 1, doc.Errors, "totals add up")
	assert.Equal(t, 2, doc.Failures, "totals add up")

	t.Run("warnings are system-out, not failures", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{cli + "/enforce"}, Format: FormatJUnit, ConfigFile: cli + "/warn.yaml"})
		require.NoError(t, r.err)
		var doc junitSuites
		require.NoError(t, xml.Unmarshal([]byte(r.stdout), &doc))
		c := doc.Suites[0].Cases[0]
		assert.Nil(t, c.Failure)
		assert.Contains(t, c.SystemOut, "warning: "+filepath.Join(cli, "enforce", "vs.yaml")+":12: spec.gateways[1]: ")
		assert.Zero(t, doc.Failures)
	})
}

func TestDiffAndWriteMutated(t *testing.T) {
	scenario := "testdata/scenario"
	t.Run("diff", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{scenario}, Diff: true, Format: FormatJSON, OutputFile: filepath.Join(t.TempDir(), "r.json")})
		require.NoError(t, r.err)
		assert.Contains(t, r.stdout, "--- a/"+filepath.Join(scenario, "emissary.yaml")+" (Deployment emissary/emissary-ingress)")
		assert.Contains(t, r.stdout, "+        - name: AMBASSADOR_ISTIO_SECRET_DIR")
		assert.Contains(t, r.stdout, "@@")
	})
	t.Run("diff never mixes with machine output on stdout", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{scenario}, Diff: true, Format: FormatJSON})
		require.NoError(t, r.err)
		decodeJSON(t, r.stdout)
		assert.Contains(t, r.stderr, "+++ b/")
	})
	t.Run("directory", func(t *testing.T) {
		out := t.TempDir()
		r := runCheck(t, Options{Files: []string{scenario}, WriteMutated: out, Format: FormatJSON})
		require.NoError(t, r.err)
		rep := decodeJSON(t, r.stdout)
		require.NotEmpty(t, rep.Changes)

		var changed int
		for _, name := range []string{"emissary.yaml", "namespaces.yaml", "shop.yaml"} {
			orig, err := os.ReadFile(filepath.Join(scenario, name))
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(out, name))
			require.NoError(t, err, "every input file is written, changed or not")
			if !bytes.Equal(orig, got) {
				changed++
			}
		}
		assert.Equal(t, 2, changed, "emissary.yaml and shop.yaml change; namespaces.yaml is copied byte for byte")

		// The written manifests are exactly the engine's mutated objects, and
		// checking them again changes nothing (a drop-in replacement).
		again := runCheck(t, Options{Files: []string{out}, Format: FormatJSON})
		require.NoError(t, again.err)
		assert.Empty(t, decodeJSON(t, again.stdout).Changes)
		got, err := os.ReadFile(filepath.Join(out, "emissary.yaml"))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(got), "# Emissary-ingress as its chart renders it"), "comments survive")
	})
	t.Run("stdout stream", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{scenario}, WriteMutated: "-"})
		require.NoError(t, r.err)
		assert.Contains(t, r.stderr, "objects,", "the text report moves to stderr")
		var n int
		for _, d := range manifest.Parse("out", []byte(r.stdout)) {
			require.Nil(t, d.Err)
			n += len(d.Objects)
		}
		assert.Equal(t, 9, n, "every object, changed or not")
		assert.Contains(t, r.stdout, "AMBASSADOR_ISTIO_SECRET_DIR")
	})
	t.Run("two inputs that would overwrite each other", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{cli + "/enforce/vs.yaml", cli + "/nested/sub/vs.yml", cli + "/list/list.yaml", "testdata/cli/enforce/../list/list.yaml"}, WriteMutated: t.TempDir()})
		require.NoError(t, r.err, "distinct names do not collide")
		dup := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dup, "vs.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o644))
		r = runCheck(t, Options{Files: []string{cli + "/enforce/vs.yaml", filepath.Join(dup, "vs.yaml")}, WriteMutated: t.TempDir()})
		require.Error(t, r.err)
		assert.Contains(t, r.err.Error(), "would both be written")
	})
}

func TestArtifactURI(t *testing.T) {
	wd := t.TempDir()
	assert.Equal(t, "k8s/app%20one.yaml", artifactURI(filepath.Join(wd, "k8s", "app one.yaml"), wd))
	assert.Equal(t, "stdin", artifactURI(StdinName, wd))
	assert.True(t, strings.HasPrefix(artifactURI("/elsewhere/x.yaml", wd), "file:///elsewhere/x.yaml"))
}

func TestMayHoldWorldObject(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want bool
	}{
		{"a Deployment", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      serviceAccountName: x\n", false},
		{"a Mapping", "apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nspec:\n  service: quote:80\n", false},
		{"a Service", "apiVersion: v1\nkind: Service\n", true},
		{"a Namespace in JSON", `{"apiVersion":"v1","kind":"Namespace"}`, true},
		{"a VirtualService mentions Service", "kind: VirtualService\n", true},
		{"a List of Gateways", "kind: List\nitems:\n- kind: Gateway\n", true},
		{"an escaped kind name", `{"kind":"Serv\u0069ce"}`, true},
		{"a TLSContext", "kind: TLSContext\n", true},
		{"a PeerAuthentication", "kind: PeerAuthentication\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, mayHoldWorldObject([]byte(tt.doc)))
		})
	}
	for _, k := range policy.WorldKinds() {
		doc := "apiVersion: " + k.GroupKind().WithVersion("v1").GroupVersion().String() + "\nkind: " + k.APIKind + "\n"
		assert.True(t, mayHoldWorldObject([]byte(doc)), "every declared World kind is read before the World is built: %s", k.GroupKind())
	}
}

// TestWorldObjectsAfterTheirUsers: the World is complete before any object is
// reviewed, wherever its objects are in the input.
func TestWorldObjectsAfterTheirUsers(t *testing.T) {
	emissary, err := os.ReadFile("testdata/scenario/emissary.yaml")
	require.NoError(t, err)
	namespaces, err := os.ReadFile("testdata/scenario/namespaces.yaml")
	require.NoError(t, err)
	stream := string(emissary) + "---\n" + string(namespaces)
	r := runCheck(t, Options{Files: []string{"-"}, Stdin: strings.NewReader(stream), Format: FormatJSON, Workers: 1})
	require.NoError(t, r.err)
	rep := decodeJSON(t, r.stdout)
	require.NotEmpty(t, rep.Changes, "the Deployment is wired: its namespace, later in the stream, is in the World")
	assert.Equal(t, "Deployment", rep.Changes[0].Object.Kind)
}

// TestWriteMutatedListAndJSON: a List document is written back as a List with
// its items mutated, a JSON file as JSON, and both check clean afterwards.
func TestWriteMutatedListAndJSON(t *testing.T) {
	in := t.TempDir()
	emissary := manifest.Parse("e", mustRead(t, "testdata/scenario/emissary.yaml"))[0].Objects[0].Object
	deployJSON, err := json.MarshalIndent(emissary.Object, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(in, "emissary.json"), deployJSON, 0o644))
	list := "apiVersion: v1\nkind: List\nmetadata: {}\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: untouched, namespace: emissary}\n  - " +
		strings.ReplaceAll(strings.TrimPrefix(string(mustRead(t, "testdata/scenario/emissary.yaml")), "# Emissary-ingress as its chart renders it (trimmed).\n"), "\n", "\n    ")
	list = list[:strings.Index(list, "---")]
	require.NoError(t, os.WriteFile(filepath.Join(in, "list.yaml"), []byte(list), 0o644))

	out := t.TempDir()
	world := []string{"testdata/scenario/namespaces.yaml"}
	r := runCheck(t, Options{Files: []string{in}, WorldFiles: world, WriteMutated: out, Format: FormatJSON})
	require.NoError(t, r.err, r.stderr)
	rep := decodeJSON(t, r.stdout)
	require.Empty(t, rep.Errors)
	require.NotEmpty(t, rep.Changes)

	var asJSON map[string]any
	require.NoError(t, json.Unmarshal(mustRead(t, filepath.Join(out, "emissary.json")), &asJSON), "a JSON input is written as JSON")
	written := mustRead(t, filepath.Join(out, "list.yaml"))
	assert.Contains(t, string(written), "kind: List")
	assert.Contains(t, string(written), "name: untouched")

	again := runCheck(t, Options{Files: []string{out}, WorldFiles: world, Format: FormatJSON})
	require.NoError(t, again.err)
	rep = decodeJSON(t, again.stdout)
	assert.Empty(t, rep.Changes, "the written manifests are the mutated objects")
	assert.Equal(t, 3, rep.Summary.Objects)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

func TestAutoMemoryLimit(t *testing.T) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		t.Skip("GOMEMLIMIT is set: AutoMemoryLimit leaves it alone")
	}
	before := debug.SetMemoryLimit(-1)
	o := Options{Files: []string{cli + "/clean"}, AutoMemoryLimit: true, Format: FormatJSON}
	o.Stdout, o.Stderr = io.Discard, io.Discard
	require.NoError(t, o.defaults())
	o.limitMemory(1 << 30)
	assert.Equal(t, int64(16<<30), debug.SetMemoryLimit(-1), "scaled to the input")
	o.restoreLimit()
	assert.Equal(t, before, debug.SetMemoryLimit(-1), "restored after the run")
	assert.Equal(t, int64(memoryLimitFloor), memoryLimitFor(1024), "never below the floor")

	_, err := Run(context.Background(), Options{Files: []string{cli + "/clean"}, AutoMemoryLimit: true, Stdout: io.Discard, Stderr: io.Discard})
	require.NoError(t, err)
	assert.Equal(t, before, debug.SetMemoryLimit(-1), "Run restores the limit")
}

// TestExemptServicesAreNotes: a Service the port rules skip as one of Istio's
// own is reported as a note (text and JSON), never as a finding, and does not
// change the exit code; a Service merely labelled release=istio is checked.
func TestExemptServicesAreNotes(t *testing.T) {
	in := `apiVersion: v1
kind: Namespace
metadata: {name: istio-ingress, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-ingress
  labels:
    istio: ingressgateway
spec:
  selector: {istio: ingressgateway}
  ports: [{name: status-port, port: 15021}, {name: http2, port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: istiod
  namespace: istio-ingress
  labels: {app: istiod, istio: pilot}
spec:
  selector: {app: istiod}
  ports: [{name: grpc-xds, port: 15010}]
`
	r := runCheck(t, Options{Files: []string{"-"}, Stdin: strings.NewReader(in), Format: FormatJSON})
	require.NoError(t, r.err)
	assert.Equal(t, 0, r.code, "a note never fails the check")
	rep := decodeJSON(t, r.stdout)
	assert.Empty(t, rep.Findings)
	var got []string
	for _, n := range rep.Notes {
		if n.Kind == NoteExempt {
			got = append(got, fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Message))
		}
	}
	assert.Equal(t, []string{
		"<stdin>:10: Service istio-ingress/istio-ingressgateway: not checked by service-port-protocol and service-port-name: an Istio gateway's Service (label istio=ingressgateway, port status-port 15021)",
		"<stdin>:21: Service istio-ingress/istiod: not checked by service-port-protocol and service-port-name: istiod's Service (labels istio=pilot, app=istiod)",
	}, got)

	text := runCheck(t, Options{Files: []string{"-"}, Stdin: strings.NewReader(in)})
	require.NoError(t, text.err)
	assert.Contains(t, text.stdout, "<stdin>:10: note Service istio-ingress/istio-ingressgateway: not checked by")

	// A Service with only release=istio is not Istio's: checked, no note.
	plain := strings.Replace(in, "labels:\n    istio: ingressgateway", "labels:\n    release: istio", 1)
	r = runCheck(t, Options{Files: []string{"-"}, Stdin: strings.NewReader(plain), Format: FormatJSON})
	require.NoError(t, r.err)
	rep = decodeJSON(t, r.stdout)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, "spec.ports[0].name", rep.Findings[0].Field)
	for _, n := range rep.Notes {
		assert.NotContains(t, n.Message, "istio-ingressgateway")
	}
}
