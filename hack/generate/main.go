// Command generate writes what the Helm chart derives from meshgate's Go code
// (make generate): charts/meshgate/generated/rules.yaml (every webhook the
// configurations can hold, the settings they switch on, the ClusterRoles:
// webhook.Chart) and charts/meshgate/generated/in-tree.yaml (the in-tree
// policies and bindings for every mode of their rule, and how the chart writes
// the variables that carry the configuration). The chart's templates add only
// what depends on the values at install time. It also writes the coverage
// table of docs/in-tree.md (`meshgate in-tree --explain`). Tests fail while
// the files differ from what this program writes.
//
//	go run ./hack/generate [-chart charts/meshgate] [-docs docs]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/meshgate/meshgate/internal/intree"
)

func main() {
	chart := flag.String("chart", filepath.Join("charts", "meshgate"), "the chart's directory")
	docs := flag.String("docs", "docs", "the docs directory (its in-tree.md holds the coverage table)")
	flag.Parse()
	if err := write(*chart); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
	if err := writeExplain(filepath.Join(*docs, "in-tree.md")); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

// explainBlock is the coverage table's place in docs/in-tree.md.
var explainBlock = regexp.MustCompile("(?s)(<!-- explain -->\\s*```text\\n)(.*?)(```)")

// writeExplain rewrites the coverage table in the page at path with
// intree.Explain's output.
func writeExplain(path string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var table bytes.Buffer
	if err := intree.Explain(&table); err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	loc := explainBlock.FindSubmatchIndex(doc)
	if loc == nil {
		return fmt.Errorf("%s has no coverage table after <!-- explain -->", path)
	}
	out := append(append(append([]byte{}, doc[:loc[4]]...), table.Bytes()...), doc[loc[5]:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// write writes every generated file into the chart at dir, and removes any
// other file from its generated/ directory.
func write(dir string) error {
	files, err := Files()
	if err != nil {
		return err
	}
	gen := filepath.Join(dir, generatedDir)
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", gen, err)
	}
	entries, err := os.ReadDir(gen)
	if err != nil {
		return fmt.Errorf("read %s: %w", gen, err)
	}
	for _, e := range entries {
		if _, ok := files[filepath.ToSlash(filepath.Join(generatedDir, e.Name()))]; !ok {
			if err := os.RemoveAll(filepath.Join(gen, e.Name())); err != nil {
				return fmt.Errorf("remove a stale generated file: %w", err)
			}
		}
	}
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
