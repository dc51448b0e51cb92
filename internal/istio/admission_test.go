package istio

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// everyNamespaceLabelling lists the namespace labellings that matter to the
// data plane: each of istio-injection, istio.io/rev and
// istio.io/dataplane-mode absent or set to a telling value.
func everyNamespaceLabelling() []map[string]string {
	var out []map[string]string
	for _, inj := range []string{"", "enabled", "disabled", "Enabled"} {
		for _, rev := range []string{"", "canary"} {
			for _, mode := range []string{"", "ambient", "none"} {
				l := map[string]string{"kubernetes.io/metadata.name": "apps"}
				for k, v := range map[string]string{LabelIstioInjection: inj, LabelIstioRev: rev, LabelDataplaneMode: mode} {
					if v != "" {
						l[k] = v
					}
				}
				out = append(out, l)
			}
		}
	}
	return out
}

func matches(t *testing.T, reqs []metav1.LabelSelectorRequirement, l map[string]string) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchExpressions: reqs})
	require.NoError(t, err)
	return sel.Matches(labels.Set(l))
}

// TestNamespaceClasses: the classes a scope's webhooks are built from are
// disjoint where they must be, and MeshNamespaces is exactly the namespaces
// NamespaceDataPlane puts in the mesh.
func TestNamespaceClasses(t *testing.T) {
	for _, l := range everyNamespaceLabelling() {
		name := fmt.Sprint(l)
		var mesh []string
		for _, h := range MeshNamespaces() {
			if matches(t, h.Namespaces, l) {
				mesh = append(mesh, h.Name)
			}
		}
		assert.LessOrEqual(t, len(mesh), 1, "%s: in several mesh classes %v", name, mesh)
		assert.Equal(t, NamespaceDataPlane(l) != NoMesh, len(mesh) == 1, "%s: data plane %q, mesh classes %v", name, NamespaceDataPlane(l), mesh)

		// The pod classes: sidecar by the namespace's labels, or not (where
		// the pod must opt in); every namespace is in exactly one.
		var pod []string
		for class, reqs := range map[string][]metav1.LabelSelectorRequirement{
			"injection": NamespacesInjection, "revision": NamespacesRevision,
			"injection-off": NamespacesInjectionOff, "no-injection-label": NamespacesNoInjectionLabel,
		} {
			if matches(t, reqs, l) {
				pod = append(pod, class)
			}
		}
		assert.Len(t, pod, 1, "%s: pod classes %v", name, pod)
		sidecar := matches(t, NamespacesInjection, l) || matches(t, NamespacesRevision, l)
		assert.Equal(t, NamespaceDataPlane(l) == Sidecar, sidecar, "%s", name)
	}
}
