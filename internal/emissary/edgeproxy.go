// Package emissary holds what meshgate knows of Emissary-ingress (and
// Ambassador Edge Stack): Mapping upstreams and how Emissary resolves them,
// TLSContexts, and the edge-proxy pod.
//
// It knows what "the Istio certificate wiring" of an edge-proxy
// (Emissary-ingress / Ambassador Edge Stack) pod is: the names and paths the
// Emissary and Istio guides use, how to find the edge container and Istio's
// injected containers, which wiring mode a pod gets, and whether a pod is wired.
//
// Both pod rules use it: the mutation edge-proxy-istio-certs (which adds the
// wiring) and the validation edge-proxy-wiring (which checks the final pod on its
// own, whatever the mutation did). Everything here is pure and never panics.
package emissary

import (
	"context"
	"fmt"
	"maps"
	"path"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

// The wiring, as the Emissary 2.x/3.x "Istio integration" guide writes it.
const (
	// VolumeName is the volume that carries Istio's certificates; Emissary turns
	// the files into a Secret of the same name.
	VolumeName = "istio-certs"
	// CertDir is where istio-proxy writes the certificates (OUTPUT_CERTS) and
	// where the edge container reads them (AMBASSADOR_ISTIO_SECRET_DIR).
	CertDir = "/etc/istio-certs"
	// EnvSecretDir tells Emissary where to read the certificates. Its watcher
	// compares the exact string, so the value carries no trailing slash.
	EnvSecretDir = "AMBASSADOR_ISTIO_SECRET_DIR"
	// EnvEnvoyBaseID moves Emissary's Envoy off base id 0, which istio-proxy's
	// Envoy uses in the same pod.
	EnvEnvoyBaseID = "AMBASSADOR_ENVOY_BASE_ID"
	// EnvoyBaseID is the base id meshgate sets.
	EnvoyBaseID = "1"
	// EnvNamespace is set by the Emissary chart and YAML on the edge container.
	EnvNamespace = "AMBASSADOR_NAMESPACE"
	// AdminPort is Emissary's admin port: diagnostics, /metrics and
	// readiness, over HTTP.
	AdminPort = 8877
	// EnvOutputCerts makes istio-proxy write its certificates into a directory.
	EnvOutputCerts = "OUTPUT_CERTS"
	// ProxyMetadataKey is the proxy.istio.io/config key whose entries become
	// environment variables of istio-proxy.
	ProxyMetadataKey = "proxyMetadata"
)

// The edge proxy's own Services: the labels Emissary's and Ambassador's Helm
// charts put on them (product=aes on the main and the admin Service, and
// service=ambassador-admin, the label the chart's ServiceMonitor selects, also
// on the admin Service of Ambassador 1.x's plain YAML), and the ports they
// reach besides AdminPort.
const (
	LabelProduct           = "product"
	ProductAES             = "aes"
	LabelService           = "service"
	ServiceAmbassadorAdmin = "ambassador-admin"
	// AdminPortName is the container port the chart's admin Service targets
	// (AdminPort).
	AdminPortName = "admin"
	// SnapshotPort is Emissary's external snapshot server (HTTP).
	SnapshotPort = 8005
)

// The legacy wiring of the Ambassador 1.x guide (Istio <= 1.4).
const (
	// LegacySecretPrefix + serviceAccountName is the secret Istio <= 1.4 created
	// for each service account.
	LegacySecretPrefix = "istio."
	// DefaultServiceAccount is the account a pod without serviceAccountName runs as.
	DefaultServiceAccount = "default"
)

// Istio's names.
const (
	// ProxyContainerName is the injected sidecar (a container, or an init
	// container with restartPolicy Always when Istio injects native sidecars).
	ProxyContainerName = "istio-proxy"
	// InitContainerName is the injected init container that sets up iptables.
	InitContainerName = "istio-init"
	// AnnotationUserVolumeMount adds volume mounts to istio-proxy.
	AnnotationUserVolumeMount = "sidecar.istio.io/userVolumeMount"
	// AnnotationIncludeInboundPorts is istio-init's -b: "" intercepts no inbound port.
	AnnotationIncludeInboundPorts = "traffic.sidecar.istio.io/includeInboundPorts"
	// AnnotationIncludeOutboundIPRanges is istio-init's -i: "" intercepts no
	// outbound traffic.
	AnnotationIncludeOutboundIPRanges = "traffic.sidecar.istio.io/includeOutboundIPRanges"
)

// Mode is how Istio's certificates reach an edge-proxy pod.
type Mode int

const (
	// ModeNone means the pod is not in the mesh; nothing to wire.
	ModeNone Mode = iota
	// ModeSidecar means istio-proxy writes the certificates into a shared emptyDir.
	ModeSidecar
	// ModeLegacySecret means no sidecar; the pod mounts Istio's per-ServiceAccount
	// secret (Ambassador 1.x with Istio <= 1.4).
	ModeLegacySecret
	// ModeAmbient means ztunnel does mTLS for the pod; there are no certificate files
	// and nothing to wire.
	ModeAmbient
)

// String names the mode as messages use it.
func (m Mode) String() string {
	switch m {
	case ModeSidecar:
		return "sidecar"
	case ModeLegacySecret:
		return "legacy-secret"
	case ModeAmbient:
		return "ambient"
	default:
		return "none"
	}
}

// ModeOf decides how pod (in namespace ns) gets Istio's certificates. The legacy
// secret mode comes from the configuration (edgeProxy.certMode: secret) or the pod
// annotation meshgate.io/cert-mode: secret. Otherwise Istio decides
// (istio.PodDataPlane), on the pod as meshgate leaves it: a
// sidecar.istio.io/inject label or annotation that meshgate flips (see
// InjectBlocks; vendor YAML ships "false") does not count, so the namespace and
// the pod's other labels decide. A World that does not know the namespace means
// "no namespace labels".
func ModeOf(ctx context.Context, pod *corev1.Pod, ns string, w policy.World, cfg *policy.Config) (Mode, error) {
	if pod == nil || cfg == nil {
		return ModeNone, nil
	}
	if cfg.EdgeProxy.CertMode == policy.CertModeSecret || pod.Annotations[policy.AnnotationCertMode] == policy.CertModeSecret {
		return ModeLegacySecret, nil
	}
	n, err := namespaceOf(ctx, ns, w)
	if err != nil {
		return ModeNone, err
	}
	return dataPlaneMode(istio.PodDataPlane(n, liftedMeta(pod))), nil
}

// HostNetworkBlocksSidecar reports whether pod would be in sidecar mode but for
// spec.hostNetwork: true, which Istio never injects (no istio-proxy then writes
// the certificates).
func HostNetworkBlocksSidecar(ctx context.Context, pod *corev1.Pod, ns string, w policy.World, cfg *policy.Config) (bool, error) {
	if pod == nil || !pod.Spec.HostNetwork {
		return false, nil
	}
	if mode, err := ModeOf(ctx, pod, ns, w, cfg); err != nil || mode != ModeNone {
		return false, err
	}
	n, err := namespaceOf(ctx, ns, w)
	if err != nil {
		return false, err
	}
	meta := liftedMeta(pod)
	meta.HostNetwork = false
	return istio.SidecarInjected(n, meta), nil
}

func namespaceOf(ctx context.Context, ns string, w policy.World) (policy.Namespace, error) {
	if w != nil {
		n, ok, err := w.Namespace(ctx, ns)
		if err != nil {
			return policy.Namespace{}, fmt.Errorf("look up namespace %q: %w", ns, err)
		}
		if ok {
			return n, nil
		}
	}
	return policy.Namespace{Name: ns}, nil
}

// liftedMeta is what Istio reads of pod once meshgate has lifted the edge
// proxy's injection opt-out: sidecar.istio.io/inject values that InjectBlocks
// are dropped.
func liftedMeta(pod *corev1.Pod) istio.PodMeta {
	lift := func(m map[string]string) map[string]string {
		v, ok := m[istio.SidecarInject]
		if !ok || !istio.InjectBlocks(v) {
			return m
		}
		out := maps.Clone(m)
		delete(out, istio.SidecarInject)
		return out
	}
	return istio.PodMeta{Labels: lift(pod.Labels), Annotations: lift(pod.Annotations), HostNetwork: pod.Spec.HostNetwork}
}

func dataPlaneMode(dp istio.DataPlane) Mode {
	switch dp {
	case istio.Sidecar:
		return ModeSidecar
	case istio.Ambient:
		return ModeAmbient
	}
	return ModeNone
}

// UnknownCertMode returns the pod's meshgate.io/cert-mode annotation when it is set
// to something meshgate does not know (it is then read as "auto").
func UnknownCertMode(pod *corev1.Pod) (string, bool) {
	if pod == nil {
		return "", false
	}
	v, ok := pod.Annotations[policy.AnnotationCertMode]
	if !ok || v == policy.CertModeAuto || v == policy.CertModeSecret {
		return "", false
	}
	return v, true
}

// EdgeContainer returns the index in spec.containers of the edge container, or -1
// when the pod has none. In order: the first container with env
// AMBASSADOR_NAMESPACE; the first declaring containerPort 8877 (Emissary's admin
// port); the first whose liveness, readiness or startup probe uses port 8877 (the
// chart probes the admin port, which a hand-written pod may not declare); else the
// first container. istio-proxy is never the edge container (Istio puts it first
// when holdApplicationUntilProxyStarts is set).
func EdgeContainer(pod *corev1.Pod) int {
	if pod == nil {
		return -1
	}
	cs := pod.Spec.Containers
	for i := range cs {
		if cs[i].Name != ProxyContainerName && FindEnv(&cs[i], EnvNamespace) >= 0 {
			return i
		}
	}
	for i := range cs {
		if cs[i].Name == ProxyContainerName {
			continue
		}
		for _, p := range cs[i].Ports {
			if p.ContainerPort == AdminPort {
				return i
			}
		}
	}
	for i := range cs {
		if cs[i].Name == ProxyContainerName {
			continue
		}
		for _, pr := range []*corev1.Probe{cs[i].LivenessProbe, cs[i].ReadinessProbe, cs[i].StartupProbe} {
			if probePort(pr) == AdminPort {
				return i
			}
		}
	}
	for i := range cs {
		if cs[i].Name != ProxyContainerName {
			return i
		}
	}
	return -1
}

func probePort(p *corev1.Probe) int32 {
	switch {
	case p == nil:
		return 0
	case p.HTTPGet != nil:
		return p.HTTPGet.Port.IntVal
	case p.TCPSocket != nil:
		return p.TCPSocket.Port.IntVal
	case p.GRPC != nil:
		return p.GRPC.Port
	}
	return 0
}

// ContainerRef locates a container in a pod spec.
type ContainerRef struct {
	// List is "containers" or "initContainers", as in the JSON.
	List string
	// Index is the position in that list.
	Index int
}

// Get returns the referenced container of pod.
func (r ContainerRef) Get(pod *corev1.Pod) *corev1.Container {
	if r.List == "initContainers" {
		return &pod.Spec.InitContainers[r.Index]
	}
	return &pod.Spec.Containers[r.Index]
}

// IstioProxy finds the injected istio-proxy: a regular container, or (native
// sidecars, Istio >= 1.19 with ENABLE_NATIVE_SIDECARS) an init container.
func IstioProxy(pod *corev1.Pod) (ContainerRef, bool) {
	if pod == nil {
		return ContainerRef{}, false
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == ProxyContainerName {
			return ContainerRef{List: "containers", Index: i}, true
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == ProxyContainerName {
			return ContainerRef{List: "initContainers", Index: i}, true
		}
	}
	return ContainerRef{}, false
}

// IstioInit returns the index of the istio-init init container, or -1.
func IstioInit(pod *corev1.Pod) int {
	if pod == nil {
		return -1
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == InitContainerName {
			return i
		}
	}
	return -1
}

// FindEnv returns the index of the env var name in c, or -1. When a name repeats,
// the last one wins, as in the kubelet.
func FindEnv(c *corev1.Container, name string) int {
	for i := len(c.Env) - 1; i >= 0; i-- {
		if c.Env[i].Name == name {
			return i
		}
	}
	return -1
}

// FindVolume returns the index of the pod volume name, or -1.
func FindVolume(pod *corev1.Pod, name string) int {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return i
		}
	}
	return -1
}

