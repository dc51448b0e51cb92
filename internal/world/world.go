// Package world holds policy.World implementations over the declared World
// kinds (policy.Declare): Memory, the in-memory World that `meshgate check`
// and the tests build from a set of manifests, and Slim, what the admission
// server's cache-backed World (package cached) keeps of each object.
package world

import (
	"context"
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/policy"
)

// Memory is a policy.World over a fixed set of objects. Add objects, then read;
// reads are safe for concurrent use once adding is done.
type Memory struct {
	mu sync.RWMutex
	// index holds, per kind and declared lookup, the objects a query
	// selects: a []T of the kind's value type.
	index map[indexKey]any
	has   map[policy.WorldKind]bool
	// complete are the kinds listed from a cluster (MarkKnown).
	complete map[policy.WorldKind]bool
	// defaultNamespace is assumed for namespaced objects without one.
	defaultNamespace string
}

type indexKey struct {
	kind policy.WorldKind
	by   policy.Lookup
	ns   string
	name string
}

// keyOf is the index key q selects in kind.
func keyOf(kind policy.WorldKind, q policy.Query) indexKey {
	switch q.By {
	case policy.ByName:
		return indexKey{kind: kind, by: q.By, name: q.Name}
	case policy.InNamespace:
		return indexKey{kind: kind, by: q.By, ns: q.Namespace}
	}
	return indexKey{kind: kind, by: q.By, ns: q.Namespace, name: q.Name}
}

var _ policy.World = (*Memory)(nil)

// NewMemory returns an empty World; namespaced objects without a namespace are
// placed in defaultNamespace ("default" when empty).
func NewMemory(defaultNamespace string) *Memory {
	if defaultNamespace == "" {
		defaultNamespace = "default"
	}
	return &Memory{
		index:            map[indexKey]any{},
		has:              map[policy.WorldKind]bool{},
		complete:         map[policy.WorldKind]bool{},
		defaultNamespace: defaultNamespace,
	}
}

// KindOf tells which World kind an object is, if any (policy.Declare
// declares them).
func KindOf(u *unstructured.Unstructured) (policy.WorldKind, bool) {
	k, ok := policy.WorldKindOf(u.GroupVersionKind().GroupKind())
	return k.Kind, ok
}

// Add puts u into the World if it is a kind the World holds, and reports whether
// it did. An object its kind cannot read (a Service that does not convert) is
// an error.
func (m *Memory) Add(u *unstructured.Unstructured) (bool, error) {
	info, ok := policy.WorldKindOf(u.GroupVersionKind().GroupKind())
	if !ok {
		return false, nil
	}
	decl := info.Decl.Decl()
	if !decl.ClusterScoped && u.GetNamespace() == "" {
		u = withNamespace(u, m.defaultNamespace)
	}
	ns := u.GetNamespace()
	if decl.ClusterScoped {
		ns = ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.has[decl.Name] = true
	for _, by := range policy.Lookups {
		if decl.Lookups&by == 0 {
			continue
		}
		k := keyOf(decl.Name, policy.Query{By: by, Namespace: ns, Name: u.GetName()})
		var list any
		if by != policy.ByKey {
			list = m.index[k] // the last copy of an identity wins; lists hold every one
		}
		list, err := info.Decl.Append(list, u)
		if err != nil {
			return false, err
		}
		m.index[k] = list
	}
	return true, nil
}

// withNamespace returns a shallow copy of u placed in namespace.
func withNamespace(u *unstructured.Unstructured, namespace string) *unstructured.Unstructured {
	out := maps.Clone(u.Object)
	meta, _ := out["metadata"].(map[string]any)
	meta = maps.Clone(meta)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["namespace"] = namespace
	out["metadata"] = meta
	return &unstructured.Unstructured{Object: out}
}

// MarkKnown records that the World holds kind, even with no object of it, and
// holds all of it: the cluster was listed for kind (it has the CRD, maybe no
// object). Kinds only added from files are never complete.
func (m *Memory) MarkKnown(kind policy.WorldKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.has[kind] = true
	m.complete[kind] = true
}

// MarkAllKnown marks every declared World kind known (MarkKnown), as the
// admission server's cache holds them once synced.
func (m *Memory) MarkAllKnown() {
	for _, k := range policy.DeclaredKinds() {
		m.MarkKnown(k.Decl().Name)
	}
}

// Find implements policy.World.
func (m *Memory) Find(_ context.Context, kind policy.WorldKind, q policy.Query) (any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.index[keyOf(kind, q)], nil
}

// Has implements policy.World.
func (m *Memory) Has(kind policy.WorldKind) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.has[kind]
}

// Complete implements policy.World: only kinds marked known (listed from a
// cluster) are complete.
func (m *Memory) Complete(kind policy.WorldKind) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.complete[kind]
}
