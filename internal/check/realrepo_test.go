package check

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/check/schematest"
	"github.com/meshgate/meshgate/internal/policy"
)

// writeTree writes files (path -> content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

func gatewayYAML(from string) string {
	return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: infra
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: ` + from + "\n"
}

const routeYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: app
spec:
  parentRefs:
  - name: public
    namespace: infra
`

// overlays is a tree with the same Gateway in prod/ (routes from all
// namespaces) and staging/ (same namespace only), and the same route in both.
func overlays(t *testing.T) string {
	return writeTree(t, map[string]string{
		"namespaces.yaml":   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n",
		"prod/gateway.yaml": gatewayYAML("All"),
		"prod/route.yaml":   routeYAML,
		"staging/gw.yaml":   gatewayYAML("Same"),
		"staging/web.yaml":  routeYAML,
	})
}

func findingsAt(rep JSONReport) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, filepath.ToSlash(f.File)+" "+string(f.Mode)+" "+f.Rule)
	}
	return out
}

func TestDuplicatesAndOverlays(t *testing.T) {
	dir := overlays(t)
	rel := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }

	t.Run("one World: duplicates are reported with every copy, and a route judged with another file's Gateway says so", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{dir}, Format: FormatJSON})
		require.NoError(t, r.err)
		rep := decodeJSON(t, r.stdout)
		var dups, judged []JSONNote
		for _, n := range rep.Notes {
			switch {
			case n.Kind == NoteDuplicate && strings.HasPrefix(n.Message, "duplicate: "):
				dups = append(dups, n)
			case n.Kind == NoteDuplicate:
				judged = append(judged, n)
			}
		}
		require.Len(t, dups, 2, "the Gateway and the HTTPRoute are defined twice: %+v", rep.Notes)
		assert.Contains(t, dups[0].Message, "Gateway infra/public is defined 2 times: "+rel("prod/gateway.yaml")+":1, "+rel("staging/gw.yaml")+":1")
		assert.Contains(t, dups[0].Message, "--world-per-dir")
		assert.Contains(t, dups[1].Message, "HTTPRoute app/web is defined 2 times: "+rel("prod/route.yaml")+":1, "+rel("staging/web.yaml")+":1")
		require.Len(t, judged, 1, "only the prod route was judged with another file's copy")
		assert.Equal(t, rel("prod/route.yaml"), judged[0].File)
		assert.Contains(t, judged[0].Message, "judged with the copy of Gateway infra/public at "+rel("staging/gw.yaml")+":1, not the one at "+rel("prod/gateway.yaml")+":1")
		assert.Equal(t, 2, rep.Summary.Duplicates)
	})

	t.Run("--world-per-dir: each overlay is judged by its own Gateway, and nothing is a duplicate", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{dir}, Format: FormatJSON, WorldPerDir: true})
		require.NoError(t, r.err)
		rep := decodeJSON(t, r.stdout)
		assert.Equal(t, []string{rel("staging/web.yaml") + " enforce route-parent-ref"}, findingsAt(rep),
			"prod's Gateway admits routes from every namespace; staging's only from its own")
		assert.Empty(t, rep.Notes)
		assert.Equal(t, ExitEnforce, r.code)
	})

	t.Run("--world-per-dir: the files directly in the directory are in every overlay's World", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{dir}, Format: FormatJSON, WorldPerDir: true})
		require.NoError(t, r.err)
		for _, n := range decodeJSON(t, r.stdout).Notes {
			assert.NotContains(t, n.Message, `namespace "app"`, "namespaces.yaml is shared")
		}
	})

	t.Run("the same object twice in one file is a duplicate too", func(t *testing.T) {
		f := writeTree(t, map[string]string{"a.yaml": routeYAML + "---\n" + routeYAML})
		r := runCheck(t, Options{Files: []string{f}, Format: FormatJSON, WorldPerDir: true})
		require.NoError(t, r.err)
		rep := decodeJSON(t, r.stdout)
		require.Equal(t, 1, rep.Summary.Duplicates)
	})
}

