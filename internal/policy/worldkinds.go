package policy

import (
	"fmt"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// API groups of the kinds the rules review and the World holds.
const (
	GroupEmissary   = "getambassador.io"
	GroupIstioNet   = "networking.istio.io"
	GroupIstioSec   = "security.istio.io"
	GroupGatewayAPI = "gateway.networking.k8s.io"
)

// WorldKindInfo declares one API kind of object the World holds: which World
// kind it is (several API kinds can make one World kind: Emissary's three
// resolver kinds are Resolvers), where the API serves it, how the admission
// server caches it, and (through the rules' Reads) which rules need it. The
// admission server's informers and RBAC and `meshgate check --cluster`'s reads
// are derived from these declarations.
type WorldKindInfo struct {
	Kind     WorldKind
	Group    string
	APIKind  string
	Resource string
	// Version is the version read for a built-in kind; a CRD kind is read at
	// the version the API server prefers.
	Version string
	// CRD is the CustomResourceDefinition that serves the kind ("" for built-in
	// kinds, which are always there).
	CRD string
	// MetadataOnly: the rules need names and labels only, so the server caches
	// metadata only.
	MetadataOnly bool
	// ByName: the World looks these up by name across namespaces, so the
	// server indexes them by name.
	ByName bool
}

// GroupKind returns the kind's group and kind.
func (k WorldKindInfo) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: k.Group, Kind: k.APIKind}
}

// GroupResource returns the kind's group and resource.
func (k WorldKindInfo) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: k.Group, Resource: k.Resource}
}

var (
	worldKindsMu sync.RWMutex
	worldKinds   = []WorldKindInfo{
		{Kind: KindNamespace, APIKind: "Namespace", Resource: "namespaces", Version: "v1", MetadataOnly: true},
		{Kind: KindService, APIKind: "Service", Resource: "services", Version: "v1"},
		{Kind: KindTLSContext, Group: GroupEmissary, APIKind: "TLSContext", Resource: "tlscontexts",
			CRD: "tlscontexts.getambassador.io", MetadataOnly: true, ByName: true},
		{Kind: KindIstioGateway, Group: GroupIstioNet, APIKind: "Gateway", Resource: "gateways",
			CRD: "gateways.networking.istio.io", MetadataOnly: true, ByName: true},
		{Kind: KindGateway, Group: GroupGatewayAPI, APIKind: "Gateway", Resource: "gateways",
			CRD: "gateways.gateway.networking.k8s.io"},
		{Kind: KindPeerAuthentication, Group: GroupIstioSec, APIKind: "PeerAuthentication", Resource: "peerauthentications",
			CRD: "peerauthentications.security.istio.io"},
		{Kind: KindModule, Group: GroupEmissary, APIKind: "Module", Resource: "modules",
			CRD: "modules.getambassador.io", ByName: true},
		{Kind: KindResolver, Group: GroupEmissary, APIKind: KubernetesServiceResolver, Resource: "kubernetesserviceresolvers",
			CRD: "kubernetesserviceresolvers.getambassador.io", MetadataOnly: true, ByName: true},
		{Kind: KindResolver, Group: GroupEmissary, APIKind: KubernetesEndpointResolver, Resource: "kubernetesendpointresolvers",
			CRD: "kubernetesendpointresolvers.getambassador.io", MetadataOnly: true, ByName: true},
		{Kind: KindResolver, Group: GroupEmissary, APIKind: ConsulResolver, Resource: "consulresolvers",
			CRD: "consulresolvers.getambassador.io", MetadataOnly: true, ByName: true},
	}
)

// WorldKinds returns every declared API kind of the World, in declaration
// order.
func WorldKinds() []WorldKindInfo {
	worldKindsMu.RLock()
	defer worldKindsMu.RUnlock()
	return append([]WorldKindInfo(nil), worldKinds...)
}

// LookupWorldKind returns the declarations of the API kinds that make World
// kind kind (one, or several for Resolver), and whether there is any.
func LookupWorldKind(kind WorldKind) ([]WorldKindInfo, bool) {
	worldKindsMu.RLock()
	defer worldKindsMu.RUnlock()
	var out []WorldKindInfo
	for _, k := range worldKinds {
		if k.Kind == kind {
			out = append(out, k)
		}
	}
	return out, len(out) > 0
}

// WorldKindOf returns the World kind of objects of gk, if the World holds them.
func WorldKindOf(gk schema.GroupKind) (WorldKindInfo, bool) {
	worldKindsMu.RLock()
	defer worldKindsMu.RUnlock()
	for _, k := range worldKinds {
		if k.GroupKind() == gk {
			return k, true
		}
	}
	return WorldKindInfo{}, false
}

// RegisterWorldKind declares an API kind of the World (for tests that declare
// a kind of their own; meshgate's kinds are declared above). It panics on a
// group/kind declared twice, or a CRD kind without its CRD name's shape.
func RegisterWorldKind(k WorldKindInfo) {
	worldKindsMu.Lock()
	defer worldKindsMu.Unlock()
	for _, have := range worldKinds {
		if have.GroupKind() == k.GroupKind() {
			panic(fmt.Sprintf("policy.RegisterWorldKind: %s declared twice", k.Kind))
		}
	}
	if k.Group != "" && k.CRD != k.Resource+"."+k.Group {
		panic(fmt.Sprintf("policy.RegisterWorldKind: %s: CRD %q, want %s.%s", k.Kind, k.CRD, k.Resource, k.Group))
	}
	worldKinds = append(worldKinds, k)
}

// UnregisterWorldKind removes the API kinds of World kind kind declared with
// RegisterWorldKind.
func UnregisterWorldKind(kind WorldKind) {
	worldKindsMu.Lock()
	defer worldKindsMu.Unlock()
	worldKinds = slices.DeleteFunc(slices.Clone(worldKinds), func(k WorldKindInfo) bool { return k.Kind == kind })
}

// WorldKindsRead returns the declared API kinds of the World kinds that some
// registered rule reads, in declaration order: what the admission server
// caches.
func WorldKindsRead() []WorldKindInfo {
	read := map[WorldKind]bool{}
	for _, r := range Rules() {
		for _, wk := range r.Reads {
			read[wk] = true
		}
	}
	var out []WorldKindInfo
	for _, k := range WorldKinds() {
		if read[k.Kind] {
			out = append(out, k)
		}
	}
	return out
}
