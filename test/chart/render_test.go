// Package chart_test renders, lints and applies charts/meshgate with the Helm
// Go SDK (no helm CLI): the rendered objects are decoded into client-go's
// types and checked against the chart's README and against
// webhook.Configurations and webhook.ClusterRoleRules (so the chart and the
// server cannot drift), the chart is linted, and every rendered object is sent
// to a real kube-apiserver with server-side dry-run (server_test.go). It is a
// module of its own so that the product's go.mod does not carry the Helm SDK.
package chart_test

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/test/e2e/cluster"
)

// chartDir is charts/meshgate in the repository.
func chartDir() string { return filepath.Join(cluster.RepoRoot(), "charts", "meshgate") }

// Release names and namespaces the tests install into.
const (
	releaseName = "meshgate"
	releaseNS   = "meshgate-system"
)

// kubeVersion is the Kubernetes version the chart is rendered for: the local
// control plane's (Helm's default, from client-go's build info, is v1.20 in
// a test binary).
var kubeVersion = &chartutil.KubeVersion{Version: "v1.37.1", Major: "1", Minor: "37"}

func capabilities() *chartutil.Capabilities {
	c := chartutil.DefaultCapabilities.Copy()
	c.KubeVersion = *kubeVersion
	return c
}

// loadChart loads charts/meshgate from disk.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir())
	if err != nil {
		t.Fatalf("load %s: %v", chartDir(), err)
	}
	return c
}

// values parses a YAML values document (empty: the chart's defaults).
func values(t *testing.T, doc string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("values %q: %v", doc, err)
	}
	return v
}

// renderErr renders the chart like `helm install --dry-run=client`: the
// values are validated against values.schema.json and lookup finds nothing.
func renderErr(t *testing.T, name, ns, vals string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = name, ns
	install.KubeVersion = kubeVersion
	rel, err := install.Run(loadChart(t), values(t, vals))
	if err != nil {
		return nil, err
	}
	return decodeManifests(t, rel.Manifest), nil
}

// render is renderErr that fails the test on error.
func render(t *testing.T, vals string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := renderErr(t, releaseName, releaseNS, vals)
	if err != nil {
		t.Fatalf("render with values %q: %v", vals, err)
	}
	return objs
}

// renderWithCluster renders the chart with lookup answered by the API server
// at cfg (as `helm install`/`helm upgrade` does).
func renderWithCluster(t *testing.T, cfg *rest.Config, ns, vals string, upgrade bool) []*unstructured.Unstructured {
	t.Helper()
	c := loadChart(t)
	rv, err := chartutil.ToRenderValues(c, values(t, vals), chartutil.ReleaseOptions{
		Name: releaseName, Namespace: ns, Revision: 1, IsInstall: !upgrade, IsUpgrade: upgrade,
	}, capabilities())
	if err != nil {
		t.Fatalf("render values: %v", err)
	}
	files, err := engine.New(cfg).Render(c, rv)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var b strings.Builder
	for name, content := range files {
		if strings.HasSuffix(name, ".yaml") {
			b.WriteString("\n---\n" + content)
		}
	}
	return decodeManifests(t, b.String())
}

// decodeManifests splits a multi-document manifest into objects.
func decodeManifests(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		m := map[string]any{}
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode the rendered manifest: %v\n%s", err, manifest)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// ofKind returns the rendered objects of one kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one decodes the only rendered object of into's kind into into, strictly (an
// unknown field is an error).
func one(t *testing.T, objs []*unstructured.Unstructured, kind string, into any) {
	t.Helper()
	found := ofKind(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want one %s, rendered %d", kind, len(found))
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(found[0].Object, into, true); err != nil {
		t.Fatalf("decode %s: %v", kind, err)
	}
}

// named decodes the rendered object of kind and name into into, strictly.
func named(t *testing.T, objs []*unstructured.Unstructured, kind, name string, into any) {
	t.Helper()
	for _, o := range ofKind(objs, kind) {
		if o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
				t.Fatalf("decode %s %s: %v", kind, name, err)
			}
			return
		}
	}
	t.Fatalf("no %s %s rendered: %v", kind, name, kinds(objs))
}

// kinds lists the rendered kinds, for failure messages.
func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}
