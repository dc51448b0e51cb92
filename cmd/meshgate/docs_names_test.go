package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
)

// The names the docs give must exist: every meshgate flag, configuration key and
// chart value a page names in code, and every package in the README's layout
// table. A renamed flag or value fails here instead of rotting in the docs.

// docPages are the pages users read.
func docPages(t *testing.T) map[string]string {
	t.Helper()
	paths := []string{"../../README.md", "../../charts/meshgate/README.md"}
	more, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	paths = append(paths, more...)
	pages := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		pages[strings.TrimPrefix(p, "../../")] = string(data)
	}
	return pages
}

// codeOf returns the code of a Markdown page: inline code spans and fenced blocks.
func codeOf(page string) []string {
	var out []string
	fence := regexp.MustCompile("(?s)```[a-z]*\\n(.*?)```")
	for _, m := range fence.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	rest := fence.ReplaceAllString(page, "")
	for _, m := range regexp.MustCompile("`([^`\\n]+)`").FindAllStringSubmatch(rest, -1) {
		out = append(out, m[1])
	}
	return out
}

// meshgateFlags are the long flags of every meshgate command.
func meshgateFlags() map[string]bool {
	flags := map[string]bool{"help": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
	return flags
}

func hasPrefix(flags map[string]bool, prefix string) bool {
	for f := range flags {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return false
}

// foreignFlags are the flags of other tools that the docs' commands use
// (kubectl, helm, go, make, git, curl, pre-commit, openssl).
var foreignFlags = map[string]bool{
	"dry-run": true, "set": true, "set-string": true, "set-file": true, "create-namespace": true,
	"namespace": true, "install": true, "version": true, "values": true, "prune": true,
	"prune-allowlist": true, "selector": true, "for": true, "timeout": true, "wait": true,
	"atomic": true, "show-only": true, "all-namespaces": true, "type": true, "from-file": true,
	"from-literal": true, "raw": true, "server-side": true, "field-manager": true, "force-conflicts": true,
	"output": true, "kubeconfig": true, "context": true, "count": true, "run": true, "bench": true,
	"benchmem": true, "benchtime": true, "cpuprofile": true, "memprofile": true, "short": true,
	"tags": true, "all-files": true, "hook-stage": true, "files": true, "cert": true, "key": true,
	"cacert": true, "digestfile": true, "insecure": true, "header": true, "silent": true, "fail": true, "location": true,
	"digest": true, "plain-http": true, "verify": true, "check": true, "ignore-missing": true,
	"sign": true, "keyring": true, "destination": true, "filename": true, "recursive": true,
	"name": true, "reuse-values": true, "skip-crds": true, "include-crds": true, "no-hooks": true,
	"force": true, "user": true, "token": true, "as": true, "as-group": true, "subresource": true,
	"request-timeout": true, "watch": true, "show-labels": true, "label-columns": true,
	"release-namespace": true, "oci": true, "sha256": true, "strict": true, "image": true,
	// docker buildx, git, unshare, cert-manager, kube-apiserver
	"platform": true, "build-arg": true, "push": true, "all": true, "cached": true, "name-only": true,
	"diff-filter": true, "net": true, "enable-certificate-owner-ref": true,
	"shutdown-watch-termination-grace-period": true,
}

func TestDocsNameExistingFlags(t *testing.T) {
	flags := meshgateFlags()
	flag := regexp.MustCompile(`(?:^|[\s\[(=|'"])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(-\*)?`)
	for name, page := range docPages(t) {
		for _, code := range codeOf(page) {
			for _, m := range flag.FindAllStringSubmatch(code, -1) {
				f := m[1]
				if m[2] != "" { // --zap-*: a family of flags
					assert.True(t, hasPrefix(flags, f+"-"), "%s names the flags --%s-*, which no meshgate command has", name, f)
					continue
				}
				assert.True(t, flags[f] || foreignFlags[f],
					"%s names the flag --%s, which no meshgate command has (and it is not a known kubectl/helm/go flag): fix the page, or add it to foreignFlags if it belongs to another tool", name, f)
			}
		}
	}
}

// configKeys are the dotted paths of meshgate's configuration (JSON names).
func configKeys() map[string]bool {
	keys := map[string]bool{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			keys[path] = true
			walk(path, f.Type)
		}
	}
	walk("", reflect.TypeOf(policy.Config{}))
	return keys
}

// chartValues are the dotted paths of the chart's values.yaml.
func chartValues(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../../charts/meshgate/values.yaml")
	require.NoError(t, err)
	var values map[string]any
	require.NoError(t, yaml.Unmarshal(data, &values))
	keys := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, sub := range m {
			path := k
			if prefix != "" {
				path = prefix + "." + k
			}
			keys[path] = true
			walk(path, sub)
		}
	}
	walk("", values)
	return keys
}

