// Package golden holds meshgate's golden corpus and the code every front door
// uses to run it: the engine, the admission server and `meshgate check` are each
// tested against the same cases and the same expected verdicts.
//
// A case is a directory under testdata/ holding
//
//	input.yaml   the objects reviewed, one review each
//	case.yaml    optional: `world: <name>`, a World the case shares with
//	             others, worlds/<name>.yaml
//	world.yaml   optional: more objects for the World, the case's own (the
//	             inputs are in it too)
//	config.yaml  optional: meshgate configuration (defaults otherwise)
//	want.yaml    the expected verdicts: generated, never edited by hand
//
// Regenerate every want.yaml with `make golden` (UPDATE_GOLDEN=1 go test ./test/golden/).
package golden

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

// UpdateEnv is the environment variable that makes the golden tests rewrite
// want.yaml instead of comparing with it.
const UpdateEnv = "UPDATE_GOLDEN"

// Case is one golden case.
type Case struct {
	Name   string
	Dir    string
	Inputs []*unstructured.Unstructured
	// World holds the objects of WorldFiles.
	World []*unstructured.Unstructured
	// WorldFiles are the files the World is read from besides the inputs:
	// the shared world the case names, then its own world.yaml.
	WorldFiles []string
	Config     *policy.Config
}

// caseFile is a case's case.yaml.
type caseFile struct {
	// World names a shared World: worlds/<name>.yaml.
	World string `json:"world"`
}

// Verdict is the expected outcome of reviewing one input object.
type Verdict struct {
	Object   policy.ObjectRef `json:"object"`
	Changes  []Change         `json:"changes,omitempty"`
	Findings []Finding        `json:"findings,omitempty"`
	// Mutated is the final object when a mutation changed it.
	Mutated map[string]any `json:"mutated,omitempty"`
}

