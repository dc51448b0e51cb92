package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/meshgate/meshgate/internal/check/benchcorpus"
)

const helmOutput = `---
# Source: quote/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: quote
spec:
  ports:
    - name: http
      port: 80
---
# Source: quote/templates/empty.yaml

---
# Source: quote/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: quote
  annotations:
    proxy.istio.io/config: |
      proxyMetadata:
        OUTPUT_CERTS: /etc/istio-certs
spec:
  template:
    spec:
      containers:
        - name: quote
          env:
            - name: A
              value: "1"
            - name: B
              value: "2"
`

func TestParseStreams(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantKinds []string
		wantLines []int
		wantErrs  []int // lines of documents that fail
		wantSkips []int // indexes of documents skipped as not Kubernetes objects
	}{
		{
			name:      "helm template output with Source comments and an empty document",
			in:        helmOutput,
			wantKinds: []string{"Service", "Deployment"},
			wantLines: []int{3, 16},
		},
		{
			name:      "kustomize output without a leading separator",
			in:        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n",
			wantKinds: []string{"Namespace", "Namespace"},
			wantLines: []int{1, 6},
		},
		{
			name:      "List items become objects with their own lines",
			in:        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n",
			wantKinds: []string{"Service", "Service"},
			wantLines: []int{4, 7},
		},
		{
			name:      "JSON document",
			in:        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n  \"metadata\": {\"name\": \"a\"}\n}\n",
			wantKinds: []string{"Service"},
			wantLines: []int{1},
		},
		{
			name:      "stream of JSON values",
			in:        "{\"apiVersion\": \"v1\", \"kind\": \"Service\"}\n{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\"}\n",
			wantKinds: []string{"Service", "Pod"},
			wantLines: []int{1, 2},
		},
		{
			name:      "a broken document is reported with its line and the next one is still read",
			in:        "apiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: [Service\n---\napiVersion: v1\nkind: Pod\n",
			wantKinds: []string{"Service", "Pod"},
			wantLines: []int{1, 7},
			wantErrs:  []int{5},
		},
		{
			name:      "a mapping without apiVersion and kind (a values file) is skipped",
			in:        "foo: bar\n---\napiVersion: v1\nkind: Pod\n",
			wantKinds: []string{"Pod"},
			wantLines: []int{3},
			wantSkips: []int{1},
		},
		{
			name:      "a document with kind but no apiVersion (a Chart.yaml has only apiVersion) is skipped",
			in:        "apiVersion: v2\nname: chart\n---\nkind: bug-fix\n",
			wantSkips: []int{1, 2},
		},
		{
			name:      "a scalar or list document is skipped",
			in:        "---\njust text\n---\n[1, 2]\n",
			wantSkips: []int{1, 2},
		},
		{
			name:      "YAML that does not parse and has no top-level apiVersion and kind is skipped",
			in:        "key: [unclosed\n  kind: nested\n",
			wantSkips: []int{1},
		},
		{
			name:     "YAML that does not parse but has top-level apiVersion and kind is a broken manifest",
			in:       "apiVersion: v1\nkind: Service\nspec: [unclosed\n",
			wantErrs: []int{3},
		},
		{
			name:     "a document with apiVersion and kind that are not strings is a broken manifest",
			in:       "apiVersion: v1\nkind: [Service]\n",
			wantErrs: []int{1},
		},
		{
			name:      "comment-only and separator-only documents are skipped",
			in:        "# nothing\n---\n--- # still nothing\n---\n",
			wantKinds: nil,
		},
		{
			name:      "byte order mark and CRLF line ends",
			in:        "\xef\xbb\xbfapiVersion: v1\r\nkind: Pod\r\n---\r\napiVersion: v1\r\nkind: Service\r\n",
			wantKinds: []string{"Pod", "Service"},
			wantLines: []int{1, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kinds []string
			var lines, errLines, skips []int
			for _, d := range Parse("in.yaml", []byte(tt.in)) {
				if d.Skipped != "" {
					skips = append(skips, d.Index)
					assert.Contains(t, d.Skipped, "not a Kubernetes object")
					assert.Nil(t, d.Err)
					continue
				}
				if d.Err != nil {
					errLines = append(errLines, d.Err.Line)
					assert.Contains(t, d.Err.Error(), "in.yaml:")
					continue
				}
				for _, o := range d.Objects {
					kinds = append(kinds, o.Object.GetKind())
					lines = append(lines, o.Line)
				}
			}
			assert.Equal(t, tt.wantKinds, kinds)
			assert.Equal(t, tt.wantLines, lines)
			assert.Equal(t, tt.wantErrs, errLines)
			assert.Equal(t, tt.wantSkips, skips)
		})
	}
}

func TestLineOf(t *testing.T) {
	docs := Parse("h.yaml", []byte(helmOutput))
	var dep *Object
	for _, d := range docs {
		for _, o := range d.Objects {
			if o.Object.GetKind() == "Deployment" {
				dep = o
			}
		}
	}
	require.NotNil(t, dep)
	tests := []struct {
		path string
		want int
	}{
		{"", 16},
		{"metadata", 18},
		{"metadata.annotations[proxy.istio.io/config]", 21},
		{"metadata.annotations[sidecar.istio.io/inject]", 20},
		{"spec.template.spec.containers[0]", 28},
		{"spec.template.spec.containers[0].env[1].value", 33},
		{"spec.template.spec.containers[0].env[7]", 29},
		{"spec.template.spec.volumes[0].emptyDir", 26},
		{"spec.template.spec.containers[3]", 27},
		{"nosuch.field[x]", 16},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, dep.LineOf(tt.path))
		})
	}
}

