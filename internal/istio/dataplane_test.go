package istio

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshgate/meshgate/internal/policy"
)

func TestPodDataPlane(t *testing.T) {
	type m = map[string]string
	tests := []struct {
		name        string
		ns          string // default "apps"
		nsLabels    m
		labels      m
		annotations m
		hostNetwork bool
		want        DataPlane
		webhook     string // the injector webhook that selects the pod, "" for none
	}{
		{name: "plain namespace, plain pod", want: NoMesh},
		// namespace. webhook: istio-injection In [enabled], object sidecar.istio.io/inject NotIn [false]
		{name: "istio-injection=enabled", nsLabels: m{"istio-injection": "enabled"}, want: Sidecar, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "istio-injection=enabled wins over a revision on the namespace", nsLabels: m{"istio-injection": "enabled", "istio.io/rev": "canary"}, want: Sidecar, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "istio-injection=enabled, pod label inject=false: no webhook", nsLabels: m{"istio-injection": "enabled"}, labels: m{"sidecar.istio.io/inject": "false"}, want: NoMesh},
		{name: "istio-injection=enabled, pod annotation inject=false: webhook called, injectRequired refuses", nsLabels: m{"istio-injection": "enabled"}, annotations: m{"sidecar.istio.io/inject": "false"}, want: NoMesh, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "istio-injection=enabled, label true beats annotation false", nsLabels: m{"istio-injection": "enabled"}, labels: m{"sidecar.istio.io/inject": "true"}, annotations: m{"sidecar.istio.io/inject": "false"}, want: Sidecar, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "istio-injection=enabled, label other than true/false: the policy injects", nsLabels: m{"istio-injection": "enabled"}, labels: m{"sidecar.istio.io/inject": "no"}, want: Sidecar, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "istio-injection=disabled", nsLabels: m{"istio-injection": "disabled"}, want: NoMesh},
		{name: "istio-injection=disabled beats a revision", nsLabels: m{"istio-injection": "disabled", "istio.io/rev": "stable"}, want: NoMesh},
		{name: "istio-injection=disabled beats the pod's label", nsLabels: m{"istio-injection": "disabled"}, labels: m{"sidecar.istio.io/inject": "true"}, want: NoMesh},
		{name: "istio-injection=disabled beats the pod's revision", nsLabels: m{"istio-injection": "disabled"}, labels: m{"istio.io/rev": "canary"}, want: NoMesh},
		{name: "istio-injection with another value matches no webhook", nsLabels: m{"istio-injection": "true"}, want: NoMesh},
		{name: "istio-injection with another value and a revision matches no webhook", nsLabels: m{"istio-injection": "on", "istio.io/rev": "canary"}, want: NoMesh},
		{name: "istio-injection with another value, pod opts in by label: no webhook", nsLabels: m{"istio-injection": "yes"}, labels: m{"sidecar.istio.io/inject": "true"}, want: NoMesh},
		// rev.namespace. webhook: istio.io/rev on the namespace, no istio-injection
		{name: "revision on the namespace", nsLabels: m{"istio.io/rev": "stable"}, want: Sidecar, webhook: "rev.namespace.sidecar-injector.istio.io"},
		{name: "revision tag default on the namespace", nsLabels: m{"istio.io/rev": "default"}, want: Sidecar, webhook: "rev.namespace.sidecar-injector.istio.io"},
		{name: "revision on the namespace, pod label inject=false", nsLabels: m{"istio.io/rev": "stable"}, labels: m{"sidecar.istio.io/inject": "false"}, want: NoMesh},
		// rev.object. webhook: istio.io/rev on the pod, namespace without either label
		{name: "revision on the pod in a plain namespace", labels: m{"istio.io/rev": "canary"}, want: Sidecar, webhook: "rev.object.sidecar-injector.istio.io"},
		{name: "revision on the pod, annotation inject=false", labels: m{"istio.io/rev": "canary"}, annotations: m{"sidecar.istio.io/inject": "false"}, want: NoMesh, webhook: "rev.object.sidecar-injector.istio.io"},
		{name: "revision on the pod, label inject=false", labels: m{"istio.io/rev": "canary", "sidecar.istio.io/inject": "false"}, want: NoMesh},
		// object. webhook: sidecar.istio.io/inject=true label, no revision anywhere
		{name: "pod label inject=true in a plain namespace", labels: m{"sidecar.istio.io/inject": "true"}, want: Sidecar, webhook: "object.sidecar-injector.istio.io"},
		{name: "pod annotation inject=true in a plain namespace: webhooks read labels only", annotations: m{"sidecar.istio.io/inject": "true"}, want: NoMesh},
		{name: "pod label inject=yes in a plain namespace: only true selects", labels: m{"sidecar.istio.io/inject": "yes"}, want: NoMesh},
		// injectRequired
		{name: "hostNetwork pod is never injected", nsLabels: m{"istio-injection": "enabled"}, hostNetwork: true, want: NoMesh, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "kube-system is never injected", ns: "kube-system", nsLabels: m{"istio-injection": "enabled"}, want: NoMesh, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "local-path-storage is never injected", ns: "local-path-storage", labels: m{"sidecar.istio.io/inject": "true"}, want: NoMesh, webhook: "object.sidecar-injector.istio.io"},
		{name: "already injected (sidecar.istio.io/status)", annotations: m{"sidecar.istio.io/status": "{}"}, want: Sidecar},
		// ambient
		{name: "ambient namespace", nsLabels: m{"istio.io/dataplane-mode": "ambient"}, want: Ambient},
		{name: "ambient namespace, pod opts out with dataplane-mode=none", nsLabels: m{"istio.io/dataplane-mode": "ambient"}, labels: m{"istio.io/dataplane-mode": "none"}, want: NoMesh},
		{name: "pod enrolled in ambient in a plain namespace", labels: m{"istio.io/dataplane-mode": "ambient"}, want: Ambient},
		{name: "ambient hostNetwork pod is not enrolled", nsLabels: m{"istio.io/dataplane-mode": "ambient"}, hostNetwork: true, want: NoMesh},
		{name: "ambient in kube-system is not enrolled", ns: "kube-system", nsLabels: m{"istio.io/dataplane-mode": "ambient"}, want: NoMesh},
		{name: "injection beats ambient: a sidecar pod is never ambient", nsLabels: m{"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"}, want: Sidecar, webhook: "namespace.sidecar-injector.istio.io"},
		{name: "pod opts into a sidecar in an ambient namespace", nsLabels: m{"istio.io/dataplane-mode": "ambient"}, labels: m{"sidecar.istio.io/inject": "true"}, want: Sidecar, webhook: "object.sidecar-injector.istio.io"},
		{name: "injected pod in an ambient namespace stays a sidecar pod", nsLabels: m{"istio.io/dataplane-mode": "ambient"}, annotations: m{"sidecar.istio.io/status": "{}"}, want: Sidecar},
		{name: "ambient namespace, pod opts out of injection: still ambient", nsLabels: m{"istio.io/dataplane-mode": "ambient"}, labels: m{"sidecar.istio.io/inject": "false"}, want: Ambient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := policy.Namespace{Name: tt.ns, Labels: tt.nsLabels}
			if ns.Name == "" {
				ns.Name = "apps"
			}
			pod := PodMeta{Labels: tt.labels, Annotations: tt.annotations, HostNetwork: tt.hostNetwork}
			assert.Equal(t, tt.want, PodDataPlane(ns, pod))
			if _, injected := tt.annotations[AnnotationSidecarStatus]; !injected {
				assert.Equal(t, tt.webhook, InjectorWebhookFor(tt.nsLabels, tt.labels))
			}
		})
	}
}

func TestNamespaceDataPlane(t *testing.T) {
	type m = map[string]string
	assert.Equal(t, NoMesh, NamespaceDataPlane(nil))
	assert.Equal(t, Sidecar, NamespaceDataPlane(m{"istio-injection": "enabled"}))
	assert.Equal(t, Sidecar, NamespaceDataPlane(m{"istio.io/rev": "canary"}))
	assert.Equal(t, NoMesh, NamespaceDataPlane(m{"istio.io/rev": "canary", "istio-injection": "maybe"}))
	assert.Equal(t, Ambient, NamespaceDataPlane(m{"istio.io/dataplane-mode": "ambient"}))
	assert.Equal(t, NoMesh, NamespaceDataPlane(m{"istio-injection": "enabled", "kubernetes.io/metadata.name": "kube-public"}),
		"Istio never injects its ignored namespaces")
}
