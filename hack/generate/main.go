// Command generate writes what the Helm chart derives from meshgate's Go code
// (make generate): charts/meshgate/generated/rules.yaml (every webhook the
// configurations can hold, the settings they switch on, the ClusterRoles:
// webhook.Chart) and charts/meshgate/generated/in-tree.yaml (the in-tree
// policies and bindings for every mode of their rule, and how the chart writes
// the variables that carry the configuration). The chart's templates add only
// what depends on the values at install time. A test fails while the files in
// the chart differ from what this program writes.
//
//	go run ./hack/generate [-chart charts/meshgate]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	chart := flag.String("chart", filepath.Join("charts", "meshgate"), "the chart's directory")
	flag.Parse()
	if err := write(*chart); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
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
