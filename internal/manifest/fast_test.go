package manifest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/check/benchcorpus"
)

// fastMatchesGeneral parses every document of data with the fast path and
// with the general path, fails t when the fast path reads a document
// differently, and returns how many documents the fast path read and how many
// there were.
func fastMatchesGeneral(t testing.TB, data []byte) (fast, total int) {
	t.Helper()
	for _, c := range Split(data) {
		total++
		general := parseChunk("f.yaml", c, false)
		got := parseChunk("f.yaml", c, true)
		obj, pos, ok := fastParse(c.Raw, c.Line)
		if ok {
			_, ok = fastObjects("f.yaml", c, obj, pos)
		}
		if !ok {
			continue
		}
		fast++
		if general.Err != nil || general.Skipped != "" {
			t.Fatalf("document %d: the fast path read a document the general path refuses (%v %q):\n%s", c.Index, general.Err, general.Skipped, c.Raw)
		}
		if !assert.Equal(t, general, got, "document %d:\n%s", c.Index, c.Raw) {
			t.FailNow()
		}
	}
	return fast, total
}

func TestFastPathMatchesGeneral(t *testing.T) {
	tests := []struct {
		name string
		in   string
		fast bool
	}{
		{name: "helm output with a Source comment", in: "---\n# Source: quote/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: quote\nspec:\n  ports:\n    - name: http\n      port: 80\n", fast: true},
		{name: "indentless sequence and compact mappings", in: "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - name: http\n    port: 80\n  -   name: grpc\n      port: 81\n  selector: {app: x}\n", fast: true},
		{name: "scalars resolved as kubectl does", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: 42\n  b: -7\n  c: 0x1F\n  d: 1.5\n  e: 2.0\n  f: 1e3\n  g: yes\n  h: off\n  i: ~\n  j:\n  k: \"42\"\n  l: 'it''s'\n  m: 2024-01-02\n  n: 0755\n  o: a b  c\n  p: x#y\n  q: v # comment\n  r: http://x:80/y\n  s: -x\n  t: 18446744073709551615\n", fast: true},
		{name: "keys resolved as kubectl does", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  1: a\n  1.5: b\n  true: c\n  null: d\n  0x10: e\n  n: f\n", fast: true},
		{name: "flow collections", in: "apiVersion: v1\nkind: Pod\nspec:\n  a: []\n  b: {}\n  c: [1, \"two\", 'three', [x], {k: v, n: 2}]\n  d: {a: [1, 2], b: {c: d}} # comment\n", fast: true},
		{name: "List with item lines", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: b}\n", fast: true},
		{name: "separator line with a comment", in: "--- # Source: x\napiVersion: v1\nkind: Pod\n", fast: true},
		{name: "comment lines at any indentation", in: "apiVersion: v1\n# top\nkind: Pod\nmetadata:\n      # deep\n  name: p\n# back\n  labels:\n    a: b\n", fast: true},
		{name: "a null value before a sibling", in: "apiVersion: v1\nkind: Pod\nmetadata:\nspec:\n  x:\n", fast: true},
		{name: "no final line break", in: "apiVersion: v1\nkind: Pod", fast: true},
		{name: "block scalar", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: |\n    x\n"},
		{name: "folded scalar", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: >\n    x\n"},
		{name: "anchor and alias", in: "apiVersion: v1\nkind: ConfigMap\ndata: &d\n  a: b\nx: *d\n"},
		{name: "merge key", in: "apiVersion: v1\nkind: ConfigMap\n<<: {a: b}\n"},
		{name: "tag", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: !!str 1\n"},
		{name: "multi-line plain scalar", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: one\n    two\n"},
		{name: "multi-line quoted scalar", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"one\n    two\"\n"},
		{name: "escape in a double-quoted scalar", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"\\t\"\n"},
		{name: "tab", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a:\tb\n"},
		{name: "carriage returns", in: "apiVersion: v1\r\nkind: ConfigMap\r\n"},
		{name: "non-ASCII", in: "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: café\n"},
		{name: "JSON", in: `{"apiVersion": "v1", "kind": "Pod"}`},
		{name: "duplicate key", in: "apiVersion: v1\nkind: Pod\nkind: Service\n"},
		{name: "empty sequence item", in: "apiVersion: v1\nkind: Pod\nx:\n-\n- a\n"},
		{name: "nested sequence on one line", in: "apiVersion: v1\nkind: Pod\nx:\n- - a\n"},
		{name: "mapping value in a plain scalar", in: "apiVersion: v1\nkind: Pod\nx: a: b\n"},
		{name: "bad indentation", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n labels: {}\n"},
		{name: "more indented line after a value", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n    labels: {}\n"},
		{name: "unclosed flow", in: "apiVersion: v1\nkind: Pod\nx: [a,\n  b]\n"},
		{name: "trailing comma", in: "apiVersion: v1\nkind: Pod\nx: [a, ]\n"},
		{name: "no apiVersion", in: "kind: Pod\n"},
		{name: "null kind", in: "apiVersion: v1\nkind:\n"},
		{name: "kind not a string", in: "apiVersion: v1\nkind: 1\n"},
		{name: "not a mapping", in: "- a\n- b\n"},
		{name: "content after the separator", in: "--- a: b\n"},
		{name: "directive", in: "%YAML 1.1\napiVersion: v1\nkind: Pod\n"},
		{name: "keys that resolve alike", in: "apiVersion: v1\nkind: Pod\ndata:\n  y: a\n  true: b\n"},
		{name: "quoted key", in: "apiVersion: v1\nkind: Pod\n\"x\": y\n"},
		{name: "broken: mapping in sequence", in: "apiVersion: v1\nkind: Pod\nx:\n  - a\n  b: c\n"},
		{name: "broken: unknown token", in: "apiVersion: v1\nkind: Pod\nx: @a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fast, total := fastMatchesGeneral(t, []byte(tt.in))
			require.Equal(t, 1, total)
			assert.Equal(t, tt.fast, fast == 1, "whether the fast path reads it")
		})
	}
}

// TestFastPathReadsTheCorpus proves the generated benchmark corpus is read by
// the fast path, document for document as the general path reads it.
func TestFastPathReadsTheCorpus(t *testing.T) {
	for _, f := range benchcorpus.Generate(1000) {
		fast, total := fastMatchesGeneral(t, f.Data)
		require.Equal(t, total, fast, "%s: every document takes the fast path", f.Name)
	}
}

// TestFastPathMatchesGeneralOnRepoManifests compares the two paths on every
// YAML file of the repository (test corpora, examples, CRDs).
func TestFastPathMatchesGeneralOnRepoManifests(t *testing.T) {
	root := filepath.Join("..", "..")
	var fast, total int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return fs.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".json")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, n := fastMatchesGeneral(t, data)
		fast += f
		total += n
		return nil
	})
	require.NoError(t, err)
	t.Logf("the fast path read %d of %d documents", fast, total)
	assert.Positive(t, fast)
}

// TestFastPathMatchesGeneralOnDir compares the two paths on every YAML and
// JSON file under $MESHGATE_YAML_DIR, when it is set: for example the Go module
// cache, which holds thousands of real manifests (Kubernetes' own test data,
// Gateway API, cert-manager, Helm):
//
//	MESHGATE_YAML_DIR=$(go env GOMODCACHE) go test ./internal/manifest -run OnDir -v
func TestFastPathMatchesGeneralOnDir(t *testing.T) {
	root := os.Getenv("MESHGATE_YAML_DIR")
	if root == "" {
		t.Skip("MESHGATE_YAML_DIR is not set")
	}
	var fast, total, files int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".json")) {
			return nil //nolint:nilerr // an unreadable folder is skipped
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil //nolint:nilerr // an unreadable file is skipped
		}
		files++
		t.Run(path, func(t *testing.T) {
			f, n := fastMatchesGeneral(t, data)
			fast += f
			total += n
		})
		return nil
	})
	require.NoError(t, err)
	t.Logf("%d files: the fast path read %d of %d documents, as the general path does", files, fast, total)
}

