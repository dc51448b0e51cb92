// Package world builds policy.World views of a cluster. Memory is the in-memory
// World that `meshgate check` and the tests build from a set of manifests; the
// From* functions turn objects into the World's value types for any World
// implementation (the admission server's cache-backed one uses them too).
package world

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshgate/meshgate/internal/policy"
)

// API groups of the kinds a World holds.
const (
	GroupEmissary   = policy.GroupEmissary
	GroupIstioNet   = policy.GroupIstioNet
	GroupIstioSec   = policy.GroupIstioSec
	GroupGatewayAPI = policy.GroupGatewayAPI
)

// Memory is a policy.World over a fixed set of objects. Add objects, then read;
// reads are safe for concurrent use once adding is done.
type Memory struct {
	mu         sync.RWMutex
	namespaces map[string]policy.Namespace
	services   map[key]*corev1.Service
	tls        map[string][]policy.TLSContext
	istioGWs   map[string][]policy.IstioGateway
	gateways   map[key]policy.Gateway
	peerAuths  map[string][]policy.PeerAuthentication
	modules    map[string][]policy.Module
	resolvers  map[string][]policy.Resolver
	has        map[policy.WorldKind]bool
	// complete are the kinds listed from a cluster (MarkKnown).
	complete map[policy.WorldKind]bool
	// defaultNamespace is assumed for namespaced objects without one.
	defaultNamespace string
}

type key struct{ ns, name string }

var _ policy.World = (*Memory)(nil)

// NewMemory returns an empty World; namespaced objects without a namespace are
// placed in defaultNamespace ("default" when empty).
func NewMemory(defaultNamespace string) *Memory {
	if defaultNamespace == "" {
		defaultNamespace = "default"
	}
	return &Memory{
		namespaces:       map[string]policy.Namespace{},
		services:         map[key]*corev1.Service{},
		tls:              map[string][]policy.TLSContext{},
		istioGWs:         map[string][]policy.IstioGateway{},
		gateways:         map[key]policy.Gateway{},
		peerAuths:        map[string][]policy.PeerAuthentication{},
		modules:          map[string][]policy.Module{},
		resolvers:        map[string][]policy.Resolver{},
		has:              map[policy.WorldKind]bool{},
		complete:         map[policy.WorldKind]bool{},
		defaultNamespace: defaultNamespace,
	}
}

// KindOf tells which World kind an object is, if any (policy.WorldKinds
// declares them).
func KindOf(u *unstructured.Unstructured) (policy.WorldKind, bool) {
	k, ok := policy.WorldKindOf(u.GroupVersionKind().GroupKind())
	return k.Kind, ok
}

// Add puts u into the World if it is a kind the World holds, and reports whether
// it did. A Service that does not convert is an error.
func (m *Memory) Add(u *unstructured.Unstructured) (bool, error) {
	kind, ok := KindOf(u)
	if !ok {
		return false, nil
	}
	ns := u.GetNamespace()
	if ns == "" && kind != policy.KindNamespace {
		ns = m.defaultNamespace
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.has[kind] = true
	switch kind {
	case policy.KindNamespace:
		m.namespaces[u.GetName()] = NamespaceFrom(u.GetName(), u.GetLabels())
	case policy.KindService:
		svc, err := ServiceFrom(u)
		if err != nil {
			return false, fmt.Errorf("Service %s/%s: %w", ns, u.GetName(), err)
		}
		svc.Namespace = ns
		m.services[key{ns, u.GetName()}] = svc
	case policy.KindTLSContext:
		tc := TLSContextFrom(u)
		tc.Namespace = ns
		m.tls[tc.Name] = append(m.tls[tc.Name], tc)
	case policy.KindIstioGateway:
		gw := IstioGatewayFrom(u)
		gw.Namespace = ns
		m.istioGWs[gw.Name] = append(m.istioGWs[gw.Name], gw)
	case policy.KindGateway:
		gw := GatewayFrom(u)
		gw.Namespace = ns
		m.gateways[key{ns, gw.Name}] = gw
	case policy.KindPeerAuthentication:
		pa := PeerAuthenticationFrom(u)
		pa.Namespace = ns
		m.peerAuths[ns] = append(m.peerAuths[ns], pa)
	case policy.KindModule:
		mod := ModuleFrom(u)
		mod.Namespace = ns
		m.modules[mod.Name] = append(m.modules[mod.Name], mod)
	case policy.KindResolver:
		r := ResolverFrom(u)
		r.Namespace = ns
		m.resolvers[r.Name] = append(m.resolvers[r.Name], r)
	}
	return true, nil
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

// Complete implements policy.World: only kinds marked known (listed from a
// cluster) are complete.
func (m *Memory) Complete(kind policy.WorldKind) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.complete[kind]
}

// Namespace implements policy.World.
func (m *Memory) Namespace(_ context.Context, name string) (policy.Namespace, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ns, ok := m.namespaces[name]
	return ns, ok, nil
}

// Service implements policy.World.
func (m *Memory) Service(_ context.Context, namespace, name string) (*corev1.Service, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.services[key{namespace, name}]
	return s, ok, nil
}

// TLSContexts implements policy.World.
func (m *Memory) TLSContexts(_ context.Context, name string) ([]policy.TLSContext, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.tls[name], nil
}

// IstioGateways implements policy.World.
func (m *Memory) IstioGateways(_ context.Context, name string) ([]policy.IstioGateway, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.istioGWs[name], nil
}

// Gateway implements policy.World.
func (m *Memory) Gateway(_ context.Context, namespace, name string) (policy.Gateway, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, ok := m.gateways[key{namespace, name}]
	return g, ok, nil
}

// PeerAuthentications implements policy.World.
func (m *Memory) PeerAuthentications(_ context.Context, namespace string) ([]policy.PeerAuthentication, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.peerAuths[namespace], nil
}

// Modules implements policy.World.
func (m *Memory) Modules(_ context.Context, name string) ([]policy.Module, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.modules[name], nil
}

// Resolvers implements policy.World.
func (m *Memory) Resolvers(_ context.Context, name string) ([]policy.Resolver, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.resolvers[name], nil
}

// Has implements policy.World.
func (m *Memory) Has(kind policy.WorldKind) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.has[kind]
}

