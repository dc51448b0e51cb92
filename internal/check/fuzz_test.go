package check

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshgate/meshgate/internal/manifest"
)

// FuzzCheck feeds arbitrary bytes to `meshgate check -f -` in an output format
// chosen by the fuzzer, with --diff and --write-mutated -: it must never panic,
// must exit 0, 1 or 2, the JSON report must always be one valid document, and the
// mutated stream must always parse again.
func FuzzCheck(f *testing.F) {
	for _, seed := range []string{
		"testdata/scenario/emissary.yaml", "testdata/scenario/shop.yaml", "testdata/scenario/namespaces.yaml",
		"testdata/cli/broken/bad.yaml", "testdata/cli/list/list.yaml", "testdata/cli/nested/cm.json",
	} {
		data, err := os.ReadFile(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(len(data)))
	}
	scenario, _ := os.ReadFile("testdata/scenario/namespaces.yaml")
	emissary, _ := os.ReadFile("testdata/scenario/emissary.yaml")
	for i := range Formats {
		f.Add(append(append(scenario, "\n---\n"...), emissary...), uint8(i))
	}
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {service: ambassador}}\nspec: {containers: [{name: c, env: 3}]}\n"), uint8(1))
	f.Add([]byte("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{\"template\":[]}}"), uint8(2))

	f.Fuzz(func(t *testing.T, data []byte, formatIndex uint8) {
		format := Formats[int(formatIndex)%len(Formats)]
		var stdout, stderr bytes.Buffer
		o := Options{Files: []string{"-"}, Stdin: bytes.NewReader(data), Stdout: &stdout, Stderr: &stderr,
			Format: format, Diff: true, WriteMutated: "-", OutputFile: filepath.Join(t.TempDir(), "report"), Workers: 2}
		code, err := Run(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if code < 0 || code > 2 {
			t.Fatalf("%s: exit %d", format, code)
		}
		if code != ExitBadInput {
			for _, d := range manifest.Parse("out", stdout.Bytes()) {
				if d.Err != nil {
					t.Fatalf("the mutated stream does not parse: %v\n%s", d.Err, stdout.String())
				}
			}
		}
		if format == FormatJSON {
			report, err := os.ReadFile(o.OutputFile)
			if err != nil {
				t.Fatal(err)
			}
			var r JSONReport
			if err := json.Unmarshal(report, &r); err != nil {
				t.Fatalf("JSON report: %v", err)
			}
		}
	})
}
