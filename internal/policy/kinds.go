package policy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The World kinds: one declaration each, with the value type the rules read
// and how it is decoded. Every World implementation, the server's cache and
// RBAC, and `meshgate check` follow these declarations.

// ObjectMeta is the identity of a World object.
type ObjectMeta struct {
	Namespace string
	Name      string
}

func metaOf(o metav1.Object) ObjectMeta {
	return ObjectMeta{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// unstructuredOf returns o as an unstructured object, for the kinds the
// server caches whole (slimmed, but unstructured).
func unstructuredOf(o metav1.Object) (*unstructured.Unstructured, error) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("cannot read a %T", o)
	}
	return u, nil
}

// KindNamespace is the World kind of namespaces and their labels.
const KindNamespace WorldKind = "Namespace"

// Namespace is a namespace and its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Namespaces are looked up by name.
var Namespaces = Declare(Decl[Namespace]{
	KindDecl: KindDecl{
		Name: KindNamespace, APIKinds: []APIKind{{Kind: "Namespace", Resource: "namespaces", Version: "v1"}},
		Lookups: ByKey, ClusterScoped: true, Words: "Namespaces",
		MetadataOnly: true, Keep: Keep{Labels: true},
	},
	Decode: func(o metav1.Object) (Namespace, error) {
		return Namespace{Name: o.GetName(), Labels: o.GetLabels()}, nil
	},
})

// KindService is the World kind of Services.
const KindService WorldKind = "Service"

// Services are looked up by namespace/name. Rules read only a Service's name,
// namespace, spec.type, spec.selector and its ports' name, port, protocol and
// appProtocol: the admission server's World holds nothing else of a Service
// (world.Slim).
var Services = Declare(Decl[*corev1.Service]{
	KindDecl: KindDecl{
		Name: KindService, APIKinds: []APIKind{{Kind: "Service", Resource: "services", Version: "v1"}},
		Lookups: ByKey, Words: "Services",
		New: func() metav1.Object { return &corev1.Service{} },
	},
	Decode: func(o metav1.Object) (*corev1.Service, error) {
		switch o := o.(type) {
		case *corev1.Service:
			return o, nil
		case interface{ Service() *corev1.Service }: // world.ServiceSummary
			return o.Service(), nil
		case *unstructured.Unstructured:
			svc := &corev1.Service{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, svc); err != nil {
				return nil, fmt.Errorf("not a valid Service: %w", err)
			}
			return svc, nil
		}
		return nil, fmt.Errorf("cannot read a %T", o)
	},
})

// KindTLSContext is the World kind of Emissary TLSContexts.
const KindTLSContext WorldKind = "TLSContext"

// TLSContext is the part of an Emissary TLSContext the rules read from the
// World (its existence; the Istio TLSContext's own fields are read from the
// object itself, see emissary.ReadTLSContext).
type TLSContext struct {
	ObjectMeta
}

// TLSContexts are looked up by name across namespaces (TLSContext names are
// cluster-global in Emissary).
var TLSContexts = Declare(Decl[TLSContext]{
	KindDecl: KindDecl{
		Name: KindTLSContext, APIKinds: []APIKind{{Group: GroupEmissary, Kind: "TLSContext", Resource: "tlscontexts", CRD: "tlscontexts.getambassador.io"}},
		Lookups: ByName, Words: "Emissary TLSContexts", MetadataOnly: true,
	},
	Decode: func(o metav1.Object) (TLSContext, error) { return TLSContext{ObjectMeta: metaOf(o)}, nil },
})

// KindIstioGateway is the World kind of networking.istio.io Gateways.
const KindIstioGateway WorldKind = "networking.istio.io/Gateway"

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

