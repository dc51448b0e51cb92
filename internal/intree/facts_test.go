package intree_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What meshgate knows of Istio and Emissary is declared once, as the
// package-level values of internal/istio and internal/emissary; the CEL of
// the in-tree policies renders those values. These are the files that write
// CEL: this package and every *_intree.go.
var celFiles = []string{"*.go", "../../mutators/*_intree.go", "../../validators/*_intree.go", "../istio/*_intree.go", "../emissary/*_intree.go"}

// TestCELCopiesNoIstioOrEmissaryFact fails when CEL source holds a literal,
// or a quoted CEL string or a number inside one, equal to a string or number
// that internal/istio or internal/emissary declares at package level (a
// port, a label value, a protocol name, a flag, a namespace...): render the
// declared value instead. "true" and "false" are left out: CEL compares
// with them for many unrelated reasons, and so are the coincidences.
func TestCELCopiesNoIstioOrEmissaryFact(t *testing.T) {
	facts := map[string]string{}
	for _, dir := range []string{"../istio", "../emissary"} {
		for _, f := range parseGlob(t, filepath.Join(dir, "*.go")) {
			if strings.HasSuffix(f.name, "_test.go") || strings.HasSuffix(f.name, "_intree.go") {
				continue
			}
			for _, d := range f.file.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
					continue
				}
				ast.Inspect(g, func(n ast.Node) bool {
					if v, ok := literal(n); ok && fact(v) {
						facts[v] = f.fset.Position(n.Pos()).String()
					}
					return true
				})
			}
		}
	}
	require.Contains(t, facts, "8877", "the facts include Emissary's admin port")
	require.Contains(t, facts, "--istio-inbound-ports", "the facts include istio-init's flags")

	quoted := regexp.MustCompile(`'([^'\\]*)'|\b(\d+)\b`)
	checked := 0
	for _, pattern := range celFiles {
		for _, f := range parseGlob(t, pattern) {
			if strings.HasSuffix(f.name, "_test.go") {
				continue
			}
			checked++
			ast.Inspect(f.file, func(n ast.Node) bool {
				v, ok := literal(n)
				if !ok {
					return true
				}
				found := []string{v}
				if lit := n.(*ast.BasicLit); lit.Kind == token.STRING {
					for _, m := range quoted.FindAllStringSubmatch(v, -1) {
						found = append(found, m[1]+m[2])
					}
				}
				for _, s := range found {
					if at, ok := facts[s]; ok && fact(s) {
						assert.Fail(t, "a copied fact", "%s: %q is declared at %s: render that value", f.fset.Position(n.Pos()), s, at)
					}
				}
				return true
			})
		}
	}
	assert.Greater(t, checked, 8, "the CEL sources were found")
}

// coincidences are words the CEL writes for what they mean in Kubernetes'
// API, which a value of internal/istio or internal/emissary happens to
// spell the same way.
var coincidences = map[string]string{
	"TCP":         "a ServicePort's protocol (istio.TCP is spelt the same)",
	"UDP":         "a ServicePort's protocol (istio.UDP is spelt the same)",
	"name":        "a ServicePort's field (istio.FromName is spelt the same)",
	"appProtocol": "a ServicePort's field (istio.FromAppProtocol is spelt the same)",
	"http":        "a VirtualService's field (emissary.SchemeHTTP is spelt the same)",
	"yes":         "a column of the coverage table",
}

// fact reports whether a literal value can be a fact worth guarding: a
// number from 10 on, or a word of two characters or more with a letter or
// digit in it, but a boolean's name or a coincidence.
func fact(v string) bool {
	if n, err := strconv.Atoi(v); err == nil {
		return n >= 10
	}
	_, coincidence := coincidences[v]
	return len(v) > 1 && alnum.MatchString(v) && v != "true" && v != "false" && !coincidence
}

var alnum = regexp.MustCompile(`[A-Za-z0-9]`)

// literal is the value of a string or int literal.
func literal(n ast.Node) (string, bool) {
	lit, ok := n.(*ast.BasicLit)
	if !ok {
		return "", false
	}
	switch lit.Kind {
	case token.STRING:
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil
	case token.INT:
		return lit.Value, true
	}
	return "", false
}

type parsed struct {
	name string
	fset *token.FileSet
	file *ast.File
}

func parseGlob(t *testing.T, pattern string) []parsed {
	t.Helper()
	names, err := filepath.Glob(pattern)
	require.NoError(t, err)
	var out []parsed
	for _, name := range names {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		out = append(out, parsed{name: name, fset: fset, file: f})
	}
	return out
}