// Change is a policy.Change without the repeated object.
type Change struct {
	Rule   string `json:"rule"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Finding is a policy.Finding without the repeated object.
type Finding struct {
	Rule    string      `json:"rule"`
	Mode    policy.Mode `json:"mode"`
	Field   string      `json:"field"`
	Message string      `json:"message"`
}

// CorpusDir is the absolute path of the corpus (testdata/ beside this file), so
// tests in any package find it.
func CorpusDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata")
}

// worldsDir holds the Worlds cases share (worlds/ beside this file).
func worldsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "worlds")
}

// Load reads every case under dir, sorted by name.
func Load(dir string) ([]Case, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read golden corpus: %w", err)
	}
	var cases []Case
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := LoadCase(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases, nil
}

// LoadCase reads one case directory.
func LoadCase(dir string) (Case, error) {
	c := Case{Name: filepath.Base(dir), Dir: dir}
	var err error
	if c.Inputs, err = readObjects(filepath.Join(dir, "input.yaml"), true); err != nil {
		return c, err
	}
	if len(c.Inputs) == 0 {
		return c, fmt.Errorf("%s: input.yaml holds no object", dir)
	}
	if c.WorldFiles, err = worldFiles(dir); err != nil {
		return c, err
	}
	for _, f := range c.WorldFiles {
		objs, err := readObjects(f, true)
		if err != nil {
			return c, err
		}
		c.World = append(c.World, objs...)
	}
	if c.Config, err = policy.LoadConfig(optional(filepath.Join(dir, "config.yaml"))); err != nil {
		return c, err
	}
	return c, nil
}

// worldFiles are the World files of the case in dir: the shared World its
// case.yaml names, then its world.yaml.
func worldFiles(dir string) ([]string, error) {
	var out []string
	data, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	switch {
	case err == nil:
		var cf caseFile
		if err := yaml.UnmarshalStrict(data, &cf); err != nil {
			return nil, fmt.Errorf("%s: case.yaml: %w", dir, err)
		}
		if cf.World == "" {
			return nil, fmt.Errorf("%s: case.yaml names no world", dir)
		}
		out = append(out, filepath.Join(worldsDir(), cf.World+".yaml"))
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("golden: %w", err)
	}
	if own := optional(filepath.Join(dir, "world.yaml")); own != "" {
		out = append(out, own)
	}
	return out, nil
}

func optional(path string) string {
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

func readObjects(path string, required bool) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		if !required && os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("golden: %w", err)
	}
	defer f.Close()
	return manifest.Decode(path, f)
}

// BuildWorld returns the case's World: its World files' objects plus the
// inputs.
func (c Case) BuildWorld() (*world.Memory, error) {
	w := world.NewMemory("default")
	for _, o := range append(append([]*unstructured.Unstructured{}, c.World...), c.Inputs...) {
		if _, err := w.Add(o); err != nil {
			return nil, fmt.Errorf("%s: world: %w", c.Name, err)
		}
	}
	return w, nil
}

// WantPath is the case's want.yaml.
func (c Case) WantPath() string { return filepath.Join(c.Dir, "want.yaml") }

// Want reads the expected verdicts.
func (c Case) Want() ([]Verdict, error) {
	data, err := os.ReadFile(c.WantPath())
	if err != nil {
		return nil, fmt.Errorf("%s: %w (generate it with `make golden`)", c.Name, err)
	}
	var v []Verdict
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return nil, fmt.Errorf("%s: want.yaml: %w", c.Name, err)
	}
	return v, nil
}

// VerdictOf turns an engine result into a Verdict.
func VerdictOf(ref policy.ObjectRef, res *engine.Result) Verdict {
	v := Verdict{Object: ref}
	for _, ch := range res.Changes {
		v.Changes = append(v.Changes, Change{Rule: ch.Rule, Field: ch.Field, Reason: ch.Reason})
	}
	for _, f := range res.Findings {
		v.Findings = append(v.Findings, Finding{Rule: f.Rule, Mode: f.Mode, Field: f.Field, Message: f.Message})
	}
	if res.Changed() {
		v.Mutated = res.Object.Object
	}
	return v
}

// RefOf names an input object the way verdicts do.
func RefOf(u *unstructured.Unstructured) policy.ObjectRef {
	return policy.ObjectRef{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// Run reviews every input of c with the engine and returns the verdicts.
func (c Case) Run() ([]Verdict, []*engine.Result, error) {
	w, err := c.BuildWorld()
	if err != nil {
		return nil, nil, err
	}
	e := engine.New(c.Config)
	var verdicts []Verdict
	var results []*engine.Result
	for _, in := range c.Inputs {
		res, err := e.Review(context.Background(), engine.Input{Object: in}, w)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		verdicts = append(verdicts, VerdictOf(RefOf(in), res))
		results = append(results, res)
	}
	return verdicts, results, nil
}

// Marshal renders verdicts as want.yaml does.
func Marshal(v []Verdict) ([]byte, error) {
	// Round-trip through JSON so numbers and maps render the same whether they
	// came from the engine or from want.yaml.
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Generated by `make golden`: do not edit.\n"), y...), nil
}

// Check compares got with the case's want.yaml, or rewrites want.yaml when
// UPDATE_GOLDEN is set. It returns a readable error when they differ.
func (c Case) Check(got []Verdict) error {
	gotYAML, err := Marshal(got)
	if err != nil {
		return err
	}
	if os.Getenv(UpdateEnv) != "" {
		return os.WriteFile(c.WantPath(), gotYAML, 0o644)
	}
	want, err := c.Want()
	if err != nil {
		return err
	}
	wantYAML, err := Marshal(want)
	if err != nil {
		return err
	}
	if !bytes.Equal(gotYAML, wantYAML) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(wantYAML)), B: difflib.SplitLines(string(gotYAML)),
			FromFile: c.WantPath(), ToFile: "got", Context: 3,
		})
		return fmt.Errorf("%s: verdicts differ from want.yaml (run `make golden` if the change is intended):\n%s", c.Name, diff)
	}
	return nil
}

// MinCases is the least number of cases the corpus holds.
const MinCases = 30

// ForEach runs fn as a subtest, named after the case, for every case of the
// corpus, with the case's want.yaml read; the corpus must hold at least
// MinCases cases. It is the one loop over the corpus that every front door's
// golden test uses.
func ForEach(t *testing.T, fn func(t *testing.T, c Case, want []Verdict)) {
	t.Helper()
	cases, err := Load(CorpusDir())
	if err != nil {
		t.Fatalf("load the golden corpus: %v", err)
	}
	if len(cases) < MinCases {
		t.Fatalf("the golden corpus holds %d cases, want at least %d", len(cases), MinCases)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, err := c.Want()
			if err != nil && os.Getenv(UpdateEnv) == "" {
				t.Fatalf("%s: %v", c.WantPath(), err)
			}
			fn(t, c, want)
		})
	}
}
