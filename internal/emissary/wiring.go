package emissary

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/internal/istio"
)

// VolumeWired reports whether v is the sidecar-mode certificate volume: an
// emptyDir. The guide uses medium Memory (so the private key never touches the
// node's disk); meshgate writes that, but accepts any emptyDir a user chose.
func VolumeWired(v *corev1.Volume) bool {
	return v.EmptyDir != nil
}

// LegacyVolumeWired reports whether v is the legacy-secret volume for secret.
func LegacyVolumeWired(v *corev1.Volume, secret string) bool {
	return v.Secret != nil && v.Secret.SecretName == secret
}

// EnvoyBaseIDWired reports whether value moves Emissary's Envoy off istio-proxy's
// base id 0: any positive integer will do; meshgate writes "1".
func EnvoyBaseIDWired(value string) bool {
	n, err := strconv.ParseUint(value, 10, 32)
	return err == nil && n > 0
}

// envValue returns the literal value of env var name in c, and whether it is set
// to a literal (valueFrom does not count: meshgate cannot see what it resolves to).
func envValue(c *corev1.Container, name string) (string, bool) {
	i := FindEnv(c, name)
	if i < 0 || c.Env[i].ValueFrom != nil {
		return "", false
	}
	return c.Env[i].Value, true
}

// In names the container a piece of the wiring goes into.
type In int

const (
	// InEdge is the edge container (see EdgeContainer).
	InEdge In = iota
	// InProxy is the injected istio-proxy (once Istio has injected it).
	InProxy
)

// Why each piece of the sidecar wiring is there; the mutation puts it in its
// change reasons and conflicts.
const (
	WhyVolume     = "istio-proxy writes the Istio certificates into it and Emissary reads them from it"
	WhyEdgeMount  = "Emissary reads the Istio certificates from there"
	WhyProxyMount = "istio-proxy writes its certificates there"
	WhySecretDir  = "Emissary reads the Istio certificates from there and publishes them as Secret istio-certs"
	WhyBaseID     = "Emissary's Envoy must not share base id 0 with istio-proxy's Envoy in the same pod"
)

// EnvNeed is an env var the sidecar wiring needs in a container.
type EnvNeed struct {
	In    In
	Name  string
	Value string
	// Accept reports whether a literal value the pod already has will do.
	Accept func(string) bool
	Why    string
	// Hint is added to the fix of a conflicting value.
	Hint string
	// Annotation, for an InProxy need, is the pod annotation Istio's injector
	// turns into it.
	Annotation string
}

// MountNeed is a mount of volume istio-certs the sidecar wiring needs.
type MountNeed struct {
	In       In
	Dir      string
	ReadOnly bool
	Why      string
	// Annotation, for an InProxy need, is the pod annotation Istio's injector
	// turns into it.
	Annotation string
}

// Accept reports whether a mount of istio-certs at mountPath (read-only or not)
// will do: the same directory, and writable when the need is writable.
func (n MountNeed) Accept(mountPath string, readOnly bool) bool {
	return SameDir(mountPath, n.Dir) && (n.ReadOnly || !readOnly)
}

// Need is one piece of the container side of the sidecar wiring: an env var
// (Env) or a mount of volume istio-certs (Mount).
type Need struct {
	Env   *EnvNeed
	Mount *MountNeed
}

