package webhook

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/policy"
	"github.com/meshgate/meshgate/world"
)

// kindSpec says how the cache holds one World kind.
type kindSpec struct {
	kind policy.WorldKind
	gk   schema.GroupKind
	// crd is the CRD that serves the kind; "" for built-in kinds.
	crd string
	// metadataOnly: the rules need names and labels only.
	metadataOnly bool
	// byName: the World looks these up by name across namespaces.
	byName bool
	// rules are the rules that consult this kind and run without it when it is
	// missing.
	rules []string
}

var worldKinds = []kindSpec{
	{kind: policy.KindNamespace, gk: schema.GroupKind{Kind: "Namespace"}, metadataOnly: true},
	{kind: policy.KindService, gk: schema.GroupKind{Kind: "Service"}},
	{kind: policy.KindTLSContext, gk: schema.GroupKind{Group: world.GroupEmissary, Kind: "TLSContext"},
		crd: "tlscontexts.getambassador.io", byName: true, rules: []string{policy.MappingTLSContext}},
	{kind: policy.KindIstioGateway, gk: schema.GroupKind{Group: world.GroupIstioNet, Kind: "Gateway"},
		crd: "gateways.networking.istio.io", metadataOnly: true, byName: true, rules: []string{policy.VirtualServiceGatewayRef}},
	{kind: policy.KindGateway, gk: schema.GroupKind{Group: world.GroupGatewayAPI, Kind: "Gateway"},
		crd: "gateways.gateway.networking.k8s.io", rules: []string{policy.RouteParentRef}},
	{kind: policy.KindPeerAuthentication, gk: schema.GroupKind{Group: world.GroupIstioSec, Kind: "PeerAuthentication"},
		crd: "peerauthentications.security.istio.io", rules: []string{policy.MappingIstioTLS}},
}

// RulesNeeding lists the rules that run without knowledge of kind when its CRD
// is not installed.
func RulesNeeding(kind policy.WorldKind) []string {
	for _, k := range worldKinds {
		if k.kind == kind {
			return k.rules
		}
	}
	return nil
}

var (
	namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")
	crdGVK       = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
)

// nameField is the cache index of objects by name across namespaces.
const nameField = "meshgate.metadata.name"

// CacheOptions returns the cache options the World needs: managedFields and the
// last-applied-configuration annotation stripped from every object, reads
// without deep copies (the World hands out read-only values), and reads of a
// kind without an informer failing instead of starting one.
func CacheOptions() cache.Options {
	noCopy := true
	strip := cache.TransformStripManagedFields()
	return cache.Options{
		DefaultTransform: func(in any) (any, error) {
			out, err := strip(in)
			if err != nil {
				return out, err
			}
			if o, ok := out.(metav1.Object); ok {
				if a := o.GetAnnotations(); a != nil {
					if _, found := a[corev1.LastAppliedConfigAnnotation]; found {
						delete(a, corev1.LastAppliedConfigAnnotation)
						o.SetAnnotations(a)
					}
				}
			}
			return out, nil
		},
		DefaultUnsafeDisableDeepCopy: &noCopy,
		ReaderFailOnMissingInformer:  true,
	}
}

// CacheWorld is the policy.World of the admission server, read from a
// controller-runtime cache that holds only what the rules need: namespaces
// (metadata only), Services, Emissary TLSContexts, Istio Gateways (metadata
// only), Gateway API Gateways and PeerAuthentications.
//
// CRD-backed kinds are followed through a metadata-only watch of the
// CustomResourceDefinitions: a kind whose CRD is missing is not in the World
// (Has is false, the rules that need it run without it, a log line and the
// meshgate_rule_degraded metric say so) and is picked up, without a restart,
// when its CRD is installed; a CRD that is deleted drops its kind again.
//
// CacheWorld is a manager.Runnable: add it to the manager that owns the cache.
type CacheWorld struct {
	cache   cache.Cache
	mapper  meta.RESTMapper
	metrics *Metrics
	log     logr.Logger
	resync  time.Duration
	retry   time.Duration

	mu     sync.RWMutex
	active map[policy.WorldKind]schema.GroupVersionKind
	told   map[policy.WorldKind]bool

	synced  atomic.Bool
	trigger chan struct{}
}

var _ policy.World = (*CacheWorld)(nil)

// CacheWorldOptions configure a CacheWorld.
type CacheWorldOptions struct {
	// Metrics records which kinds are available (nil: none).
	Metrics *Metrics
	// Log receives a line whenever a kind appears or disappears.
	Log logr.Logger
	// Resync is how often the CRDs are re-checked without an event (default 30s).
	Resync time.Duration
	// Retry is how soon a CRD that exists but is not served yet is re-checked
	// (default 1s).
	Retry time.Duration
}

