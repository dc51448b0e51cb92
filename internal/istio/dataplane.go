package istio

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/meshgate/meshgate/internal/policy"
)

// Well-known labels and annotations.
const (
	LabelIstioInjection = "istio-injection"
	LabelIstioRev       = "istio.io/rev"
	LabelDataplaneMode  = "istio.io/dataplane-mode"
	// SidecarInject is sidecar.istio.io/inject, read by Istio both as a pod
	// label (which its webhook selectors see) and as a pod annotation (which
	// only its injectRequired reads; the label wins when both are set).
	SidecarInject = "sidecar.istio.io/inject"
	// AnnotationSidecarStatus is the annotation Istio's injector writes on every
	// pod it injects.
	AnnotationSidecarStatus = "sidecar.istio.io/status"
	AnnotationProxyConfig   = "proxy.istio.io/config"
)

// Values of the labels above that Istio's webhooks select on.
const (
	// injectionEnabled is the istio-injection value that injects.
	injectionEnabled = "enabled"
	// InjectOn and injectOff are the sidecar.istio.io/inject values the
	// injector's object selectors and injectRequired compare with.
	InjectOn  = "true"
	injectOff = "false"
	// dataplaneNone is the istio.io/dataplane-mode value that keeps a pod
	// out of ambient.
	dataplaneNone = "none"
)

// DataPlane is how the mesh reaches a namespace's (or pod's) traffic. The
// decision follows Istio 1.30.3's injector webhooks, injectRequired and ambient
// enablement selectors.
type DataPlane string

// Data planes.
const (
	// NoMesh: the namespace is not in the mesh.
	NoMesh DataPlane = ""
	// Sidecar: Istio injects an istio-proxy sidecar.
	Sidecar DataPlane = "sidecar"
	// Ambient: ztunnel (and waypoints) carry the traffic; no sidecar.
	Ambient DataPlane = "ambient"
)

// PodMeta is what Istio's injector and its ambient CNI agent read of a pod to
// decide its data plane.
type PodMeta struct {
	Labels      map[string]string
	Annotations map[string]string
	HostNetwork bool
}

// InjectorNeverNamespaces are the namespaces Istio's injectRequired skips
// whatever their labels (IgnoredNamespaces in pkg/kube/inject).
var InjectorNeverNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}

// ambientExcludedNamespaces is the Istio CNI chart's default excludeNamespaces:
// pods there are never enrolled in ambient.
var ambientExcludedNamespaces = []string{"kube-system"}

// injectorWebhook is one entry of Istio's sidecar-injector
// MutatingWebhookConfiguration: a namespace selector and an object selector.
type injectorWebhook struct {
	name      string
	namespace labels.Selector
	object    labels.Selector
}

func requirement(key string, op selection.Operator, values ...string) labels.Requirement {
	r, err := labels.NewRequirement(key, op, values)
	if err != nil {
		panic(err) // the table below is constant
	}
	return *r
}

func selector(reqs ...labels.Requirement) labels.Selector {
	return labels.NewSelector().Add(reqs...)
}

// injectorWebhooks are the webhooks of Istio's sidecar-injector configuration
// (istio-discovery chart, mutatingwebhook.yaml and revision-tags-mwc.yaml) for
// the default revision and for every revision or tag. meshgate cannot know
// which revisions are installed: a revision's `istio.io/rev In [<revision>]`
// is read as `Exists`, that is, every revision a namespace or pod names is
// taken to be installed. The optional "auto." webhook
// (enableNamespacesByDefault, off by default) is not modelled.
var injectorWebhooks = []injectorWebhook{
	{
		name:      "rev.namespace.sidecar-injector.istio.io",
		namespace: selector(requirement(LabelIstioRev, selection.Exists), requirement(LabelIstioInjection, selection.DoesNotExist)),
		object:    selector(requirement(SidecarInject, selection.NotIn, injectOff)),
	},
	{
		name:      "rev.object.sidecar-injector.istio.io",
		namespace: selector(requirement(LabelIstioRev, selection.DoesNotExist), requirement(LabelIstioInjection, selection.DoesNotExist)),
		object:    selector(requirement(SidecarInject, selection.NotIn, injectOff), requirement(LabelIstioRev, selection.Exists)),
	},
	{
		name:      "namespace.sidecar-injector.istio.io",
		namespace: selector(requirement(LabelIstioInjection, selection.In, injectionEnabled)),
		object:    selector(requirement(SidecarInject, selection.NotIn, injectOff)),
	},
	{
		name:      "object.sidecar-injector.istio.io",
		namespace: selector(requirement(LabelIstioInjection, selection.DoesNotExist), requirement(LabelIstioRev, selection.DoesNotExist)),
		object:    selector(requirement(SidecarInject, selection.In, InjectOn), requirement(LabelIstioRev, selection.DoesNotExist)),
	},
}