func TestNonManifestsAreSkippedAndExcludable(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"chart/Chart.yaml":             "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
		"chart/values.yaml":            "replicas: 2\nimage:\n  tag: latest\n",
		"chart/templates/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"shop.fullname\" . }}\n",
		"hack/render.yaml":             "{{- range .Values.items }}\n- name: {{ . }}\n{{- end }}\n",
		"fixtures/data.json":           "[{\"a\": 1}]\n",
		"fixtures/notyaml.yaml":        "key: [unclosed\n",
		"deploy/ns.yaml":               "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n",
		"deploy/svc.yaml":              "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: app\nspec:\n  ports:\n  - name: http\n    port: 80\n",
		"deploy/alerts.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: alerts\ndata:\n  summary: Instance {{ $labels.instance }} down\n  text: \"{{ $value }}\"\n",
		"broken/bad.yaml":              "apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n",
	})
	p := func(s string) string { return filepath.Join(dir, filepath.FromSlash(s)) }

	t.Run("documents that are not Kubernetes objects are notes, a broken manifest is an error", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{dir}, Format: FormatJSON})
		require.NoError(t, r.err)
		assert.Equal(t, ExitBadInput, r.code, "the broken manifest still fails the run")
		rep := decodeJSON(t, r.stdout)
		require.Len(t, rep.Errors, 1)
		assert.Equal(t, p("broken/bad.yaml"), rep.Errors[0].File)
		var skipped []string
		for _, n := range rep.Notes {
			if n.Kind == NoteSkipped {
				skipped = append(skipped, filepath.ToSlash(strings.TrimPrefix(n.File, dir+string(filepath.Separator))))
			}
		}
		assert.Equal(t, []string{"chart/templates", "chart/Chart.yaml", "chart/values.yaml", "fixtures/data.json", "fixtures/notyaml.yaml", "hack/render.yaml"}, skipped)
		assert.Equal(t, 3, rep.Summary.Objects, "the Namespace, the Service and the ConfigMap whose data holds {{ }} are checked")
		assert.NotContains(t, r.stderr, "skipped", "machine formats carry the notes; standard error has only errors")
	})

	t.Run("--exclude leaves paths out: ** for any depth, a pattern without / at any depth", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{dir}, Format: FormatJSON, Exclude: []string{"broken/**", "*.json", "chart", "fixtures/*.yaml", "hack"}})
		require.NoError(t, r.err)
		assert.Equal(t, ExitOK, r.code, "stderr: %s", r.stderr)
		rep := decodeJSON(t, r.stdout)
		assert.Empty(t, rep.Errors)
		assert.Empty(t, rep.Notes)
		assert.Equal(t, 3, rep.Summary.Objects)
	})

	t.Run("text output: skipped inputs are notices on standard error, never on standard output", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{dir}, Exclude: []string{"broken"}})
		require.NoError(t, r.err)
		assert.Equal(t, ExitOK, r.code)
		assert.Contains(t, r.stderr, "meshgate: "+p("chart/values.yaml")+":1: skipped: not a Kubernetes object: no `apiVersion` and `kind`")
		assert.Contains(t, r.stderr, "meshgate: "+p("hack/render.yaml")+":1: skipped: a Helm or Go template")
		assert.NotContains(t, r.stdout, "skipped:")
		assert.Contains(t, r.stdout, ", 6 skipped (not Kubernetes objects)")
	})

	t.Run("a bad --exclude pattern is a usage error", func(t *testing.T) {
		r := runCheck(t, Options{Files: []string{dir}, Exclude: []string{"[z-a"}})
		assert.True(t, IsUsageError(r.err))
	})
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"charts/**", "charts/a/templates/x.yaml", true},
		{"charts/**", "deploy/charts/x.yaml", false},
		{"**/testdata/**", "pkg/a/testdata/b.yaml", true},
		{"*.json", "a/b/c.json", true},
		{"*.json", "a/b/c.yaml", false},
		{"templates", "chart/templates/svc.yaml", true},
		{"deploy/*.yaml", "deploy/a.yaml", true},
		{"deploy/*.yaml", "deploy/sub/a.yaml", false},
		{"./deploy/", "deploy/sub/a.yaml", true},
		{"values*.yaml", "chart/values-prod.yaml", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, matchGlob(tt.pattern, tt.path))
		})
	}
}

const edgeProxyDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: edge
  namespace: emissary
spec:
  selector:
    matchLabels: {product: aes}
  template:
    metadata:
      labels:
        product: aes
        profile: main
    spec:
      containers:
      - name: ambassador
        image: emissary:3.9
