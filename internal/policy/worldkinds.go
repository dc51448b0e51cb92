package policy

import (
	"fmt"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// API groups of the kinds the rules review and the World holds.
const (
	GroupEmissary   = "getambassador.io"
	GroupIstioNet   = "networking.istio.io"
	GroupIstioSec   = "security.istio.io"
	GroupGatewayAPI = "gateway.networking.k8s.io"
)

// Decl declares one World kind whose objects the rules read as T: everything
// every World (the in-memory one, the admission server's cache, `meshgate
// check`'s, the live audit's) needs to hold it. Declare it once (kinds.go);
// rules read it with Get, ListByName and ListInNamespace.
type Decl[T any] struct {
	KindDecl
	// Decode reads T from an object of the kind, in any form a World holds it:
	// *unstructured.Unstructured (manifests, live reads) or what the server's
	// cache keeps of it (world.Slim: *metav1.PartialObjectMetadata for a
	// metadata-only kind; New's type, or its summary, for a typed kind).
	Decode func(metav1.Object) (T, error)
}

// KindDecl is the part of a World kind's declaration that does not depend on
// the Go type its objects are read as.
type KindDecl struct {
	// Name is the World kind.
	Name WorldKind
	// APIKinds are the API kinds that make the World kind: one, or several
	// (Emissary's three resolver kinds are Resolvers).
	APIKinds []APIKind
	// Lookups are the ways rules look it up (ByKey|ByName|InNamespace); the
	// Worlds index exactly these.
	Lookups Lookup
	// ClusterScoped kinds have no namespace.
	ClusterScoped bool
	// Words name its objects in messages ("Emissary TLSContexts").
	Words string
	// MetadataOnly: the rules need metadata only (Keep.Labels,
	// Keep.Annotations), so the server caches metadata only.
	MetadataOnly bool
	// New returns the typed object the server's cache watches the kind as
	// (nil: metadata only, or unstructured); world.Slim summarizes it.
	New func() metav1.Object
	// Keep is what the server's cache keeps of an object (world.Slim), beyond
	// its identity.
	Keep Keep
}

// APIKind is one API kind of a World kind: where the API serves it.
type APIKind struct {
	Group    string
	Kind     string
	Resource string
	// Version is the version read for a built-in kind; a CRD kind is read at
	// the version the API server prefers.
	Version string
	// CRD is the CustomResourceDefinition that serves the kind ("" for built-in
	// kinds, which are always there).
	CRD string
}

// Keep is what the admission server's cache keeps of an object beyond its
// identity: whatever the kind's Decode reads.
type Keep struct {
	// Labels: all of them (metadata-only kinds).
	Labels bool
	// Annotations are the annotations kept (metadata-only kinds).
	Annotations []string
	// Spec are the fields under spec kept (unstructured kinds).
	Spec []SpecPath
}

// SpecPath is a field to keep. With Only set, an object keeps only those of
// its fields, and a list keeps only those fields of each of its objects
// (anything else is kept as it is).
type SpecPath struct {
	Path []string
	Only []SpecPath
}

// Declared is a declared World kind, whatever its value type: the World
// implementations hold every kind through it.
type Declared interface {
	// Decl returns the kind's declaration.
	Decl() *KindDecl
	// Append reads o (an object of the kind, in any form Decode takes) and
	// appends it to list: a []T of the kind's value type, or nil.
	Append(list any, o metav1.Object) (any, error)
}

// Decl implements Declared.
func (k *Decl[T]) Decl() *KindDecl { return &k.KindDecl }

// Append implements Declared.
func (k *Decl[T]) Append(list any, o metav1.Object) (any, error) {
	l, _ := list.([]T)
	v, err := k.Decode(o)
	if err != nil {
		return list, fmt.Errorf("%s %s: %w", k.Name, objectName(o), err)
	}
	return append(l, v), nil
}

func objectName(o metav1.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// WorldKindInfo is one API kind of the World, as the admission server's
// informers and RBAC and `meshgate check --cluster`'s reads see it (derived
// from the declarations).
type WorldKindInfo struct {
	// Kind is the World kind it makes.
	Kind     WorldKind
	Group    string
	APIKind  string
	Resource string
	Version  string
	CRD      string
	// MetadataOnly: the server caches metadata only (KindDecl.MetadataOnly).
	MetadataOnly bool
	// ByName: the World looks these up by name across namespaces, so the
	// server indexes them by name.
	ByName bool
	// Decl is the World kind's declaration.
	Decl Declared
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
	declared     []Declared
	worldKinds   []WorldKindInfo
	byGK         = map[schema.GroupKind]WorldKindInfo{}
)

// Declare declares a World kind and returns it, for the rules to look it up
// with. It panics on a World kind or API kind declared twice, a CRD kind
// without its CRD name's shape, or a declaration without a decoder, lookup or
// words.
func Declare[T any](k Decl[T]) *Decl[T] {
	p := &k
	if err := declare(p); err != nil {
		panic("policy.Declare: " + err.Error())
	}
	return p
}

func declare(d Declared) error {
	k := d.Decl()
	worldKindsMu.Lock()
	defer worldKindsMu.Unlock()
	if k.Lookups == 0 || len(k.APIKinds) == 0 || k.Words == "" {
		return fmt.Errorf("%s: no lookup, API kind or words", k.Name)
	}
	if kd, ok := d.(interface{ hasDecoder() bool }); ok && !kd.hasDecoder() {
		return fmt.Errorf("%s: no Decode", k.Name)
	}
	for _, have := range declared {
		if have.Decl().Name == k.Name {
			return fmt.Errorf("%s declared twice", k.Name)
		}
	}
	var infos []WorldKindInfo
	for _, a := range k.APIKinds {
		info := WorldKindInfo{
			Kind: k.Name, Group: a.Group, APIKind: a.Kind, Resource: a.Resource, Version: a.Version, CRD: a.CRD,
			MetadataOnly: k.MetadataOnly, ByName: k.Lookups&ByName != 0, Decl: d,
		}
		if _, dup := byGK[info.GroupKind()]; dup {
			return fmt.Errorf("%s: API kind %s declared twice", k.Name, info.GroupKind())
		}
		if a.Group != "" && a.CRD != a.Resource+"."+a.Group {
			return fmt.Errorf("%s: CRD %q, want %s.%s", k.Name, a.CRD, a.Resource, a.Group)
		}
		infos = append(infos, info)
	}
	for _, info := range infos {
		byGK[info.GroupKind()] = info
	}
	// Readers share these slices: they are replaced, never appended to in place.
	declared = slices.Clip(append(slices.Clone(declared), d))
	worldKinds = slices.Clip(append(slices.Clone(worldKinds), infos...))
	return nil
}

func (k *Decl[T]) hasDecoder() bool { return k.Decode != nil }

// Undeclare removes World kind kind (for tests that declare a kind of their
// own; meshgate's kinds are declared in kinds.go).
func Undeclare(kind WorldKind) {
	worldKindsMu.Lock()
	defer worldKindsMu.Unlock()
	declared = slices.Clip(slices.DeleteFunc(slices.Clone(declared), func(d Declared) bool { return d.Decl().Name == kind }))
	worldKinds = slices.Clip(slices.DeleteFunc(slices.Clone(worldKinds), func(k WorldKindInfo) bool { return k.Kind == kind }))
	for gk, info := range byGK {
		if info.Kind == kind {
			delete(byGK, gk)
		}
	}
}

// DeclaredKinds returns every declared World kind, in declaration order
// (shared: not to be modified).
func DeclaredKinds() []Declared {
	worldKindsMu.RLock()
	defer worldKindsMu.RUnlock()
	return declared
}

// LookupDeclared returns the declaration of World kind kind.
func LookupDeclared(kind WorldKind) (Declared, bool) {
	worldKindsMu.RLock()
	defer worldKindsMu.RUnlock()
	for _, d := range declared {
		if d.Decl().Name == kind {
			return d, true
		}
	}
	return nil, false
}

// WorldKinds returns every declared API kind of the World, in declaration
// order (shared: not to be modified).
func WorldKinds() []WorldKindInfo {
	worldKindsMu.RLock()
	defer worldKindsMu.RUnlock()
	return worldKinds
}

// LookupWorldKind returns the declarations of the API kinds that make World
// kind kind (one, or several for Resolver), and whether there is any.
func LookupWorldKind(kind WorldKind) ([]WorldKindInfo, bool) {
	var out []WorldKindInfo
	for _, k := range WorldKinds() {
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
	k, ok := byGK[gk]
	return k, ok
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