func TestLineOfKeysWithDotsAndBrackets(t *testing.T) {
	in := "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    a.b/c: x\n    'we[i]rd': y\n  name: p\n"
	o := Parse("p.yaml", []byte(in))[0].Objects[0]
	assert.Equal(t, 5, o.LineOf("metadata.labels[a.b/c]"))
	assert.Equal(t, 6, o.LineOf("metadata.labels[we[i]rd]"))
	assert.Equal(t, 5, o.LineOf("metadata.labels.a.b/c"), "a dotted key written as a plain name")
	assert.Equal(t, 7, o.LineOf("metadata.name"))
}

// TestDecodeMatchesKubectl proves the node-tree decoder gives the same objects as
// kubectl's decoder (sigs.k8s.io/yaml via apimachinery) for the scalars that
// differ between YAML 1.1 and 1.2 and for anchors and merge keys.
func TestDecodeMatchesKubectl(t *testing.T) {
	docs := map[string]string{
		"scalars": `apiVersion: v1
kind: ConfigMap
metadata: {name: s}
data:
  int: 42
  neg: -7
  hex: 0x1F
  float: 1.5
  integral-float: 2.0
  exp: 1e3
  big: 18446744073709551615
  yes: yes
  on: off
  tilde: ~
  empty:
  quoted: "42"
  single: 'true'
  date: 2024-01-02
  version: 1.10
  octal: 0755
  str: hello world
  block: |
    line one
    line two
  folded: >
    folded
    text
`,
		"anchors and merge keys": `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: &labels
    app: web
    tier: front
  annotations:
    <<: *labels
    tier: back
data:
  copy: *labels
`,
		"flow style": `{apiVersion: v1, kind: Service, metadata: {name: f}, spec: {ports: [{port: 80, name: http}]}}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var want map[string]any
			require.NoError(t, utilyaml.Unmarshal([]byte(doc), &want))
			got, err := Decode("x.yaml", strings.NewReader(doc))
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, want, got[0].Object)
		})
	}
}

func TestDecodeStopsAtFirstError(t *testing.T) {
	objs, err := Decode("s.yaml", strings.NewReader("apiVersion: v1\nkind: Pod\n---\n: : :\n"))
	require.Error(t, err)
	var me *Error
	require.True(t, errors.As(err, &me))
	assert.Equal(t, "s.yaml", me.Source)
	assert.Equal(t, 2, me.Doc)
	assert.Len(t, objs, 1)
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	d := Parse("bomb.yaml", []byte(b.String()))
	require.Len(t, d, 1)
	require.NotNil(t, d[0].Err)
	assert.Contains(t, d[0].Err.Error(), "aliases expand")
}

func TestSplitKeepsBytes(t *testing.T) {
	in := "a: 1\n---\nb: 2\n--- # c\nc: 3\n---x: not a separator\n"
	var joined []byte
	for _, c := range Split([]byte(in)) {
		joined = append(joined, c.Raw...)
	}
	assert.Equal(t, in, string(joined))
	assert.Len(t, Split([]byte(in)), 3)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(helmOutput))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n"))
	f.Add([]byte("{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}{\"a\":1}"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\n<<: {a: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range Parse("f.yaml", data) {
			for _, o := range d.Objects {
				_ = o.LineOf("metadata.annotations[x]")
				_ = o.LineOf("spec.containers[0].env[1]")
				_ = o.LineOf(string(data))
			}
		}
	})
}

// BenchmarkParse parses the generated benchmark corpus's files (about 1,000
// mixed objects).
func BenchmarkParse(b *testing.B) {
	files := benchcorpus.Generate(1000)
	var size int64
	for _, f := range files {
		size += int64(len(f.Data))
	}
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		for _, f := range files {
			Parse(f.Name, f.Data)
		}
	}
}

func TestTemplatesAndByteOrderMarksPerDocument(t *testing.T) {
	stream := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: injector\ndata:\n  t: |\n    {{- if .Values.x }}\n    a: {{ .A }}\n    {{- end }}\n" + // 1-9
		"---\nkind: Service\napiVersion: v1\nmetadata:\n  name: {{ .Release.Name }}\n" + // 10-14
		"---\n\xef\xbb\xbfapiVersion: v1\nkind: Service\nmetadata:\n  name: bom\n" + // 15-19
		"---\n{{ .Values.x }}\n" + // 20-21
		"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: [broken\n" // 22-
	docs := Parse("s.yaml", []byte(stream))
	require.Len(t, docs, 5)

	require.Len(t, docs[0].Objects, 1, "template text in a block scalar is data")
	assert.Equal(t, "{{- if .Values.x }}\na: {{ .A }}\n{{- end }}\n", docs[0].Objects[0].Object.Object["data"].(map[string]any)["t"])

	assert.Nil(t, docs[1].Err, "a document that does not read and has a template action is a template, not an error")
	assert.Contains(t, docs[1].Skipped, "a Helm or Go template")
	assert.Equal(t, 14, docs[1].Template)

	require.Len(t, docs[2].Objects, 1, "a byte order mark after --- is dropped")
	assert.Equal(t, "bom", docs[2].Objects[0].Object.GetName())
	assert.Equal(t, 16, docs[2].Objects[0].Line)

	assert.Equal(t, 21, docs[3].Template, "a template that reads as YAML but is no object")

	require.NotNil(t, docs[4].Err, "a broken manifest without a template action is still an error")
	assert.Equal(t, 26, docs[4].Err.Line)
	assert.Zero(t, docs[4].Template)
}