// NewCacheWorld returns a World over c; mapper resolves the CRD kinds' versions.
func NewCacheWorld(c cache.Cache, mapper meta.RESTMapper, o CacheWorldOptions) *CacheWorld {
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	return &CacheWorld{
		cache: c, mapper: mapper, metrics: o.Metrics, log: o.Log, resync: o.Resync, retry: o.Retry,
		active:  map[policy.WorldKind]schema.GroupVersionKind{},
		told:    map[policy.WorldKind]bool{},
		trigger: make(chan struct{}, 1),
	}
}

// Start starts the informers, waits for them to sync, then follows the CRDs
// until ctx is done. It implements manager.Runnable.
func (w *CacheWorld) Start(ctx context.Context) error {
	for _, k := range worldKinds {
		if k.crd != "" {
			continue
		}
		gvk := k.gk.WithVersion("v1")
		if err := w.startInformer(ctx, k, gvk); err != nil {
			return err
		}
	}
	crds, err := w.cache.GetInformer(ctx, metadataObject(crdGVK))
	if err != nil {
		return fmt.Errorf("watch CustomResourceDefinitions: %w", err)
	}
	if _, err := crds.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.poke() },
		UpdateFunc: func(any, any) { w.poke() },
		DeleteFunc: func(any) { w.poke() },
	}); err != nil {
		return fmt.Errorf("watch CustomResourceDefinitions: %w", err)
	}
	pending := w.reconcile(ctx)
	w.synced.Store(true)
	w.log.Info("World cache synced", "kinds", w.kinds())

	resync := time.NewTicker(w.resync)
	defer resync.Stop()
	for {
		var retry <-chan time.Time
		if pending {
			retry = time.After(w.retry)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.trigger:
		case <-resync.C:
		case <-retry:
		}
		pending = w.reconcile(ctx)
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// needs its World.
func (w *CacheWorld) NeedLeaderElection() bool { return false }

// Synced reports whether the initial sync is done.
func (w *CacheWorld) Synced() bool { return w.synced.Load() }

// ReadyCheck is a readiness check (healthz.Checker) that passes once the World
// has synced.
func (w *CacheWorld) ReadyCheck(*http.Request) error {
	if !w.Synced() {
		return fmt.Errorf("the World cache has not synced yet")
	}
	return nil
}

func (w *CacheWorld) poke() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// reconcile starts the informers of CRD kinds whose CRD appeared and removes
// those whose CRD is gone. It reports whether a CRD exists that is not served
// yet (so it should run again soon).
func (w *CacheWorld) reconcile(ctx context.Context) (pending bool) {
	for _, k := range worldKinds {
		if k.crd == "" {
			continue
		}
		crd := metadataObject(crdGVK)
		err := w.cache.Get(ctx, client.ObjectKey{Name: k.crd}, crd)
		installed := err == nil && crd.GetDeletionTimestamp() == nil
		gvk, active := w.activeGVK(k.kind)
		switch {
		case installed && !active:
			mapping, err := w.mapper.RESTMapping(k.gk)
			if err != nil {
				w.log.V(1).Info("CRD exists but its kind is not served yet", "crd", k.crd, "error", err.Error())
				pending = true
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			err = w.startInformer(sctx, k, mapping.GroupVersionKind)
			cancel()
			if err != nil {
				w.log.Error(err, "cannot watch a CRD kind; its rules run without it", "kind", k.kind, "rules", k.rules)
				pending = true
				continue
			}
			w.log.Info("CRD installed: the World now holds this kind", "kind", k.kind, "version", mapping.GroupVersionKind.Version, "rules", k.rules)
		case !installed && active:
			if err := w.cache.RemoveInformer(ctx, w.prototype(k, gvk)); err != nil {
				w.log.Error(err, "cannot stop watching a removed CRD kind", "kind", k.kind)
			}
			w.setActive(k.kind, schema.GroupVersionKind{}, false)
			w.log.Info("CRD removed: these rules run without this kind until it is installed again", "kind", k.kind, "crd", k.crd, "rules", k.rules)
		case !installed && !active:
			w.mu.Lock()
			first := !w.told[k.kind]
			w.told[k.kind] = true
			w.mu.Unlock()
			if first {
				w.metrics.setKind(k.kind, false)
				w.log.Info("CRD not installed: these rules run without this kind until it is", "kind", k.kind, "crd", k.crd, "rules", k.rules)
			}
		}
	}
	return pending
}

func (w *CacheWorld) startInformer(ctx context.Context, k kindSpec, gvk schema.GroupVersionKind) error {
	obj := w.prototype(k, gvk)
	if _, err := w.cache.GetInformer(ctx, obj); err != nil {
		return fmt.Errorf("start the %s informer: %w", k.kind, err)
	}
	if k.byName {
		if err := w.cache.IndexField(ctx, obj, nameField, func(o client.Object) []string {
			return []string{o.GetName()}
		}); err != nil {
			return fmt.Errorf("index %s by name: %w", k.kind, err)
		}
	}
	w.setActive(k.kind, gvk, true)
	return nil
}

func (w *CacheWorld) setActive(kind policy.WorldKind, gvk schema.GroupVersionKind, on bool) {
	w.mu.Lock()
	if on {
		w.active[kind] = gvk
	} else {
		delete(w.active, kind)
	}
	w.told[kind] = true
	w.mu.Unlock()
	w.metrics.setKind(kind, on)
}

func (w *CacheWorld) activeGVK(kind policy.WorldKind) (schema.GroupVersionKind, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	gvk, ok := w.active[kind]
	return gvk, ok
}

func (w *CacheWorld) kinds() []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var out []string
	for _, k := range worldKinds {
		if _, ok := w.active[k.kind]; ok {
			out = append(out, string(k.kind))
		}
	}
	return out
}

// prototype is the object the cache keys kind's informer by.
func (w *CacheWorld) prototype(k kindSpec, gvk schema.GroupVersionKind) client.Object {
	switch {
	case k.metadataOnly:
		return metadataObject(gvk)
	case k.kind == policy.KindService:
		return &corev1.Service{}
	default:
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		return u
	}
}

func metadataObject(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m
}

func listGVK(gvk schema.GroupVersionKind) schema.GroupVersionKind {
	gvk.Kind += "List"
	return gvk
}

// Namespace implements policy.World.
func (w *CacheWorld) Namespace(name string) (policy.Namespace, bool) {
	if _, ok := w.activeGVK(policy.KindNamespace); !ok || name == "" {
		return policy.Namespace{}, false
	}
	m := metadataObject(namespaceGVK)
	if err := w.cache.Get(context.Background(), client.ObjectKey{Name: name}, m); err != nil {
		return policy.Namespace{}, false
	}
	return world.NamespaceFrom(name, m.GetLabels()), true
}

// Service implements policy.World.
func (w *CacheWorld) Service(namespace, name string) (*corev1.Service, bool) {
	if _, ok := w.activeGVK(policy.KindService); !ok || name == "" {
		return nil, false
	}
	svc := &corev1.Service{}
	if err := w.cache.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, svc); err != nil {
		return nil, false
	}
	return svc, true
}