`

func TestUnknownWorldIsSaidInEveryFormat(t *testing.T) {
	unknown := writeTree(t, map[string]string{"edge.yaml": edgeProxyDeployment})
	known := writeTree(t, map[string]string{"edge.yaml": edgeProxyDeployment + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: emissary\n"})
	const said = `the World does not know namespace "emissary"`

	tests := []struct {
		format string
		check  func(t *testing.T, stdout string) string // returns the text that must say it
	}{
		{FormatText, func(t *testing.T, out string) string {
			assert.Contains(t, out, "NOT FULLY CHECKED")
			return out
		}},
		{FormatJSON, func(t *testing.T, out string) string {
			rep := decodeJSON(t, out)
			assert.Equal(t, 1, rep.Summary.Unchecked)
			var msgs []string
			for _, n := range rep.Notes {
				if n.Kind == NoteWorld {
					msgs = append(msgs, n.Message)
				}
			}
			return strings.Join(msgs, "\n")
		}},
		{FormatJUnit, func(t *testing.T, out string) string {
			var doc junitSuites
			require.NoError(t, xml.Unmarshal([]byte(out), &doc))
			for _, s := range doc.Suites {
				if s.Name == junitWorldSuite {
					require.Len(t, s.Cases, 1)
					require.NotNil(t, s.Cases[0].Skipped)
					assert.Equal(t, 1, s.Skipped)
					return s.Cases[0].Skipped.Message
				}
			}
			return ""
		}},
		{FormatGitHub, func(t *testing.T, out string) string {
			cmds := parseWorkflowCommands(t, out)
			require.Len(t, cmds, 1)
			assert.Equal(t, "notice", cmds[0].Level)
			return cmds[0].Message
		}},
		{FormatSARIF, func(t *testing.T, out string) string {
			schematest.ValidateSARIF(t, []byte(out))
			var doc struct {
				Runs []struct {
					Invocations []struct {
						ExecutionSuccessful bool `json:"executionSuccessful"`
						Notifications       []struct {
							Level   string `json:"level"`
							Message struct{ Text string }
						} `json:"toolExecutionNotifications"`
					} `json:"invocations"`
				} `json:"runs"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &doc))
			inv := doc.Runs[0].Invocations[0]
			assert.True(t, inv.ExecutionSuccessful, "a note does not fail the run")
			require.Len(t, inv.Notifications, 1)
			assert.Equal(t, "note", inv.Notifications[0].Level)
			return inv.Notifications[0].Message.Text
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format+": an edge proxy in a namespace the World does not know is not checked, and the report says so", func(t *testing.T) {
			r := runCheck(t, Options{Files: []string{unknown}, Format: tt.format})
			require.NoError(t, r.err)
			assert.Equal(t, ExitOK, r.code)
			text := tt.check(t, r.stdout)
			assert.Contains(t, text, said)
			assert.Contains(t, text, "edge-proxy-istio-certs")
			assert.Contains(t, text, "--world")
			assert.Contains(t, text, "--kubeconfig")
		})
		t.Run(tt.format+": with the Namespace in the input there is nothing to say", func(t *testing.T) {
			r := runCheck(t, Options{Files: []string{known}, Format: tt.format})
			require.NoError(t, r.err)
			assert.NotContains(t, r.stdout, "does not know")
			assert.NotContains(t, r.stdout, "NOT FULLY CHECKED")
		})
	}
}

func TestTypeAndParseErrorsPointAtTheField(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantLine int
		wantMsg  string
	}{
		{
			name:     "a quoted port names the field and its line",
			in:       "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - name: http\n    port: 80\n  - name: grpc\n    port: \"9090\"\n",
			wantLine: 10,
			wantMsg:  `Service default/web: spec.ports[1].port: want an integer, got the string "9090"`,
		},
		{
			name:     "a workload's pod template field",
			in:       strings.Replace(edgeProxyDeployment, "      - name: ambassador\n", "      - name: ambassador\n        ports:\n        - containerPort: http\n", 1),
			wantLine: 18,
			wantMsg:  `spec.template.spec.containers[0].ports[0].containerPort: want an integer, got the string "http"`,
		},
		{
			name:     "a parse error has one line number",
			in:       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  ? {a: 1}\n  : x\n",
			wantLine: 6,
			wantMsg:  "document 1: a mapping key must be a scalar",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, Options{Files: []string{"-"}, Stdin: strings.NewReader(tt.in), Format: FormatJSON})
			require.NoError(t, r.err)
			assert.Equal(t, ExitBadInput, r.code)
			rep := decodeJSON(t, r.stdout)
			require.Len(t, rep.Errors, 1)
			assert.Equal(t, tt.wantLine, rep.Errors[0].Line)
			assert.Equal(t, tt.wantMsg, strings.TrimPrefix(rep.Errors[0].Message, "Deployment emissary/edge: "))
		})
	}
}

// unreadableNamespaces is a World whose namespace lookups fail, as a live
// cluster's may.
type unreadableNamespaces struct{ policy.World }

func (w unreadableNamespaces) Find(ctx context.Context, kind policy.WorldKind, q policy.Query) (any, error) {
	if kind == policy.KindNamespace {
		return nil, errors.New("namespaces is forbidden")
	}
	return w.World.Find(ctx, kind, q)
}

func TestWorldLookupErrorIsAnInputError(t *testing.T) {
	dir := writeTree(t, map[string]string{"edge.yaml": edgeProxyDeployment, "ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: emissary\n"})
	for _, format := range Formats {
		t.Run(format+": the review that could not read the World is reported and the run exits 2", func(t *testing.T) {
			r := runCheck(t, Options{Files: []string{dir}, Format: format,
				wrapWorld: func(w policy.World) policy.World { return unreadableNamespaces{w} }})
			require.NoError(t, r.err)
			assert.Equal(t, ExitBadInput, r.code)
			assert.Contains(t, r.stderr, filepath.Join(dir, "edge.yaml")+":1: Deployment emissary/edge: rule ")
			assert.Contains(t, r.stderr, `could not read the cluster state it needs: look up namespace "emissary": namespaces is forbidden`)
			assert.NotContains(t, r.stdout, "does not know", "a failed lookup is not an unknown namespace")
			if format == FormatJSON {
				rep := decodeJSON(t, r.stdout)
				require.Len(t, rep.Errors, 1)
				assert.Empty(t, rep.Findings, "no verdict is built on a failed lookup")
				assert.Empty(t, rep.Changes)
			}
		})
	}
}
