package policy

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// World is the read-only view of the cluster that rules may consult. The admission
// server answers it from an informer cache; `meshgate check` from the manifests it
// was given (plus --world files). Implementations must be safe for concurrent use
// and must not be modified through the values they return.
type World interface {
	// Namespace returns the namespace named name, and whether the World knows it.
	Namespace(ctx context.Context, name string) (Namespace, bool, error)
	// Service returns the Service namespace/name, and whether the World knows it.
	// Rules read only its name, namespace, spec.type, spec.selector and its
	// ports' name, port, protocol and appProtocol: the admission server's
	// World holds nothing else of a Service (world.Slim).
	Service(ctx context.Context, namespace, name string) (*corev1.Service, bool, error)
	// TLSContexts returns every Emissary TLSContext called name, in any namespace
	// (TLSContext names are cluster-global in Emissary).
	TLSContexts(ctx context.Context, name string) ([]TLSContext, error)
	// IstioGateways returns the networking.istio.io Gateways called name, in any
	// namespace.
	IstioGateways(ctx context.Context, name string) ([]IstioGateway, error)
	// Gateway returns the gateway.networking.k8s.io Gateway namespace/name.
	Gateway(ctx context.Context, namespace, name string) (Gateway, bool, error)
	// PeerAuthentications returns the security.istio.io PeerAuthentications in
	// namespace.
	PeerAuthentications(ctx context.Context, namespace string) ([]PeerAuthentication, error)
	// Modules returns the Emissary Modules called name, in any namespace.
	Modules(ctx context.Context, name string) ([]Module, error)
	// Resolvers returns the Emissary resolvers (of any resolver kind) called
	// name, in any namespace.
	Resolvers(ctx context.Context, name string) ([]Resolver, error)
	// Has reports whether the World holds objects of kind at all (false when the
	// CRD is not installed or the CLI was given none), so rules can tell "absent"
	// from "unknown".
	Has(kind WorldKind) bool
	// Complete reports whether the World holds every object of kind that the
	// cluster has: true for the admission server's cache and for kinds
	// `meshgate check` listed from a cluster, false for kinds it only read
	// from files. Only a complete World proves an object absent.
	Complete(kind WorldKind) bool
}

// WorldKind names the kinds of objects a World holds.
type WorldKind string

// The kinds of objects a World can hold.
const (
	KindNamespace          WorldKind = "Namespace"
	KindService            WorldKind = "Service"
	KindTLSContext         WorldKind = "TLSContext"
	KindIstioGateway       WorldKind = "networking.istio.io/Gateway"
	KindGateway            WorldKind = "gateway.networking.k8s.io/Gateway"
	KindPeerAuthentication WorldKind = "PeerAuthentication"
	KindModule             WorldKind = "Module"
	KindResolver           WorldKind = "Resolver"
)

// ObjectMeta is the identity of a World object.
type ObjectMeta struct {
	Namespace string
	Name      string
}

// AnnotationAllowedNamespaces is the annotation that, on an Istio Gateway, names the namespaces whose
// VirtualServices may bind it from another namespace (istio.ParseAllowedNamespaces
// reads it): its owner shares it, as a Gateway API listener's allowedRoutes does.
const AnnotationAllowedNamespaces = "meshgate.io/allowed-namespaces"

// IstioGateway is the part of a networking.istio.io Gateway the rules read:
// its identity and whether, and with whom, its owner shares it.
type IstioGateway struct {
	ObjectMeta
	// AllowedNamespaces is the AnnotationAllowedNamespaces annotation as
	// written; Shared is whether the Gateway carries it at all.
	AllowedNamespaces string
	Shared            bool
}

// Namespace is a namespace and its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// TLSContext is the part of an Emissary TLSContext the rules read from the
// World (its existence; the Istio TLSContext's own fields are read from the
// object itself, see emissary.ReadTLSContext).
type TLSContext struct {
	ObjectMeta
}

// Gateway is the part of a Gateway API Gateway the rules read.
type Gateway struct {
	ObjectMeta
	// ClassName is spec.gatewayClassName: which implementation attaches routes.
	ClassName string
	Listeners []Listener
}

// Listener is the part of a Gateway listener the rules read.
type Listener struct {
	Name string
	// From is allowedRoutes.namespaces.from: Same (the default), All or Selector.
	From string
	// Selector is allowedRoutes.namespaces.selector, when From is Selector.
	Selector *metav1.LabelSelector
	// Kinds is allowedRoutes.kinds (group/kind); empty means the protocol's default.
	Kinds []string
	// Port is the listener's port (0 when unset or unreadable); a parentRef with
	// a port attaches only to listeners on that port.
	Port int32
	// Protocol is the listener's protocol (HTTP, HTTPS, TLS, TCP, UDP, HBONE ...).
	Protocol string
	// TLSMode is tls.mode (Terminate or Passthrough); Terminate when tls is set
	// without a mode (the CRD's default), "" when tls is not set.
	TLSMode string
}

// PeerAuthentication is the part of an Istio PeerAuthentication the rules read.
type PeerAuthentication struct {
	ObjectMeta
	// Selector is spec.selector.matchLabels; empty means namespace-wide.
	Selector map[string]string
	// Mode is spec.mtls.mode: STRICT, PERMISSIVE, DISABLE, UNSET or "".
	Mode string
}

// Module is the part of an Emissary Module the rules read.
type Module struct {
	ObjectMeta
	// UseAmbassadorNamespaceForServiceResolution is
	// spec.config.use_ambassador_namespace_for_service_resolution: unqualified
	// Mapping services then resolve in the Module's (Emissary's) namespace.
	UseAmbassadorNamespaceForServiceResolution bool
	// Resolver is spec.config.resolver: the resolver of every Mapping that
	// names none ("" means Emissary's default, kubernetes-service).
	Resolver string
}

// Resolver kinds Emissary defines.
const (
	KubernetesServiceResolver  = "KubernetesServiceResolver"
	KubernetesEndpointResolver = "KubernetesEndpointResolver"
	ConsulResolver             = "ConsulResolver"
)

// Resolver is an Emissary resolver: its identity and kind.
type Resolver struct {
	ObjectMeta
	// Kind is KubernetesServiceResolver, KubernetesEndpointResolver or
	// ConsulResolver.
	Kind string
}

// ResolvesToService reports whether a Mapping using this resolver reaches a
// Kubernetes Service (Kubernetes service or endpoint resolution).
func (r Resolver) ResolvesToService() bool {
	return r.Kind == KubernetesServiceResolver || r.Kind == KubernetesEndpointResolver
}
