package check

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestWriteMutatedListItemByItem: a List's items are spliced one by one, and
// the written List differs from the input only by meshgate's changes, whatever
// the layout of its block items.
func TestWriteMutatedListItemByItem(t *testing.T) {
	svc := func(name, indent string) string {
		return strings.TrimSuffix(strings.ReplaceAll("apiVersion: v1\nkind: Service\nmetadata:\n  name: "+name+"\n  namespace: shop\nspec:\n  selector:\n    app: "+name+"\n  ports:\n  - name: rest\n    port: 80\n", "\n", "\n"+indent), indent)
	}
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n---\n"
	tests := []struct{ name, list, added string }{
		{"dashes at the key's column, comments between items, a key after the items",
			"apiVersion: v1\nkind: List\nitems:\n- " + svc("a", "  ") + "# the second one\n- " + svc("b", "  ") + "metadata:\n  resourceVersion: \"\"\n", "+      appProtocol: http"},
		{"dashes indented from the key", "apiVersion: v1\nkind: List\nitems:\n  - " + svc("a", "    ") + "  - " + svc("b", "    "), "+        appProtocol: http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := writeTree(t, map[string]string{"list.yaml": ns + tt.list})
			out := t.TempDir()
			r := runCheck(t, Options{Files: []string{in}, WriteMutated: out, Format: FormatJSON})
			require.NoError(t, r.err)
			assert.Empty(t, r.stderr, "no document is re-encoded")
			assert.Len(t, decodeJSON(t, r.stdout).Changes, 2)
			written := string(mustRead(t, filepath.Join(out, "list.yaml")))
			assert.Equal(t, []string{tt.added, tt.added}, changedLines(t, string(mustRead(t, filepath.Join(in, "list.yaml"))), written))
			again := runCheck(t, Options{Files: []string{out}, Format: FormatJSON})
			assert.Empty(t, decodeJSON(t, again.stdout).Changes, "the written List is the mutated objects")
		})
	}
}

// BenchmarkWriteMutatedList: --write-mutated on the same changed Services as
// one List and as separate documents, at two sizes: both linear.
func BenchmarkWriteMutatedList(b *testing.B) {
	for _, n := range []int{200, 800} {
		dir := b.TempDir()
		var l, d strings.Builder
		ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n"
		l.WriteString(ns + "---\napiVersion: v1\nkind: List\nitems:\n")
		d.WriteString(ns)
		for i := range n {
			doc := strings.Replace(listService(i), "port: 8080", "port: 80", 1)
			l.WriteString(listItem(doc))
			d.WriteString("---\n" + doc)
		}
		for name, s := range map[string]string{"list": l.String(), "documents": d.String()} {
			path := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		for _, name := range []string{"list", "documents"} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				for b.Loop() {
					code, err := Run(context.Background(), Options{Files: []string{filepath.Join(dir, name+".yaml")}, WriteMutated: b.TempDir(), Format: FormatJSON, Stdout: io.Discard, Stderr: io.Discard})
					if err != nil || code == ExitBadInput {
						b.Fatalf("code %d, %v", code, err)
					}
				}
			})
		}
	}
}
