package policy

import (
	"context"
	"fmt"
)

// World is the read-only view of the cluster that rules may consult. The admission
// server answers it from an informer cache; `meshgate check` from the manifests it
// was given (plus --world files). Implementations must be safe for concurrent use
// and must not be modified through the values they return.
//
// What a World holds is declared once per kind (Declare, kinds.go); rules read
// it with Get, ListByName and ListInNamespace.
type World interface {
	// Find returns the objects of kind that q selects, as a []T of the kind's
	// value type (the T of its Decl[T]), or nil when there is none. A World
	// answers every lookup its kinds declare (KindDecl.Lookups).
	Find(ctx context.Context, kind WorldKind, q Query) (any, error)
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

// Lookup is a way of looking World objects up; a kind declares the ones
// rules use (KindDecl.Lookups), and the Worlds index exactly those.
type Lookup uint8

// The lookups.
const (
	// ByKey selects the object namespace/name (name alone for a
	// cluster-scoped kind).
	ByKey Lookup = 1 << iota
	// ByName selects the objects called name, in every namespace.
	ByName
	// InNamespace selects every object in a namespace.
	InNamespace
)

// Lookups are every lookup, in order.
var Lookups = []Lookup{ByKey, ByName, InNamespace}

func (l Lookup) String() string {
	switch l {
	case ByKey:
		return "by namespace/name"
	case ByName:
		return "by name"
	case InNamespace:
		return "by namespace"
	}
	return fmt.Sprintf("Lookup(%d)", uint8(l))
}

// Query selects World objects: By says which of Namespace and Name count.
type Query struct {
	By        Lookup
	Namespace string
	Name      string
}

// Get returns the object of kind k called namespace/name (namespace "" for a
// cluster-scoped kind), and whether w holds it.
func Get[T any](ctx context.Context, w World, k *Decl[T], namespace, name string) (T, bool, error) {
	list, err := find(ctx, w, k, Query{By: ByKey, Namespace: namespace, Name: name})
	if err != nil || len(list) == 0 {
		var zero T
		return zero, false, err
	}
	return list[len(list)-1], true, nil
}

// ListByName returns the objects of kind k called name, in every namespace.
func ListByName[T any](ctx context.Context, w World, k *Decl[T], name string) ([]T, error) {
	return find(ctx, w, k, Query{By: ByName, Name: name})
}

// ListInNamespace returns the objects of kind k in namespace.
func ListInNamespace[T any](ctx context.Context, w World, k *Decl[T], namespace string) ([]T, error) {
	return find(ctx, w, k, Query{By: InNamespace, Namespace: namespace})
}

func find[T any](ctx context.Context, w World, k *Decl[T], q Query) ([]T, error) {
	if k.Lookups&q.By == 0 {
		return nil, fmt.Errorf("World kind %s is not declared to be looked up %s", k.Name, q.By)
	}
	v, err := w.Find(ctx, k.Name, q)
	if err != nil || v == nil {
		return nil, err
	}
	list, ok := v.([]T)
	if !ok {
		return nil, fmt.Errorf("the World answered a %T for %s, not a %T", v, k.Name, list)
	}
	return list, nil
}
