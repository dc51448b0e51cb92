package policy

import "k8s.io/apimachinery/pkg/labels"

// meshgate's own annotations.
const (
	AnnotationEdgeProxy = "meshgate.io/edge-proxy"
	AnnotationInject    = "meshgate.io/inject"
	AnnotationCertMode  = "meshgate.io/cert-mode"
)

// IsEdgeProxy reports whether a pod with these labels and annotations is an
// edge proxy (Emissary-ingress / Ambassador Edge Stack): it matches a configured
// selector or carries meshgate.io/edge-proxy: "true". Whether meshgate may wire
// it is a separate question: see OptedOut.
func (c *Config) IsEdgeProxy(labels, annotations map[string]string) bool {
	return annotations[AnnotationEdgeProxy] == "true" || c.MatchesEdgeSelector(labels)
}

// OptedOut reports whether the pod carries meshgate.io/inject: "false".
func OptedOut(annotations map[string]string) bool {
	return annotations[AnnotationInject] == "false"
}

// MatchesEdgeSelector reports whether labels contain every label of one of the
// configured edge-proxy selectors (an empty selector matches nothing).
func (c *Config) MatchesEdgeSelector(podLabels map[string]string) bool {
	for _, sel := range c.EdgeProxy.Selectors {
		if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}