// A dotted name in code, such as servicePorts.scope or nativePolicies.enabled:
// lowerCamel segments, no file extension, no domain.
var dottedName = regexp.MustCompile(`^([a-z][a-zA-Z0-9]*)(\.[a-z][a-zA-Z0-9]*)+$`)

// notValues are dotted names in the docs that are neither configuration keys nor
// chart values: file names, domains, Go and JSON paths of other objects.
func notAValue(name string) bool {
	for _, suffix := range []string{".yaml", ".yml", ".md", ".json", ".crt", ".key", ".go", ".tgz", ".txt", ".sarif", ".io", ".com", ".sh", ".tpl", ".local", ".dev", ".org", ".zip"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	first, _, _ := strings.Cut(name, ".")
	switch first {
	// object paths (spec.ports, metadata.labels), Go, JSON report fields,
	// Istio/Emissary/Kubernetes field paths and Helm's template objects
	case "spec", "metadata", "status", "data", "results", "summary", "properties", "runs", "proxyMetadata",
		"meshConfig", "values", "global", "sidecarInjectorWebhook", "pilot", "gateways", "kubernetes", "istio",
		"tls", "ca", "webhooks", "template", "ports", "release", "chart", "capabilities", "object", "oldObject",
		"request", "params", "namespaceObject", "variables", "self", "os", "runtime", "strings", "http", "v1",
		"admission", "engine", "policy", "check", "manifest", "scope", "config", "fields", "alpn", "meshgate",
		"github", "gitlab", "steps", "inputs", "env", "matrix", "secrets", "jobs", "artifacts", "reports",
		"allowedRoutes", "svc", "response", "details", "gw":
		return true
	}
	return false
}

func TestDocsNameExistingConfigKeysAndChartValues(t *testing.T) {
	config, values := configKeys(), chartValues(t)
	for key := range config {
		// the chart passes the configuration through its config value
		values["config."+key] = true
	}
	for name, page := range docPages(t) {
		for _, code := range codeOf(page) {
			for _, word := range strings.Fields(code) {
				word = strings.Trim(word, `"',;:()[]{}=`)
				if before, _, ok := strings.Cut(word, "="); ok {
					word = before // --set a.b=c
				}
				if !dottedName.MatchString(word) || notAValue(word) {
					continue
				}
				assert.True(t, config[word] || values[word],
					"%s names %q, which is neither a configuration key nor a chart value", name, word)
			}
		}
	}
}

func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)`(?:, `([^`]+)`)* \\|").FindAllStringSubmatch(string(data), -1) {
		for _, p := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(strings.SplitN(m[0], "|", 3)[1], -1) {
			listed = append(listed, strings.TrimSuffix(p[1], "/"))
		}
	}
	require.NotEmpty(t, listed, "README.md must hold the layout table")

	covered := func(dir string) bool {
		for _, l := range listed {
			if dir == l || strings.HasPrefix(dir, l+"/") {
				return true
			}
		}
		return false
	}
	var missing []string
	root := "../.."
	for _, top := range []string{"cmd", "internal", "mutators", "validators", "webhook", "test", "hack"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() || strings.Contains(p, "testdata") {
				return nil
			}
			goFiles, _ := filepath.Glob(filepath.Join(p, "*.go"))
			if len(goFiles) == 0 {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			// the top-level packages and every package under internal/ and test/ are
			// listed on their own; hack/ is indexed by its own README
			depth := strings.Count(rel, "/")
			if (top == "internal" || top == "test") && depth > 1 {
				return nil
			}
			if top == "hack" || top == "cmd" && depth > 1 {
				return nil
			}
			if !covered(rel) {
				missing = append(missing, rel)
			}
			return nil
		})
		require.NoError(t, err)
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "README.md's layout table must list every package")
}
