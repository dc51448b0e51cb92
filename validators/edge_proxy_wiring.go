package validators

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:      policy.EdgeProxyWiring,
		Summary: "edge-proxy pods in sidecar namespaces should carry the Istio certificate wiring",
		Default: policy.Warn,
		Reads:   []policy.WorldKind{policy.KindNamespace},
		// A policy would see the pod after edge-proxy-istio-certs's policy,
		// and warn about what that rule's webhook still wires or reports.
		NoInTree: "it reports what edge-proxy-istio-certs leaves to the webhook: a policy would warn before the webhook wires the pod",
		Reviews: []policy.Review{{
			Kinds: policy.PodKinds, Check: policy.PodFunc(EdgeProxyWiring), Select: policy.EdgeProxySelect,
			Admission: emissary.EdgeProxyAdmission,
		}},
	})
}

// EdgeProxyWiring implements rule edge-proxy-wiring (docs/rules.md#edge-proxy-wiring)
// on the final pod, whatever the mutation did.
func EdgeProxyWiring(ctx context.Context, pod *corev1.Pod, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if pod == nil || cfg == nil {
		return rep, nil
	}
	mode := cfg.Mode(policy.EdgeProxyWiring)
	if mode == policy.Off || !cfg.IsEdgeProxy(pod.Labels, pod.Annotations) {
		return rep, nil
	}
	if blocked, err := emissary.HostNetworkBlocksSidecar(ctx, pod, t.Namespace, w, cfg); err != nil || blocked {
		if blocked {
			rep.Find(policy.EdgeProxyWiring, mode, field.NewPath("spec", "hostNetwork"),
				"edge proxy in namespace %q would get an Istio sidecar, but Istio never injects a pod with spec.hostNetwork: true, so no istio-proxy writes the Istio certificates and Mappings with tls: %s fail. Fix: run the edge proxy without hostNetwork: true",
				t.Namespace, cfg.Mappings.TLSContext)
		}
		return rep, err
	}
	if m, err := emissary.ModeOf(ctx, pod, t.Namespace, w, cfg); err != nil || m != emissary.ModeSidecar {
		return rep, err
	}
	edge := emissary.EdgeContainer(pod)
	missing := emissary.MissingSidecarWiring(pod, edge)
	if len(missing) == 0 {
		staleCerts(&rep, pod, edge)
		return rep, nil
	}
	fld := field.NewPath("spec", "containers").Index(edge)
	var fix string
	switch {
	case policy.OptedOut(pod.Annotations):
		fld = field.NewPath("metadata", "annotations").Key(policy.AnnotationInject)
		fix = `remove the annotation meshgate.io/inject: "false" so meshgate wires the pod, or add the wiring yourself`
	case !cfg.Enabled(policy.EdgeProxyIstioCerts):
		fix = "turn rule " + policy.EdgeProxyIstioCerts + " on so meshgate wires the pod, or add the wiring yourself"
	default:
		fix = "resolve the conflicts " + policy.EdgeProxyIstioCerts + " reported (meshgate never overwrites your values), then meshgate completes the wiring"
	}
	rep.Find(policy.EdgeProxyWiring, mode, fld,
		"edge proxy in sidecar mode (namespace %q) lacks the Istio certificate wiring, so Emissary gets no Istio certificates and Mappings with tls: %s fail. Missing: %s. Fix: %s",
		t.Namespace, cfg.Mappings.TLSContext, strings.Join(missing, "; "), fix)
	return rep, nil
}

// staleCerts warns (whatever the rule's mode: it is advice, not a wiring
// fault) when the wired edge container runs an Emissary release that never
// reloads the Istio certificates it loaded at start.
func staleCerts(rep *policy.Report, pod *corev1.Pod, edge int) {
	if edge < 0 {
		return
	}
	c := pod.Spec.Containers[edge]
	v, ok := emissary.StaleIstioCerts(c.Image)
	if !ok {
		return
	}
	rep.Find(policy.EdgeProxyWiring, policy.Warn, field.NewPath("spec", "containers").Index(edge).Child("image"),
		"Emissary %s keeps the Istio certificates it loaded at start: once Istio rotates them (about daily), upstream mTLS fails with \"certificate expired\" until the pod restarts. Fix: upgrade to Emissary %s or later, or restart the edge-proxy pods daily",
		v, emissary.CertRotationFixed)
}
