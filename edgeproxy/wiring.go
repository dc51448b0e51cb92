package edgeproxy

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/policy"
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
	c := &pod.Spec.Containers[edge]

	if i := FindVolume(pod, VolumeName); i < 0 || !VolumeWired(&pod.Spec.Volumes[i]) {
		need("volume %s (emptyDir, medium Memory)", VolumeName)
	}
	if i := FindMount(c, VolumeName); i < 0 || !SameDir(c.VolumeMounts[i].MountPath, CertDir) {
		need("a read-only mount of volume %s at %s in container %q", VolumeName, CertDir, c.Name)
	}
	if v, ok := envValue(c, EnvSecretDir); !ok || v != CertDir {
		need("env %s=%s in container %q", EnvSecretDir, CertDir, c.Name)
	}
	if v, ok := envValue(c, EnvEnvoyBaseID); !ok || !EnvoyBaseIDWired(v) {
		need("env %s=%s in container %q", EnvEnvoyBaseID, EnvoyBaseID, c.Name)
	}
	if ref, injected := IstioProxy(pod); injected {
		p := ref.Get(pod)
		if v, ok := envValue(p, EnvOutputCerts); !ok || !SameDir(v, CertDir) {
			need("env %s=%s in container %s", EnvOutputCerts, CertDir, ProxyContainerName)
		}
		if i := FindMount(p, VolumeName); i < 0 || !SameDir(p.VolumeMounts[i].MountPath, CertDir) || p.VolumeMounts[i].ReadOnly {
			need("a writable mount of volume %s at %s in container %s", VolumeName, CertDir, ProxyContainerName)
		}
		return missing
	}
	v, ok := pod.Annotations[policy.AnnotationProxyConfig]
	if !OutputCertsSet(v, ok) {
		need("proxyMetadata.%s: %s in annotation %s", EnvOutputCerts, CertDir, policy.AnnotationProxyConfig)
	}
	v, ok = pod.Annotations[AnnotationUserVolumeMount]
	if !UserVolumeMountSet(v, ok) {
		need("%s mounted at %s in annotation %s", VolumeName, CertDir, AnnotationUserVolumeMount)
	}
	if InjectionBlocked(pod) {
		need("Istio sidecar injection (sidecar.istio.io/inject must not be %q)", injectValue(pod))
	}
	return missing
}

func injectValue(pod *corev1.Pod) string {
	if v, ok := pod.Labels[policy.SidecarInject]; ok {
		return v
	}
	return pod.Annotations[policy.SidecarInject]
}