// InjectorWebhookFor returns the name of the Istio injector webhook whose
// namespace and object selectors match a pod with podLabels in a namespace with
// nsLabels, or "" when none does (the API server then never calls Istio's
// injector for the pod).
func InjectorWebhookFor(nsLabels, podLabels map[string]string) string {
	for _, wh := range injectorWebhooks {
		if wh.namespace.Matches(labels.Set(nsLabels)) && wh.object.Matches(labels.Set(podLabels)) {
			return wh.name
		}
	}
	return ""
}

// injectRequired is Istio's own check once its webhook is called, with the
// default injection policy "enabled" and no never/always-inject selectors:
// no hostNetwork pod and nothing in Istio's ignored namespaces; then
// sidecar.istio.io/inject, the label winning over the annotation, "true"
// injects, "false" does not, and anything else (or nothing) lets the policy
// decide, which injects.
func injectRequired(namespace string, pod PodMeta) bool {
	if pod.HostNetwork || slices.Contains(InjectorNeverNamespaces, namespace) {
		return false
	}
	v := pod.Annotations[SidecarInject]
	if lbl, ok := pod.Labels[SidecarInject]; ok {
		v = lbl
	}
	return v != injectOff
}

// SidecarInjected reports whether Istio injects a sidecar into pod, created in
// namespace ns, exactly as Istio decides: one of its injector
// webhooks must select the namespace and the pod by their labels, and then its
// injectRequired must agree. A pod that already carries Istio's
// sidecar.istio.io/status annotation has been injected.
func SidecarInjected(ns policy.Namespace, pod PodMeta) bool {
	if _, ok := pod.Annotations[AnnotationSidecarStatus]; ok {
		return true
	}
	return InjectorWebhookFor(ns.Labels, pod.Labels) != "" && injectRequired(ns.Name, pod)
}

// ambientEnablement is the Istio CNI chart's default ambient.enablementSelectors:
// a pod labelled istio.io/dataplane-mode=ambient in any namespace, or any pod
// not labelled istio.io/dataplane-mode=none in a namespace labelled ambient.
var ambientEnablement = []struct{ pod, namespace labels.Selector }{
	{
		pod:       selector(requirement(LabelDataplaneMode, selection.Equals, string(Ambient))),
		namespace: labels.Everything(),
	},
	{
		pod:       selector(requirement(LabelDataplaneMode, selection.NotIn, dataplaneNone)),
		namespace: selector(requirement(LabelDataplaneMode, selection.Equals, string(Ambient))),
	},
}

// AmbientEnrolled reports whether Istio's CNI agent enrols pod, in namespace ns,
// in ambient: never a hostNetwork pod, a pod with a sidecar, or a pod in an
// excluded namespace; otherwise as its enablement selectors decide.
func AmbientEnrolled(ns policy.Namespace, pod PodMeta) bool {
	if pod.HostNetwork || slices.Contains(ambientExcludedNamespaces, ns.Name) {
		return false
	}
	if _, ok := pod.Annotations[AnnotationSidecarStatus]; ok {
		return false
	}
	for _, s := range ambientEnablement {
		if s.pod.Matches(labels.Set(pod.Labels)) && s.namespace.Matches(labels.Set(ns.Labels)) {
			return true
		}
	}
	return false
}

// PodDataPlane is the data plane Istio gives pod in namespace ns: Sidecar when
// its injector injects it (SidecarInjected), else Ambient when its CNI agent
// enrols it (AmbientEnrolled), else NoMesh. A sidecar pod is never ambient.
func PodDataPlane(ns policy.Namespace, pod PodMeta) DataPlane {
	switch {
	case SidecarInjected(ns, pod):
		return Sidecar
	case AmbientEnrolled(ns, pod):
		return Ambient
	}
	return NoMesh
}

// NamespaceDataPlane tells how Istio treats an ordinary pod (no Istio labels or
// annotations of its own) in a namespace with these labels: PodDataPlane of
// such a pod. labels may carry kubernetes.io/metadata.name, which names the
// namespace.
func NamespaceDataPlane(nsLabels map[string]string) DataPlane {
	return PodDataPlane(policy.Namespace{Name: nsLabels[corev1.LabelMetadataName], Labels: nsLabels}, PodMeta{})
}