// TLSContexts implements policy.World.
func (w *CacheWorld) TLSContexts(name string) []policy.TLSContext {
	gvk, ok := w.activeGVK(policy.KindTLSContext)
	if !ok || name == "" {
		return nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(listGVK(gvk))
	if err := w.cache.List(context.Background(), list, client.MatchingFields{nameField: name}); err != nil {
		return nil
	}
	out := make([]policy.TLSContext, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, world.TLSContextFrom(&list.Items[i]))
	}
	return out
}

// IstioGateways implements policy.World.
func (w *CacheWorld) IstioGateways(name string) []policy.ObjectMeta {
	gvk, ok := w.activeGVK(policy.KindIstioGateway)
	if !ok || name == "" {
		return nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(listGVK(gvk))
	if err := w.cache.List(context.Background(), list, client.MatchingFields{nameField: name}); err != nil {
		return nil
	}
	out := make([]policy.ObjectMeta, 0, len(list.Items))
	for _, it := range list.Items {
		out = append(out, policy.ObjectMeta{Namespace: it.Namespace, Name: it.Name})
	}
	return out
}

// Gateway implements policy.World.
func (w *CacheWorld) Gateway(namespace, name string) (policy.Gateway, bool) {
	gvk, ok := w.activeGVK(policy.KindGateway)
	if !ok || name == "" {
		return policy.Gateway{}, false
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := w.cache.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		return policy.Gateway{}, false
	}
	return world.GatewayFrom(u), true
}

// PeerAuthentications implements policy.World.
func (w *CacheWorld) PeerAuthentications(namespace string) []policy.PeerAuthentication {
	gvk, ok := w.activeGVK(policy.KindPeerAuthentication)
	if !ok {
		return nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(listGVK(gvk))
	if err := w.cache.List(context.Background(), list, client.InNamespace(namespace)); err != nil {
		return nil
	}
	out := make([]policy.PeerAuthentication, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, world.PeerAuthenticationFrom(&list.Items[i]))
	}
	return out
}

// Has implements policy.World.
func (w *CacheWorld) Has(kind policy.WorldKind) bool {
	_, ok := w.activeGVK(kind)
	return ok
}
