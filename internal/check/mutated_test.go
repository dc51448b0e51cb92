package check

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/test/golden"
)

// vendorDeployment is shaped like a vendor's install manifest: 4-space
// indents, an indented sequence style, comments (inline and on their own
// line), flow mappings and sequences, quoted scalars.
const vendorDeployment = `# Emissary-ingress, the way a vendor ships it.
apiVersion: apps/v1
kind: Deployment
metadata:
    name: edge   # the edge proxy
    namespace: emissary
spec:
    replicas: 2
    selector:
        matchLabels: {product: aes, profile: main}
    template:
        metadata:
            labels:
                product: aes     # chart label
                profile: main
        spec:
            containers:
                -   name: ambassador
                    image: "emissary:3.9"
                    env:
                        - {name: AMBASSADOR_ID, value: default}
                    ports: [{name: http, containerPort: 8080}]
            # volumes follow
---
apiVersion: v1
kind: Service
metadata: {name: quote, namespace: shop}
spec:
    selector: {app: quote}
    ports:
        - {port: 80, targetPort: 8080}   # web
        - port: 443
          targetPort: 8443
---
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata:
    name: quote
    namespace: emissary
spec:
    prefix: /quote/
    service: quote.shop   # the backend
`

const spliceWorld = `apiVersion: v1
kind: Namespace
metadata: {name: emissary, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: getambassador.io/v3alpha1
kind: TLSContext
metadata: {name: istio-upstream, namespace: emissary}
spec: {secret: istio-certs, alpn_protocols: istio}
`

// changedLines are the + and - lines of the unified diff from a to b.
func changedLines(t *testing.T, a, b string) []string {
	t.Helper()
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(a), B: difflib.SplitLines(b), Context: 0})
	require.NoError(t, err)
	var out []string
	for _, l := range strings.SplitAfter(d, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return out
}

func TestWriteMutatedChangesOnlyWhatMeshgateChanges(t *testing.T) {
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	tests := []struct {
		name string
		in   string
		want []string // the diff's + and - lines; nil: byte for byte the same
	}{
		{
			name: "a vendor-shaped manifest with CRLF line ends keeps its indentation, flow style, comments and line ends",
			in:   crlf(vendorDeployment),
			want: []string{
				"+            annotations:\r",
				`+                proxy.istio.io/config: "proxyMetadata:\n  OUTPUT_CERTS: /etc/istio-certs\n"` + "\r",
				`+                sidecar.istio.io/userVolumeMount: '{"istio-certs":{"mountPath":"/etc/istio-certs"}}'` + "\r",
				`+                traffic.sidecar.istio.io/includeInboundPorts: ""` + "\r",
				`+                traffic.sidecar.istio.io/includeOutboundIPRanges: ""` + "\r",
				"+                        - name: AMBASSADOR_ISTIO_SECRET_DIR\r",
				"+                          value: /etc/istio-certs\r",
				"+                        - name: AMBASSADOR_ENVOY_BASE_ID\r",
				`+                          value: "1"` + "\r",
				"+                    volumeMounts:\r",
				"+                        - name: istio-certs\r",
				"+                          readOnly: true\r",
				"+                          mountPath: /etc/istio-certs\r",
				"+            volumes:\r",
				"+                - name: istio-certs\r",
				"+                  emptyDir:\r",
				"+                      medium: Memory\r",
				"-        - {port: 80, targetPort: 8080}   # web\r",
				"+        - {port: 80, targetPort: 8080, name: http}   # web\r",
				"+          name: https\r",
				"-    service: quote.shop   # the backend\r",
				"+    service: quote.shop:80   # the backend\r",
				"+    tls: istio-upstream\r",
			},
		},
		{
			name: "a stream of JSON values: the unchanged one is untouched, the changed one keeps its layout",
			in:   "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\", \"namespace\": \"shop\"}}\n{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Service\",\n    \"metadata\": {\"name\": \"api\", \"namespace\": \"shop\"},\n    \"spec\": {\n        \"selector\": {\"app\": \"api\"},\n        \"ports\": [\n            {\"port\": 80}\n        ]\n    }\n}\n",
			want: []string{
				`-            {"port": 80}`,
				`+            {"port": 80, "name": "http"}`,
			},
		},
		{
			name: "a changed file without a final line end keeps it that way",
			in:   "apiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: tail\r\n  namespace: shop\r\nspec:\r\n  selector: {app: tail}\r\n  ports:\r\n  - port: 80",
			want: []string{"-  - port: 80", "+  - port: 80\r", "+    name: http"},
		},
		{
			name: "an unchanged file without a final line end is copied byte for byte",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:   {name: keep}\ndata:\n    a:    \"1\"",
		},
		{
			name: "an unchanged file with a byte order mark and CRLF is copied byte for byte",
			in:   "\xef\xbb\xbfapiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: bom}\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"in/manifest.yaml": tt.in, "world.yaml": spliceWorld})
			out := filepath.Join(dir, "out")
			var stderr strings.Builder
			r := runCheck(t, Options{Files: []string{filepath.Join(dir, "in")}, WorldFiles: []string{filepath.Join(dir, "world.yaml")}, WriteMutated: out, Stderr: &stderr})
			require.NoError(t, r.err)
			require.Equal(t, ExitOK, r.code, r.stderr)
			assert.NotContains(t, r.stderr, "re-encoded")
			got, err := os.ReadFile(filepath.Join(out, "manifest.yaml"))
			require.NoError(t, err)
			if tt.want == nil {
				assert.Equal(t, tt.in, string(got))
				return
			}
			assert.Equal(t, tt.want, changedLines(t, tt.in, string(got)))
		})
	}
}

// TestSpliceGoldenCorpus: every mutation of the golden corpus is spliced into
// its input document (no fallback to re-encoding), and reads back as the
// engine's mutated object.
func TestSpliceGoldenCorpus(t *testing.T) {
	cases, err := golden.Load(golden.CorpusDir())
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			o := Options{Files: []string{filepath.Join(c.Dir, "input.yaml")}, KeepObjects: true}
			o.WorldFiles = c.WorldFiles
			if cfg := filepath.Join(c.Dir, "config.yaml"); exists(cfg) {
				o.ConfigFile = cfg
			}
			var stderr strings.Builder
			o.Stdout, o.Stderr = &strings.Builder{}, &stderr
			require.NoError(t, o.defaults())
			res, err := Check(context.Background(), &o)
			require.NoError(t, err)
			byObj := map[*manifest.Object]*Reviewed{}
			for _, r := range res.Objects {
				byObj[r.Object] = r
			}
			for _, f := range res.Files {
				for _, d := range f.Docs {
					if d.Err != nil || !docChanged(d, byObj) {
						continue
					}
					out, err := spliceDoc(d, byObj)
					require.NoError(t, err)
					assert.True(t, sameObjects(d, out, finalObjects(d, byObj)), "spliced:\n%s", out)
				}
			}
		})
	}
}
