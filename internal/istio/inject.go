package istio

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// InjectBlocks reports whether Istio's injector may read value (of the
// sidecar.istio.io/inject label or annotation) as "do not inject": Istio < 1.27
// blocks on anything but y, yes, true, on (any case) and "" (which means "the
// namespace decides"); Istio >= 1.27 blocks only on "false" and lets the namespace
// decide on any other value but "true". Only "false" blocks in every version.
func InjectBlocks(value string) bool {
	switch strings.ToLower(value) {
	case "y", "yes", "true", "on", "":
		return false
	}
	return true
}

// InjectTruthy reports whether Istio reads value as "inject".
func InjectTruthy(value string) bool {
	switch strings.ToLower(value) {
	case "y", "yes", "true", "on":
		return true
	}
	return false
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
