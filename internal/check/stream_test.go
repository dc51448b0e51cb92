package check

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/manifest"
)

const streamDir = "testdata/stream"

// TestEveryDocumentAClusterAcceptsIsChecked: template text inside YAML
// strings, a template document in the middle of a stream and a byte order
// mark after `---` never hide the documents a cluster would accept.
func TestEveryDocumentAClusterAcceptsIsChecked(t *testing.T) {
	world := []string{streamDir + "/injector.yaml"}
	tests := []struct {
		name        string
		file        string
		wantObjects int
		wantDenied  []string
		wantSkipped []string
	}{
		{"template text in a block scalar and a folded double-quoted string is data", "injector.yaml", 4, []string{"web"}, nil},
		{"a Service whose annotation is a block scalar holding {{ }} is checked", "annotated.yaml", 1, []string{"api"}, nil},
		{"a template document is skipped with its line; the documents around it are checked", "midstream.yaml", 2, []string{"before", "after"}, []string{"midstream.yaml:13"}},
		{"a byte order mark after --- is dropped, as kubectl does", "bom.yaml", 2, []string{"bom"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, Options{Files: []string{filepath.Join(streamDir, tt.file)}, WorldFiles: world, Format: FormatJSON})
			require.NoError(t, r.err)
			assert.Equal(t, ExitEnforce, r.code)
			rep := decodeJSON(t, r.stdout)
			assert.Empty(t, rep.Errors)
			assert.Equal(t, tt.wantObjects, rep.Summary.Objects)
			var denied, skipped []string
			for _, f := range rep.Findings {
				if f.Rule == "service-port-name" {
					denied = append(denied, f.Object.Name)
				}
			}
			for _, n := range rep.Notes {
				if n.Kind == NoteSkipped {
					skipped = append(skipped, filepath.Base(n.File)+":"+strconv.Itoa(n.Line))
					assert.Contains(t, n.Message, "a Helm or Go template")
				}
			}
			assert.Equal(t, tt.wantDenied, denied)
			assert.Equal(t, tt.wantSkipped, skipped)
		})
	}
}

// TestTemplateAndBOMOnStandardInput: the same shapes through one stream, as
// `kustomize build | meshgate check -f -` gives them.
func TestTemplateAndBOMOnStandardInput(t *testing.T) {
	var stream strings.Builder
	for _, f := range []string{"injector.yaml", "annotated.yaml", "midstream.yaml", "bom.yaml"} {
		stream.WriteString("---\n")
		stream.Write(mustRead(t, filepath.Join(streamDir, f)))
	}
	r := runCheck(t, Options{Files: []string{"-"}, Stdin: strings.NewReader(stream.String()), Format: FormatJSON})
	require.NoError(t, r.err)
	rep := decodeJSON(t, r.stdout)
	assert.Equal(t, 4+1+2+2, rep.Summary.Objects)
	assert.Equal(t, 5, rep.Summary.Enforce, "web, api, before, after and bom are denied")
	assert.Equal(t, 1, rep.Summary.Skipped)
	assert.Equal(t, 1, rep.Summary.Duplicates, "the Namespace is in the stream twice")
}

// TestFailOnSkipped: a skipped input is a note, and with FailOnSkipped an
// input error (exit 2), in every format.
func TestFailOnSkipped(t *testing.T) {
	mid := filepath.Join(streamDir, "midstream.yaml")
	world := []string{streamDir + "/injector.yaml"}
	tests := []struct {
		name string
		opts Options
		want int
	}{
		{"a skipped template does not fail the run by default", Options{Files: []string{mid}, WorldFiles: world}, ExitEnforce},
		{"with FailOnSkipped it exits 2", Options{Files: []string{mid}, WorldFiles: world, FailOnSkipped: true}, ExitBadInput},
		{"with FailOnSkipped in JSON too", Options{Files: []string{mid}, WorldFiles: world, FailOnSkipped: true, Format: FormatJSON}, ExitBadInput},
		{"with FailOnSkipped nothing skipped passes", Options{Files: []string{cli + "/clean"}, FailOnSkipped: true}, ExitOK},
		{"a values file is skipped too", Options{Files: []string{cli + "/broken"}, FailOnSkipped: true}, ExitBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, tt.opts)
			require.NoError(t, r.err)
			assert.Equal(t, tt.want, r.code, "stderr: %s", r.stderr)
		})
	}
}