func FuzzFastPath(f *testing.F) {
	f.Add([]byte(helmOutput))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  spec: {a: [1, 'b', \"c\"]}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Service\nspec:\n  ports:\n  - name: http\n    port: 80\n  x:\n    - a\n    -   b: c\n        d: e\n"))
	f.Add([]byte("--- # x\napiVersion: v1\nkind: Pod\nmetadata:\n  # c\n  name: p # c\n  labels: {a: b, c: d}\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\ndata:\n  1: 0x1F\n  true: 'it''s'\n  y: 1e3\n  z: -x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fastMatchesGeneral(t, data)
	})
}

// TestMayBeIntKeepsEveryInteger proves the pre-check before strconv's integer
// parsers only refuses strings they refuse too.
func TestMayBeIntKeepsEveryInteger(t *testing.T) {
	for _, s := range []string{"0", "-7", "+7", "0x1F", "0X1f", "0o17", "0O17", "0b101", "0B1", "0755", "18446744073709551615", "-0x8000000000000000",
		"", "-", "+", "100m", "128Mi", "1.4.0", "2024-01-02", "1e3", "0x", "25%", "1_000"} {
		_, errInt := strconv.ParseInt(s, 0, 64)
		_, errUint := strconv.ParseUint(s, 0, 64)
		if errInt == nil || errUint == nil {
			assert.True(t, mayBeInt(s), "%q is an integer", s)
		}
	}
	assert.False(t, mayBeInt("100m"))
	assert.False(t, mayBeInt("1.4.0"))
}

func FuzzMayBeInt(f *testing.F) {
	f.Add("0x1F")
	f.Add("-12")
	f.Fuzz(func(t *testing.T, s string) {
		_, errInt := strconv.ParseInt(s, 0, 64)
		_, errUint := strconv.ParseUint(s, 0, 64)
		if (errInt == nil || errUint == nil) && !mayBeInt(s) {
			t.Fatalf("%q parses as an integer, but mayBeInt refuses it", s)
		}
	})
}