// IstioGateways are looked up by name across namespaces.
var IstioGateways = Declare(Decl[IstioGateway]{
	KindDecl: KindDecl{
		Name: KindIstioGateway, APIKinds: []APIKind{{Group: GroupIstioNet, Kind: "Gateway", Resource: "gateways", CRD: "gateways.networking.istio.io"}},
		Lookups: ByName, Words: "Istio Gateways (networking.istio.io)",
		MetadataOnly: true, Keep: Keep{Annotations: []string{AnnotationAllowedNamespaces}},
	},
	Decode: func(o metav1.Object) (IstioGateway, error) {
		gw := IstioGateway{ObjectMeta: metaOf(o)}
		gw.AllowedNamespaces, gw.Shared = o.GetAnnotations()[AnnotationAllowedNamespaces]
		return gw, nil
	},
})

// KindGateway is the World kind of gateway.networking.k8s.io Gateways.
const KindGateway WorldKind = "gateway.networking.k8s.io/Gateway"

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

// Gateways are looked up by namespace/name.
var Gateways = Declare(Decl[Gateway]{
	KindDecl: KindDecl{
		Name: KindGateway, APIKinds: []APIKind{{Group: GroupGatewayAPI, Kind: "Gateway", Resource: "gateways", CRD: "gateways.gateway.networking.k8s.io"}},
		Lookups: ByKey, Words: "Gateway API Gateways (gateway.networking.k8s.io)",
		Keep: Keep{Spec: []SpecPath{
			{Path: []string{"gatewayClassName"}},
			{Path: []string{"listeners"}, Only: []SpecPath{
				{Path: []string{"name"}}, {Path: []string{"port"}}, {Path: []string{"protocol"}},
				{Path: []string{"tls"}, Only: []SpecPath{{Path: []string{"mode"}}}},
				{Path: []string{"allowedRoutes"}},
			}},
		}},
	},
	Decode: decodeGateway,
})

// decodeGateway reads the class and the listeners' protocol, TLS mode and
// allowedRoutes.
func decodeGateway(o metav1.Object) (Gateway, error) {
	u, err := unstructuredOf(o)
	if err != nil {
		return Gateway{}, err
	}
	gw := Gateway{ObjectMeta: metaOf(u)}
	gw.ClassName, _, _ = unstructured.NestedString(u.Object, "spec", "gatewayClassName")
	listeners, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
	for _, l := range listeners {
		lm, ok := l.(map[string]any)
		if !ok {
			continue
		}
		var out Listener
		out.Name, _, _ = unstructured.NestedString(lm, "name")
		switch port := lm["port"].(type) {
		case int64:
			if port > 0 && port <= 65535 {
				out.Port = int32(port)
			}
		case float64:
			if port > 0 && port <= 65535 && port == float64(int32(port)) {
				out.Port = int32(port)
			}
		}
		out.Protocol, _, _ = unstructured.NestedString(lm, "protocol")
		if tls, ok := lm["tls"].(map[string]any); ok {
			out.TLSMode, _, _ = unstructured.NestedString(tls, "mode")
			if out.TLSMode == "" {
				out.TLSMode = "Terminate"
			}
		}
		out.From, _, _ = unstructured.NestedString(lm, "allowedRoutes", "namespaces", "from")
		if out.From == "" {
			out.From = "Same"
		}
		if sel, ok, _ := unstructured.NestedMap(lm, "allowedRoutes", "namespaces", "selector"); ok {
			ls := &metav1.LabelSelector{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel, ls); err == nil {
				out.Selector = ls
			}
		}
		kinds, _, _ := unstructured.NestedSlice(lm, "allowedRoutes", "kinds")
		for _, k := range kinds {
			km, ok := k.(map[string]any)
			if !ok {
				continue
			}
			group, found, _ := unstructured.NestedString(km, "group")
			if !found {
				group = GroupGatewayAPI
			}
			kind, _, _ := unstructured.NestedString(km, "kind")
			out.Kinds = append(out.Kinds, group+"/"+kind)
		}
		gw.Listeners = append(gw.Listeners, out)
	}
	return gw, nil
}

// KindPeerAuthentication is the World kind of Istio PeerAuthentications.
const KindPeerAuthentication WorldKind = "PeerAuthentication"