// TestBrokenTemplateAndBOMFilesTogether: a broken manifest names its file and
// line, a template its line, and every other file is still checked.
func TestBrokenTemplateAndBOMFilesTogether(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a-broken.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n",
		"b-tmpl.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: {{ .Values.k }}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: c\n  namespace: shop\nspec:\n  ports:\n  - name: rest\n    port: 8080\n",
		"c-bom.yaml":    "\xef\xbb\xbfapiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n---\n\xef\xbb\xbfapiVersion: v1\nkind: Service\nmetadata:\n  name: d\n  namespace: shop\nspec:\n  ports:\n  - name: rest\n    port: 8080\n",
	})
	r := runCheck(t, Options{Files: []string{dir}})
	require.NoError(t, r.err)
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.stderr, filepath.Join(dir, "a-broken.yaml")+":4: document 1: invalid YAML")
	assert.Contains(t, r.stderr, filepath.Join(dir, "b-tmpl.yaml")+":6: skipped: a Helm or Go template")
	assert.Contains(t, r.stdout, "b-tmpl.yaml:15: error [service-port-name] Service shop/c")
	assert.Contains(t, r.stdout, "c-bom.yaml:15: error [service-port-name] Service shop/d")
	assert.Contains(t, r.stdout, "3 objects, 2 enforce")
	assert.NotContains(t, r.stdout, "skipped:", "notices stay on standard error")
}

// TestStreamChecksLikeItsDocumentsSplit: a rendered stream (kustomize build
// | meshgate check -f -) gives the findings and changes its documents give
// split one per file.
func TestStreamChecksLikeItsDocumentsSplit(t *testing.T) {
	var stream strings.Builder
	split := map[string]string{}
	for _, f := range []string{"injector.yaml", "annotated.yaml", "bom.yaml"} {
		for i, c := range manifest.Split(mustRead(t, filepath.Join(streamDir, f))) {
			stream.WriteString("---\n")
			stream.Write(c.Raw)
			split[fmt.Sprintf("%s-%d.yaml", f, i)] = string(c.Raw)
		}
	}
	stream.WriteString("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: plain\n  namespace: shop\nspec:\n  selector:\n    app: plain\n  ports:\n  - port: 80\n")
	split["plain.yaml"] = "apiVersion: v1\nkind: Service\nmetadata:\n  name: plain\n  namespace: shop\nspec:\n  selector:\n    app: plain\n  ports:\n  - port: 80\n"

	whole := decodeJSON(t, runCheck(t, Options{Files: []string{"-"}, Stdin: strings.NewReader(stream.String()), Format: FormatJSON}).stdout)
	parts := decodeJSON(t, runCheck(t, Options{Files: []string{writeTree(t, split)}, Format: FormatJSON}).stdout)
	assert.Equal(t, parts.Summary, whole.Summary)
	assert.Equal(t, 0, whole.Summary.Skipped)
	assert.Equal(t, 3, whole.Summary.Enforce, "web, api and bom")
	assert.Equal(t, 1, whole.Summary.Changes, "plain's port 80")
}

// TestWriteMutatedKeepsAByteOrderMarkAfterSeparator: --write-mutated copies a
// file nothing changed byte for byte, a byte order mark after `---` included,
// and splices a changed document that starts with one.
func TestWriteMutatedKeepsAByteOrderMarkAfterSeparator(t *testing.T) {
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n"
	svc := "\xef\xbb\xbfapiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 8080\n"
	in := writeTree(t, map[string]string{"same.yaml": ns + "---\n" + svc, "changed.yaml": ns + "---\n" + strings.Replace(svc, "- name: http\n    port: 8080", "- name: rest\n    port: 80", 1)})
	out := t.TempDir()
	r := runCheck(t, Options{Files: []string{in}, WriteMutated: out, Format: FormatJSON})
	require.NoError(t, r.err)
	assert.Empty(t, r.stderr)
	assert.Equal(t, string(mustRead(t, filepath.Join(in, "same.yaml"))), string(mustRead(t, filepath.Join(out, "same.yaml"))))
	before, after := string(mustRead(t, filepath.Join(in, "changed.yaml"))), string(mustRead(t, filepath.Join(out, "changed.yaml")))
	assert.Equal(t, []string{"+    appProtocol: http"}, changedLines(t, before, after))
}