// FindMount returns the index of the first mount of volume name in c, or -1.
func FindMount(c *corev1.Container, name string) int {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == name {
			return i
		}
	}
	return -1
}

// FindMountAt returns the index of the first mount at dir (trailing slashes
// ignored) in c, or -1.
func FindMountAt(c *corev1.Container, dir string) int {
	for i := range c.VolumeMounts {
		if SameDir(c.VolumeMounts[i].MountPath, dir) {
			return i
		}
	}
	return -1
}

// SameDir reports whether two non-empty paths name the same directory
// ("/etc/istio-certs/" is "/etc/istio-certs").
func SameDir(a, b string) bool {
	return a != "" && b != "" && path.Clean(a) == path.Clean(b)
}

// VolumeSource describes a volume's source for messages: `emptyDir`,
// `secret "istio.default"`, `configMap "x"`, ...
func VolumeSource(v *corev1.Volume) string {
	switch s := v.VolumeSource; {
	case s.EmptyDir != nil:
		if s.EmptyDir.Medium != "" {
			return "emptyDir (medium " + string(s.EmptyDir.Medium) + ")"
		}
		return "emptyDir"
	case s.Secret != nil:
		return "secret " + quote(s.Secret.SecretName)
	case s.ConfigMap != nil:
		return "configMap " + quote(s.ConfigMap.Name)
	case s.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim " + quote(s.PersistentVolumeClaim.ClaimName)
	case s.HostPath != nil:
		return "hostPath " + quote(s.HostPath.Path)
	case s.Projected != nil:
		return "projected volume"
	case s.CSI != nil:
		return "csi volume " + quote(s.CSI.Driver)
	}
	return "volume of another kind"
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// ServiceAccount returns the pod's service account: serviceAccountName, else the
// deprecated serviceAccount, else "" (the API server defaults it to "default").
func ServiceAccount(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	// The deprecated field is still honoured by the API server.
	return pod.Spec.DeprecatedServiceAccount
}

// LegacySecretName is the Istio <= 1.4 secret for service account sa ("" means
// the default account).
func LegacySecretName(sa string) string {
	if sa == "" {
		sa = DefaultServiceAccount
	}
	return LegacySecretPrefix + sa
}

// meshOptIn is the match condition for edge proxies in namespaces whose labels
// give an ordinary pod no sidecar: ModeOf can still find a mode with something
// to do there only from the pod's own metadata, and the mutation reports an
// unknown meshgate.io/cert-mode anywhere. So the pod must carry
// meshgate.io/cert-mode (other than "auto"), Istio's sidecar.istio.io/status
// (already injected), or a label that makes Istio's injector take it
// (istio.io/rev, sidecar.istio.io/inject=true). Ambient enrolment needs
// nothing wired, so istio.io/dataplane-mode does not count.
var meshOptIn = admissionregistrationv1.MatchCondition{
	Name: "mesh-opt-in",
	Expression: policy.CELAnnotationIsNot(policy.AnnotationCertMode, policy.CertModeAuto) +
		" || " + policy.CELHasAnnotation(istio.AnnotationSidecarStatus) +
		" || " + policy.CELHasLabel(istio.LabelIstioRev) +
		" || " + policy.CELLabelIs(istio.SidecarInject, istio.InjectOn),
}

// EdgeProxyAdmission is the admission scope of the edge-proxy pod rules
// (edge-proxy-istio-certs, edge-proxy-wiring): only edge proxies
// (Config.IsEdgeProxy), and with edgeProxy.certMode "auto" only where ModeOf
// can find a sidecar or legacy-secret mode: in namespaces that give pods a
// sidecar by their labels (istio-injection=enabled, or istio.io/rev), and
// elsewhere the pods that opt in by their own metadata (meshOptIn). With
// certMode "secret" every edge proxy, in every namespace.
var EdgeProxyAdmission = &policy.AdmissionScope{
	ID:      "edge-proxy-pods",
	Setting: policy.SettingCertMode,
	Variants: map[string][]policy.AdmissionWebhook{
		policy.CertModeAuto: {
			{Name: "injection", Namespaces: istio.NamespacesInjection, EdgeProxy: true},
			{Name: "revision", Namespaces: istio.NamespacesRevision, EdgeProxy: true},
			{Name: "injection-off", Namespaces: istio.NamespacesInjectionOff, EdgeProxy: true, Conditions: []admissionregistrationv1.MatchCondition{meshOptIn}},
			{Name: "no-injection-label", Namespaces: istio.NamespacesNoInjectionLabel, EdgeProxy: true, Conditions: []admissionregistrationv1.MatchCondition{meshOptIn}},
		},
		policy.CertModeSecret: {{EdgeProxy: true}},
	},
}
