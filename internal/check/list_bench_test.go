package check

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// listService is the benchmark's object i: a Service in a mesh namespace whose
// port name Istio cannot read (a finding on every object).
func listService(i int) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: shop\nspec:\n  selector:\n    app: svc-%d\n  ports:\n  - name: web-%d\n    port: 8080\n", i, i, i)
}

// listItem indents a document as an item of `items:`.
func listItem(doc string) string {
	return "- " + strings.ReplaceAll(strings.TrimSuffix(doc, "\n"), "\n", "\n  ") + "\n"
}

// listInputs writes n Services as one `kind: List` and as n documents.
func listInputs(tb testing.TB, n int) (list, docs string) {
	tb.Helper()
	dir := tb.TempDir()
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n---\n"
	var l, d strings.Builder
	l.WriteString(ns + "apiVersion: v1\nkind: List\nitems:\n")
	d.WriteString(ns)
	for i := range n {
		l.WriteString(listItem(listService(i)))
		d.WriteString("---\n" + listService(i))
	}
	list, docs = filepath.Join(dir, "list.yaml"), filepath.Join(dir, "docs.yaml")
	for p, s := range map[string]string{list: l.String(), docs: d.String()} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return list, docs
}

// BenchmarkListVsDocuments: the same Services in a `kind: List` and as
// separate documents cost about the same, at every size (a List's items are
// placed in one pass).
func BenchmarkListVsDocuments(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		list, docs := listInputs(b, n)
		for _, in := range []struct{ name, path string }{{"list", list}, {"documents", docs}} {
			b.Run(fmt.Sprintf("%s/%d", in.name, n), func(b *testing.B) {
				for b.Loop() {
					code, err := Run(context.Background(), Options{Files: []string{in.path}, Format: FormatJSON, Stdout: io.Discard, Stderr: io.Discard})
					if err != nil || code != ExitEnforce {
						b.Fatalf("code %d, %v", code, err)
					}
				}
			})
		}
	}
}

func TestListInputsAreTheSameObjects(t *testing.T) {
	list, docs := listInputs(t, 3)
	a := decodeJSON(t, runCheck(t, Options{Files: []string{list}, Format: FormatJSON}).stdout)
	b := decodeJSON(t, runCheck(t, Options{Files: []string{docs}, Format: FormatJSON}).stdout)
	if a.Summary != b.Summary || a.Summary.Objects != 4 || a.Summary.Enforce != 3 {
		t.Fatalf("list %+v, documents %+v", a.Summary, b.Summary)
	}
}
