package istio

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// InjectBlocks reports whether Istio's injector may read value (of the
// sidecar.istio.io/inject label or annotation) as "do not inject": Istio < 1.27
// blocks on anything but y, yes, true, on (any case) and "" (which means "the
// namespace decides"); Istio >= 1.27 blocks only on "false" and lets the namespace
// decide on any other value but "true". Only "false" blocks in every version.
func InjectBlocks(value string) bool {
	v := strings.ToLower(value)
	return v != "" && !slices.Contains(injectYes, v)
}

// injectYes are the values (lower case) Istio reads as "inject".
var injectYes = []string{"y", "yes", "true", "on"}

// InjectTruthy reports whether Istio reads value as "inject".
func InjectTruthy(value string) bool {
	return slices.Contains(injectYes, strings.ToLower(value))
}

// InjectionBlocked reports whether Istio's injector would skip pod because of its
// sidecar.istio.io/inject label or annotation. As in istiod, the label wins over
// the annotation when both are present.
func InjectionBlocked(pod *corev1.Pod) bool {
	if v, ok := pod.Labels[SidecarInject]; ok {
		return InjectBlocks(v)
	}
	return InjectBlocks(pod.Annotations[SidecarInject])
}