// PeerAuthentication is the part of an Istio PeerAuthentication the rules read.
type PeerAuthentication struct {
	ObjectMeta
	// Selector is spec.selector.matchLabels; empty means namespace-wide.
	Selector map[string]string
	// Mode is spec.mtls.mode: STRICT, PERMISSIVE, DISABLE, UNSET or "".
	Mode string
}

// PeerAuthentications are looked up by namespace.
var PeerAuthentications = Declare(Decl[PeerAuthentication]{
	KindDecl: KindDecl{
		Name: KindPeerAuthentication, APIKinds: []APIKind{{Group: GroupIstioSec, Kind: "PeerAuthentication", Resource: "peerauthentications", CRD: "peerauthentications.security.istio.io"}},
		Lookups: InNamespace, Words: "PeerAuthentications",
		Keep: Keep{Spec: []SpecPath{{Path: []string{"selector", "matchLabels"}}, {Path: []string{"mtls", "mode"}}}},
	},
	Decode: func(o metav1.Object) (PeerAuthentication, error) {
		u, err := unstructuredOf(o)
		if err != nil {
			return PeerAuthentication{}, err
		}
		pa := PeerAuthentication{ObjectMeta: metaOf(u)}
		pa.Selector, _, _ = unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
		pa.Mode, _, _ = unstructured.NestedString(u.Object, "spec", "mtls", "mode")
		return pa, nil
	},
})

// KindModule is the World kind of Emissary Modules.
const KindModule WorldKind = "Module"

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

// Modules are looked up by name across namespaces.
var Modules = Declare(Decl[Module]{
	KindDecl: KindDecl{
		Name: KindModule, APIKinds: []APIKind{{Group: GroupEmissary, Kind: "Module", Resource: "modules", CRD: "modules.getambassador.io"}},
		Lookups: ByName, Words: "Emissary Modules",
		Keep: Keep{Spec: []SpecPath{
			{Path: []string{"config", "use_ambassador_namespace_for_service_resolution"}},
			{Path: []string{"config", "resolver"}},
		}},
	},
	Decode: func(o metav1.Object) (Module, error) {
		u, err := unstructuredOf(o)
		if err != nil {
			return Module{}, err
		}
		mod := Module{ObjectMeta: metaOf(u)}
		mod.UseAmbassadorNamespaceForServiceResolution, _, _ = unstructured.NestedBool(u.Object, "spec", "config", "use_ambassador_namespace_for_service_resolution")
		mod.Resolver, _, _ = unstructured.NestedString(u.Object, "spec", "config", "resolver")
		return mod, nil
	},
})

// KindResolver is the World kind of Emissary resolvers, of any resolver kind.
const KindResolver WorldKind = "Resolver"

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

// Resolvers are looked up by name across namespaces (and resolver kinds).
var Resolvers = Declare(Decl[Resolver]{
	KindDecl: KindDecl{
		Name: KindResolver, APIKinds: []APIKind{
			{Group: GroupEmissary, Kind: KubernetesServiceResolver, Resource: "kubernetesserviceresolvers", CRD: "kubernetesserviceresolvers.getambassador.io"},
			{Group: GroupEmissary, Kind: KubernetesEndpointResolver, Resource: "kubernetesendpointresolvers", CRD: "kubernetesendpointresolvers.getambassador.io"},
			{Group: GroupEmissary, Kind: ConsulResolver, Resource: "consulresolvers", CRD: "consulresolvers.getambassador.io"},
		},
		Lookups: ByName, Words: "Emissary resolvers", MetadataOnly: true,
	},
	Decode: func(o metav1.Object) (Resolver, error) {
		r := Resolver{ObjectMeta: metaOf(o)}
		if t, ok := o.(interface{ GetObjectKind() schema.ObjectKind }); ok {
			r.Kind = t.GetObjectKind().GroupVersionKind().Kind
		}
		return r, nil
	},
})
