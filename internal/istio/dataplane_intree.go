package istio

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/internal/intree"
)

// NamespaceInMeshCEL is NamespaceDataPlane(labels) != NoMesh for the
// namespace whose labels are the CEL map labels: Istio's injector webhooks
// select it for an ordinary pod (istio-injection=enabled, or istio.io/rev
// without istio-injection) outside the injector's ignored namespaces, or it
// is labelled for ambient outside the namespaces ambient leaves out.
func NamespaceInMeshCEL(labels string) string {
	name := intree.Label(labels, corev1.LabelMetadataName)
	sidecar := fmt.Sprintf("((%s == '%s' || (%s in %s && !(%s in %s))) && !(%s in %s))",
		intree.Label(labels, LabelIstioInjection), injectionEnabled,
		intree.String(LabelIstioRev), labels, intree.String(LabelIstioInjection), labels,
		name, intree.Strings(InjectorNeverNamespaces))
	ambient := []string{fmt.Sprintf("%s == '%s'", intree.Label(labels, LabelDataplaneMode), Ambient)}
	for _, ns := range ambientExcludedNamespaces {
		ambient = append(ambient, fmt.Sprintf("%s != '%s'", name, ns))
	}
	return sidecar + " || (" + strings.Join(ambient, " && ") + ")"
}

// SidecarInjectedCEL is SidecarInjected for the pod under review (object),
// whose sidecar.istio.io/inject label and annotation are never "false" (an
// opt-out meshgate lifts): labels and annotations are the pod's CEL maps,
// injectLabel its sidecar.istio.io/inject label as a CEL string ("" when
// absent), nsLabels the namespace's labels, namespace its name. With no
// "false", every injector webhook's `sidecar.istio.io/inject NotIn [false]`
// holds and injectRequired reduces to the hostNetwork and ignored-namespace
// checks.
func SidecarInjectedCEL(labels, annotations, injectLabel, nsLabels, namespace string) string {
	has := func(m, k string) string { return "(" + intree.String(k) + " in " + m + ")" }
	nsRev, nsInj, podRev := has(nsLabels, LabelIstioRev), has(nsLabels, LabelIstioInjection), has(labels, LabelIstioRev)
	webhook := fmt.Sprintf("((%s && !%s) || %s == '%s' || (!%s && !%s && (%s || %s == '%s')))",
		nsRev, nsInj, intree.Label(nsLabels, LabelIstioInjection), injectionEnabled, nsRev, nsInj, podRev, injectLabel, InjectOn)
	required := fmt.Sprintf("(!object.spec.?hostNetwork.orValue(false) && !(%s in %s))", namespace, intree.Strings(InjectorNeverNamespaces))
	return fmt.Sprintf("(%s || (%s && %s))", has(annotations, AnnotationSidecarStatus), webhook, required)
}
