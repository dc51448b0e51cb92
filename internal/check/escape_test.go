package check

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClean(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text is kept", "Service shop/web: port 80", "Service shop/web: port 80"},
		{"tabs and non-ASCII letters are kept", "a\tb é 名", "a\tb é 名"},
		{"ESC, CR, BEL and newline are escaped", "x\x1b[2K\rok\a\n", `x\x1b[2K\rok\a\n`},
		{"DEL and C1 controls are escaped", "a\x7fb\u009bc", `a\x7fb\u009bc`},
		{"invalid UTF-8 is escaped", "a\xffb", `a\xffb`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, clean(tt.in)) })
	}
}

// TestControlBytesNeverReachTheOutput: a manifest whose names hold terminal
// control sequences (and a file name that does) cannot rewrite the CI log:
// every format, the diffs and standard error show them escaped.
func TestControlBytesNeverReachTheOutput(t *testing.T) {
	crafted := "\x1b[1A\x1b[2K\rall checks passed\a"
	dir := writeTree(t, map[string]string{
		"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n",
		"svc" + crafted + ".yaml": `apiVersion: v1
kind: Service
metadata:
  name: "denied\e[1A\e[2K\rall checks passed\a"
  namespace: shop
spec:
  selector:
    app: a
  ports:
  - name: rest
    port: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: "changed\e]0;title\a\r"
  namespace: shop
spec:
  selector:
    app: b
  ports:
  - name: rest
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: [broken
`,
	})
	for _, format := range []string{FormatText, FormatJUnit, FormatSARIF} {
		t.Run(format, func(t *testing.T) {
			r := runCheck(t, Options{Files: []string{dir}, Format: format, Diff: format == FormatText, WorkDir: dir})
			require.NoError(t, r.err)
			assert.Equal(t, ExitBadInput, r.code)
			for name, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
				for _, c := range []string{"\x1b", "\r", "\a"} {
					assert.NotContains(t, out, c, "%s holds a raw %q:\n%s", name, c, out)
				}
			}
			if format != FormatSARIF {
				assert.Contains(t, r.stdout, `denied\x1b[1A\x1b[2K\rall checks passed\a`)
			} else {
				assert.Contains(t, r.stdout, `denied\\x1b[1A\\x1b[2K\\rall checks passed\\a`, "escaped, then JSON-quoted")
			}
			assert.Contains(t, r.stderr, filepath.Join(dir, `svc\x1b[1A\x1b[2K\rall checks passed\a.yaml`)+":28: document 3")
			if format == FormatText {
				assert.Contains(t, r.stdout, `+++ b/`+filepath.Join(dir, `svc\x1b[1A`))
				assert.Contains(t, r.stdout, `(Service shop/changed\x1b]0;title\a\r)`)
				assert.True(t, strings.HasSuffix(r.stdout, "\n"))
			}
		})
	}
}
