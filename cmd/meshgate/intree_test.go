package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/intree"
)

// TestDocsCoverageTableIsExplain keeps docs/in-tree.md's coverage table
// (written by make generate) equal to `meshgate in-tree --explain`.
func TestDocsCoverageTableIsExplain(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"in-tree", "--explain"})
	require.NoError(t, cmd.Execute())
	doc, err := os.ReadFile("../../docs/in-tree.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- explain -->\\s*```text\\n(.*?)```").FindSubmatch(doc)
	require.NotNil(t, m, "docs/in-tree.md must hold the explain table after <!-- explain -->")
	assert.Equal(t, out.String(), string(m[1]), "docs/in-tree.md's coverage table is stale: run `make generate`")
}

func TestInTreeWritesOneFilePerRuleOrAStream(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "meshgate.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("rules: {service-port-name: warn}\n"), 0o644))

	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"in-tree", "--config", cfg, "--namespace", "meshgate-system", "--service-account", "meshgate"})
	require.NoError(t, cmd.Execute())
	docs := strings.Split(out.String(), "\n---\n")
	kinds := map[string]int{}
	for _, d := range docs[1:] {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				ValidationActions []string `json:"validationActions"`
			} `json:"spec"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(d), &obj))
		kinds[obj.Kind]++
		if obj.Kind == "ValidatingAdmissionPolicyBinding" {
			want := "Deny"
			if obj.Metadata.Name == "service-port-name.meshgate.io" || intree.IsExistingTwin(obj.Metadata.Name) {
				want = "Warn"
			}
			assert.Equal(t, []string{want}, obj.Spec.ValidationActions, "%s: a rule in warn mode is bound with Warn, in enforce with Deny; a policy about what an UPDATE keeps with Warn", obj.Metadata.Name)
		}
	}
	assert.Equal(t, map[string]int{
		"ValidatingAdmissionPolicy": 6, "ValidatingAdmissionPolicyBinding": 6,
		"MutatingAdmissionPolicy": 2, "MutatingAdmissionPolicyBinding": 2,
	}, kinds, "the VAPs of service-port-name, mapping-tls-context and virtualservice-gateway-ref, each with its -existing twin; the MAPs of service-port-protocol and edge-proxy-istio-certs")
	assert.Contains(t, out.String(), "system:serviceaccount:meshgate-system:meshgate")

	out.Reset()
	cmd = newRootCommand()
	cmd.SetArgs([]string{"in-tree", "--static", "-o", filepath.Join(dir, "out")})
	require.NoError(t, cmd.Execute())
	for _, f := range []string{"service-port-name.yaml", "service-port-protocol.yaml", "edge-proxy-istio-certs.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, "out", f))
		require.NoError(t, err)
		assert.Contains(t, string(data), ".meshgate.static.k8s.io", f)
	}
}

// TestPoliciesIsTheDeprecatedNameOfInTree: `meshgate policies`, the command's
// name in 0.1.0, still writes the same policies, says it is deprecated, and is
// not listed in the help.
func TestPoliciesIsTheDeprecatedNameOfInTree(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "meshgate.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("rules: {service-port-name: warn}\n"), 0o644))
	exec := func(args ...string) (string, string) {
		var out, errOut bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(args)
		require.NoError(t, cmd.Execute(), "meshgate %s", strings.Join(args, " "))
		return out.String(), errOut.String()
	}
	for _, args := range [][]string{
		{"--config", cfg, "--namespace", "meshgate-system"},
		{"--explain"},
	} {
		want, _ := exec(append([]string{"in-tree"}, args...)...)
		got, _ := exec(append([]string{"policies"}, args...)...)
		notice, rest, ok := strings.Cut(got, "\n")
		require.True(t, ok, "meshgate policies %s wrote nothing", strings.Join(args, " "))
		assert.Equal(t, "Command \"policies\" is deprecated, use `meshgate in-tree`", notice, "the deprecation notice (standard error when no output is set)")
		assert.Equal(t, want, rest, "meshgate policies %s writes what meshgate in-tree does", strings.Join(args, " "))
	}
	help, _ := exec("--help")
	assert.Regexp(t, `(?m)^  in-tree `, help)
	assert.NotRegexp(t, `(?m)^  policies `, help, "the deprecated name is hidden")
}
