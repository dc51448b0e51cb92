// Package schematest validates the machine-readable reports of `meshgate
// check` against their published formats (SARIF 2.1.0, GitLab Code Quality),
// for the tests of every package that writes or runs them. The schemas are in
// internal/check/testdata (see testdata/sarif/README.md for where each came
// from).
package schematest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// Schemas, as Validate takes them.
var (
	// SARIF are the official SARIF 2.1.0 schemas: the OASIS standard's and
	// the one GitHub code scanning documents.
	SARIF = []string{schemaPath("sarif", "sarif-schema-2.1.0.json"), schemaPath("sarif", "sarif-2.1.0-rtm.5.json")}
	// GitLab is GitLab's Code Quality report format, written from GitLab's
	// documentation.
	GitLab = schemaPath("gitlab", "codequality.schema.json")
)

func schemaPath(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", "testdata"}, elem...)...)
}

var compiled sync.Map // path -> *jsonschema.Schema

// Validate reports whether doc, one JSON document, validates against the
// schema at path (compiled once per process).
func Validate(t testing.TB, path string, doc []byte) error {
	t.Helper()
	s, ok := compiled.Load(path)
	if !ok {
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		schema, err := jsonschema.UnmarshalJSON(f)
		require.NoError(t, err)
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		url := "file:///" + filepath.Base(path)
		require.NoError(t, c.AddResource(url, schema))
		s, err = c.Compile(url)
		require.NoError(t, err)
		compiled.Store(path, s)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not one JSON document: %w", err)
	}
	return s.(*jsonschema.Schema).Validate(inst)
}

// ValidateSARIF fails t unless out validates against every SARIF schema.
func ValidateSARIF(t testing.TB, out []byte) {
	t.Helper()
	for _, path := range SARIF {
		require.NoError(t, Validate(t, path, out), "SARIF output must validate against %s", filepath.Base(path))
	}
}

// ValidateGitLab fails t unless out validates against GitLab's Code Quality
// format.
func ValidateGitLab(t testing.TB, out []byte) {
	t.Helper()
	require.NoError(t, Validate(t, GitLab, out), "the report must validate against GitLab's format:\n%s", out)
}
