package policy

// Well-known labels and annotations.
const (
	LabelIstioInjection   = "istio-injection"
	LabelIstioRev         = "istio.io/rev"
	LabelDataplaneMode    = "istio.io/dataplane-mode"
	LabelSidecarInject    = "sidecar.istio.io/inject"
	AnnotationEdgeProxy   = "meshgate.io/edge-proxy"
	AnnotationInject      = "meshgate.io/inject"
	AnnotationCertMode    = "meshgate.io/cert-mode"
	AnnotationSidecarInj  = "sidecar.istio.io/inject"
	AnnotationProxyConfig = "proxy.istio.io/config"
)

// DataPlane is how the mesh reaches a namespace's (or pod's) traffic.
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

// NamespaceDataPlane tells how Istio treats pods in a namespace with these labels,
// the way istiod's injector and the ambient CNI read them: istio-injection=enabled
// or an istio.io/rev label means sidecar injection (istio-injection=disabled turns
// it off), otherwise istio.io/dataplane-mode=ambient means ambient.
func NamespaceDataPlane(labels map[string]string) DataPlane {
	inj := labels[LabelIstioInjection]
	_, rev := labels[LabelIstioRev]
	if inj == "enabled" || (rev && inj != "disabled") {
		return Sidecar
	}
	if labels[LabelDataplaneMode] == "ambient" {
		return Ambient
	}
	return NoMesh
}

// PodDataPlane refines the namespace's data plane with the pod's own labels:
// sidecar.istio.io/inject=true opts a pod into injection, except in a namespace
// labelled istio-injection=disabled, which Istio's injector webhooks skip.
func PodDataPlane(nsLabels, podLabels map[string]string) DataPlane {
	if podLabels[LabelSidecarInject] == "true" && nsLabels[LabelIstioInjection] != "disabled" {
		return Sidecar
	}
	return NamespaceDataPlane(nsLabels)
}

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
// configured edge-proxy selectors.
func (c *Config) MatchesEdgeSelector(labels map[string]string) bool {
	for _, sel := range c.EdgeProxy.Selectors {
		if len(sel) == 0 {
			continue
		}
		ok := true
		for k, v := range sel {
			if got, found := labels[k]; !found || got != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