// SidecarNeeds is the container side of the sidecar wiring, in order, read by
// both the mutation (which adds what is missing) and the validation (which
// lists what is missing). The InProxy entries count once Istio has injected
// istio-proxy; before that, the annotations the injector reads
// (proxy.istio.io/config, sidecar.istio.io/userVolumeMount) stand for them.
var SidecarNeeds = []Need{
	{Mount: &MountNeed{In: InEdge, Dir: CertDir, ReadOnly: true, Why: WhyEdgeMount}},
	{Env: &EnvNeed{In: InEdge, Name: EnvSecretDir, Value: CertDir, Accept: func(v string) bool { return v == CertDir }, Why: WhySecretDir}},
	{Env: &EnvNeed{In: InEdge, Name: EnvEnvoyBaseID, Value: EnvoyBaseID, Accept: EnvoyBaseIDWired, Why: WhyBaseID, Hint: " (any positive integer will do)"}},
	{Env: &EnvNeed{In: InProxy, Name: EnvOutputCerts, Value: CertDir, Accept: func(v string) bool { return SameDir(v, CertDir) }, Why: WhyProxyMount, Annotation: istio.AnnotationProxyConfig}},
	{Mount: &MountNeed{In: InProxy, Dir: CertDir, ReadOnly: false, Why: WhyProxyMount, Annotation: AnnotationUserVolumeMount}},
}

// Container returns the container a need goes into: the edge container (index
// edge) or the injected istio-proxy; false when there is none.
func (in In) Container(pod *corev1.Pod, edge int) (ContainerRef, bool) {
	if in == InProxy {
		return IstioProxy(pod)
	}
	if pod == nil || edge < 0 || edge >= len(pod.Spec.Containers) {
		return ContainerRef{}, false
	}
	return ContainerRef{List: "containers", Index: edge}, true
}

// MissingSidecarWiring lists, in a fixed order, what an edge-proxy pod in sidecar
// mode lacks of the Istio certificate wiring, each item phrased as what is needed.
// It reads only the pod as it is. edge is the edge container's index (see
// EdgeContainer). Once Istio has injected istio-proxy, the proxy's own env and
// mount are what count, not the annotations the injector reads.
func MissingSidecarWiring(pod *corev1.Pod, edge int) []string {
	if pod == nil || edge < 0 || edge >= len(pod.Spec.Containers) {
		return nil
	}
	var missing []string
	need := func(format string, args ...any) { missing = append(missing, fmt.Sprintf(format, args...)) }
	if i := FindVolume(pod, VolumeName); i < 0 || !VolumeWired(&pod.Spec.Volumes[i]) {
		need("volume %s (emptyDir, medium Memory)", VolumeName)
	}
	for _, n := range SidecarNeeds {
		if n.Mount != nil {
			ref, ok := n.Mount.In.Container(pod, edge)
			if !ok {
				continue
			}
			c := ref.Get(pod)
			if i := FindMount(c, VolumeName); i < 0 || !n.Mount.Accept(c.VolumeMounts[i].MountPath, c.VolumeMounts[i].ReadOnly) {
				how := "writable"
				if n.Mount.ReadOnly {
					how = "read-only"
				}
				need("a %s mount of volume %s at %s in container %q", how, VolumeName, n.Mount.Dir, c.Name)
			}
		}
		if n.Env != nil {
			ref, ok := n.Env.In.Container(pod, edge)
			if !ok {
				continue
			}
			c := ref.Get(pod)
			if v, ok := envValue(c, n.Env.Name); !ok || !n.Env.Accept(v) {
				need("env %s=%s in container %q", n.Env.Name, n.Env.Value, c.Name)
			}
		}
	}
	if _, injected := IstioProxy(pod); injected {
		return missing
	}
	v, ok := pod.Annotations[istio.AnnotationProxyConfig]
	if !OutputCertsSet(v, ok) {
		need("proxyMetadata.%s: %s in annotation %s", EnvOutputCerts, CertDir, istio.AnnotationProxyConfig)
	}
	v, ok = pod.Annotations[AnnotationUserVolumeMount]
	if !UserVolumeMountSet(v, ok) {
		need("%s mounted at %s in annotation %s", VolumeName, CertDir, AnnotationUserVolumeMount)
	}
	if istio.InjectionBlocked(pod) {
		need("Istio sidecar injection (sidecar.istio.io/inject must not be %q)", injectValue(pod))
	}
	return missing
}

func injectValue(pod *corev1.Pod) string {
	if v, ok := pod.Labels[istio.SidecarInject]; ok {
		return v
	}
	return pod.Annotations[istio.SidecarInject]
}