// NamespaceFrom builds a World namespace.
func NamespaceFrom(name string, labels map[string]string) policy.Namespace {
	return policy.Namespace{Name: name, Labels: labels}
}

// ServiceFrom converts an unstructured Service.
func ServiceFrom(u *unstructured.Unstructured) (*corev1.Service, error) {
	svc := &corev1.Service{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, svc); err != nil {
		return nil, fmt.Errorf("not a valid Service: %w", err)
	}
	return svc, nil
}

// TLSContextFrom reads what the rules need of an Emissary TLSContext (any
// version) from the World: its identity. The rules read a TLSContext's own
// fields from the object under review, never from the World.
func TLSContextFrom(u metav1.Object) policy.TLSContext {
	return policy.TLSContext{ObjectMeta: policy.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName()}}
}

// IstioGatewayFrom reads what the rules need of an Istio Gateway: its identity
// and its policy.AnnotationAllowedNamespaces annotation (metadata is enough).
func IstioGatewayFrom(u metav1.Object) policy.IstioGateway {
	gw := policy.IstioGateway{ObjectMeta: policy.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName()}}
	gw.AllowedNamespaces, gw.Shared = u.GetAnnotations()[policy.AnnotationAllowedNamespaces]
	return gw
}

// GatewayFrom reads the class and the listeners' protocol, TLS mode and
// allowedRoutes from a Gateway API Gateway.
func GatewayFrom(u *unstructured.Unstructured) policy.Gateway {
	gw := policy.Gateway{ObjectMeta: policy.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName()}}
	gw.ClassName, _, _ = unstructured.NestedString(u.Object, "spec", "gatewayClassName")
	listeners, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
	for _, l := range listeners {
		lm, ok := l.(map[string]any)
		if !ok {
			continue
		}
		var out policy.Listener
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
	return gw
}

// PeerAuthenticationFrom reads selector and mTLS mode from a PeerAuthentication.
func PeerAuthenticationFrom(u *unstructured.Unstructured) policy.PeerAuthentication {
	pa := policy.PeerAuthentication{ObjectMeta: policy.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName()}}
	pa.Selector, _, _ = unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
	pa.Mode, _, _ = unstructured.NestedString(u.Object, "spec", "mtls", "mode")
	return pa
}

// ModuleFrom reads the part of an Emissary Module the rules need.
func ModuleFrom(u *unstructured.Unstructured) policy.Module {
	mod := policy.Module{ObjectMeta: policy.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName()}}
	mod.UseAmbassadorNamespaceForServiceResolution, _, _ = unstructured.NestedBool(u.Object, "spec", "config", "use_ambassador_namespace_for_service_resolution")
	mod.Resolver, _, _ = unstructured.NestedString(u.Object, "spec", "config", "resolver")
	return mod
}

// ResolverFrom reads an Emissary resolver's identity and kind.
func ResolverFrom(u *unstructured.Unstructured) policy.Resolver {
	return policy.Resolver{ObjectMeta: policy.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName()}, Kind: u.GetKind()}
}
