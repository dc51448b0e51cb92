package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

// kindSpec says how the cache holds one World kind.
type kindSpec struct {
	kind policy.WorldKind
	gk   schema.GroupKind
	// version is the version a built-in kind is read at.
	version string
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

// specsOf returns how the cache holds each World kind the registered rules
// read (policy.WorldKindsRead): the World holds nothing else.
func specsOf(kinds []policy.WorldKindInfo) []kindSpec {
	out := make([]kindSpec, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, kindSpec{
			kind: k.Kind, gk: k.GroupKind(), version: k.Version, crd: k.CRD,
			metadataOnly: k.MetadataOnly, byName: k.ByName, rules: policy.RulesReading(k.Kind),
		})
	}
	return out
}

var (
	namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")
	crdGVK       = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
)

// nameField is the cache index of objects by name across namespaces.
const nameField = "meshgate.metadata.name"

// CacheOptions returns the cache options the World needs: every object cut
// down to what the World reads of it as it enters the cache (world.Slim: a
// Service keeps its type, selector and ports' names, numbers and protocols;
// metadata-only kinds their identity, and a Namespace its labels), reads
// without deep copies (the World hands out read-only values), and reads of a
// kind without an informer failing instead of starting one.
//
// wholeObjects keeps whole objects instead, without only managedFields and
// the last-applied-configuration annotation: what meshgate cached before it
// slimmed objects, kept to measure the difference (`make bench-scale`).
func CacheOptions(wholeObjects bool) cache.Options {
	noCopy := true
	transform := func(in any) (any, error) { return world.Slim(in), nil }
	if wholeObjects {
		transform = stripBookkeeping
	}
	return cache.Options{
		DefaultTransform:             transform,
		DefaultUnsafeDisableDeepCopy: &noCopy,
		ReaderFailOnMissingInformer:  true,
	}
}

// stripBookkeeping drops managedFields and the last-applied-configuration
// annotation, in place.
func stripBookkeeping(in any) (any, error) {
	out, err := cache.TransformStripManagedFields()(in)
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
}

// CacheWorld is the policy.World of the admission server, read from a
// controller-runtime cache that holds only what the rules need: namespaces
// (metadata only), Services, Emissary TLSContexts, Istio Gateways (metadata
// only, with their sharing annotation), Gateway API Gateways and
// PeerAuthentications.
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

	// live reads what the cache does not hold yet (nil: the cache only).
	live client.Reader
	// absent remembers the live lists that came back empty (see list).
	absent absentMemo

	// specs are the kinds the World holds.
	specs []kindSpec

	mu     sync.RWMutex
	active map[schema.GroupKind]schema.GroupVersionKind
	told   map[schema.GroupKind]bool
	// services is the Service informer's store, once it runs.
	services toolscache.Indexer

	synced  atomic.Bool
	trigger chan struct{}
}

var _ policy.World = (*CacheWorld)(nil)

// CacheWorldOptions configure a CacheWorld.
type CacheWorldOptions struct {
	// Live reads from the API server what the cache misses (an object applied
	// a moment ago that the informer has not delivered yet): controller-runtime's
	// API reader. Nil means the cache only.
	Live client.Reader
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
		cache: c, mapper: mapper, metrics: o.Metrics, log: o.Log, resync: o.Resync, retry: o.Retry, live: o.Live,
		specs:   specsOf(policy.WorldKindsRead()),
		active:  map[schema.GroupKind]schema.GroupVersionKind{},
		told:    map[schema.GroupKind]bool{},
		trigger: make(chan struct{}, 1),
		absent:  absentMemo{ttl: absentTTL, gen: map[schema.GroupVersionKind]uint64{}, seen: map[string]absentEntry{}},
	}
}

// Start starts the informers, waits for them to sync, then follows the CRDs
// until ctx is done. It implements manager.Runnable.
func (w *CacheWorld) Start(ctx context.Context) error {
	for _, k := range w.specs {
		if k.crd != "" {
			continue
		}
		gvk := k.gk.WithVersion(k.version)
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

// Informers returns the kinds the World caches, built-in and CRD-backed (the
// informer of a CRD kind runs while its CRD is installed): what the
// registered rules read.
func (w *CacheWorld) Informers() []schema.GroupKind {
	out := make([]schema.GroupKind, 0, len(w.specs))
	for _, k := range w.specs {
		out = append(out, k.gk)
	}
	return out
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
	for _, k := range w.specs {
		if k.crd == "" {
			continue
		}
		crd := metadataObject(crdGVK)
		err := w.cache.Get(ctx, client.ObjectKey{Name: k.crd}, crd)
		installed := err == nil && crd.GetDeletionTimestamp() == nil
		gvk, active := w.activeGVK(k.gk)
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
			w.setActive(k, schema.GroupVersionKind{}, false)
			w.log.Info("CRD removed: these rules run without this kind until it is installed again", "kind", k.kind, "crd", k.crd, "rules", k.rules)
		case !installed && !active:
			w.mu.Lock()
			first := !w.told[k.gk]
			w.told[k.gk] = true
			w.mu.Unlock()
			if first {
				w.metrics.setKind(k.kind, w.Has(k.kind))
				w.log.Info("CRD not installed: these rules run without this kind until it is", "kind", k.kind, "crd", k.crd, "rules", k.rules)
			}
		}
	}
	return pending
}

func (w *CacheWorld) startInformer(ctx context.Context, k kindSpec, gvk schema.GroupVersionKind) error {
	obj := w.prototype(k, gvk)
	inf, err := w.cache.GetInformer(ctx, obj)
	if err != nil {
		return fmt.Errorf("start the %s informer: %w", k.kind, err)
	}
	if k.kind == policy.KindService {
		// The cache holds world.ServiceSummary values, which its reader
		// cannot hand out as Services: the World reads the informer's store.
		ix, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
		if !ok {
			return fmt.Errorf("the Service informer (%T) has no store to read", inf)
		}
		w.mu.Lock()
		w.services = ix.GetIndexer()
		w.mu.Unlock()
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.absent.changed(gvk) },
		UpdateFunc: func(any, any) { w.absent.changed(gvk) },
		DeleteFunc: func(any) { w.absent.changed(gvk) },
	}); err != nil {
		return fmt.Errorf("follow the %s informer: %w", k.kind, err)
	}
	if k.byName {
		if err := w.cache.IndexField(ctx, obj, nameField, func(o client.Object) []string {
			return []string{o.GetName()}
		}); err != nil {
			return fmt.Errorf("index %s by name: %w", k.kind, err)
		}
	}
	w.setActive(k, gvk, true)
	return nil
}

func (w *CacheWorld) setActive(k kindSpec, gvk schema.GroupVersionKind, on bool) {
	w.mu.Lock()
	if on {
		w.active[k.gk] = gvk
	} else {
		delete(w.active, k.gk)
	}
	w.told[k.gk] = true
	w.mu.Unlock()
	w.metrics.setKind(k.kind, w.Has(k.kind))
}

func (w *CacheWorld) activeGVK(gk schema.GroupKind) (schema.GroupVersionKind, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	gvk, ok := w.active[gk]
	return gvk, ok
}

// activeSpecs returns the specs of kind whose informers run, with their versions.
func (w *CacheWorld) activeSpecs(kind policy.WorldKind) ([]kindSpec, []schema.GroupVersionKind) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var specs []kindSpec
	var gvks []schema.GroupVersionKind
	for _, k := range w.specs {
		if gvk, ok := w.active[k.gk]; ok && k.kind == kind {
			specs = append(specs, k)
			gvks = append(gvks, gvk)
		}
	}
	return specs, gvks
}

func (w *CacheWorld) kinds() []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var out []string
	for _, k := range w.specs {
		if _, ok := w.active[k.gk]; ok {
			out = append(out, k.gk.String())
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

// get reads key into obj: from the cache, and on a miss (or a cache error)
// from the API server, so that an object applied a moment before the one under
// review counts even when the informer has not delivered it yet. found is false
// only when the API server (or, without a live reader, the cache) says the
// object does not exist; any other failure is an error, never an absence.
func (w *CacheWorld) get(ctx context.Context, key client.ObjectKey, obj client.Object) (found bool, err error) {
	cerr := w.cache.Get(ctx, key, obj)
	if cerr == nil {
		return true, nil
	}
	if w.live == nil {
		if apierrors.IsNotFound(cerr) {
			return false, nil
		}
		return false, cerr
	}
	w.metrics.liveRead(obj.GetObjectKind().GroupVersionKind().Kind)
	lerr := w.live.Get(ctx, key, obj)
	switch {
	case lerr == nil:
		return true, nil
	case apierrors.IsNotFound(lerr):
		return false, nil
	default:
		return false, lerr
	}
}

// list lists into list from the cache, with opts (cacheOpts for the cache,
// liveOpts for the API server; key names the selection); when the cache holds
// nothing, the API server is asked, for the same reason as get. An empty
// answer is the common case (most namespaces have no PeerAuthentication, most
// clusters no resolver of a given name), so it is remembered: the same
// selection is answered empty from memory, without asking the API server
// again, until the informer delivers any change of that kind or absentTTL
// passes.
func (w *CacheWorld) list(ctx context.Context, list client.ObjectList, key string, cacheOpts, liveOpts []client.ListOption) error {
	cerr := w.cache.List(ctx, list, cacheOpts...)
	if cerr == nil && meta.LenList(list) > 0 {
		return nil
	}
	if w.live == nil {
		return cerr
	}
	gvk := list.GetObjectKind().GroupVersionKind()
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	if cerr == nil && w.absent.known(gvk, key) {
		return nil
	}
	gen := w.absent.generation(gvk)
	w.metrics.liveRead(gvk.Kind)
	if err := w.live.List(ctx, list, liveOpts...); err != nil {
		return err
	}
	if meta.LenList(list) == 0 {
		w.absent.remember(gvk, key, gen)
	}
	return nil
}

// LiveReadLimits bound the World's live reads: the reads from the API server
// of what the cache misses. controller-runtime's client has no client-side
// rate limit (it leaves that to the API server's priority and fairness), and
// any review may miss, so a storm of reviews of objects the cache does not
// hold would become a storm of reads. A read over a limit is not made: the
// review fails (503, so the webhook's failurePolicy decides). A zero field
// means no limit.
type LiveReadLimits struct {
	// QPS is the sustained rate of live reads, Burst how many may go at once
	// above it (a token bucket).
	QPS   float64
	Burst int
	// MaxInFlight bounds the live reads waiting for the API server at once.
	MaxInFlight int
	// MaxWait is how long a read may wait for its turn (default 1s).
	MaxWait time.Duration
}

// DefaultLiveReadLimits are the live-read limits `meshgate serve` applies
// unless told otherwise.
func DefaultLiveReadLimits() LiveReadLimits {
	return LiveReadLimits{QPS: 20, Burst: 50, MaxInFlight: 10, MaxWait: time.Second}
}

// BoundLiveReads returns r limited by l; each read over a limit fails with
// an error that says which (m counts them).
func BoundLiveReads(r client.Reader, l LiveReadLimits, m *Metrics) client.Reader {
	if r == nil {
		return nil
	}
	b := &boundedReader{r: r, l: l, metrics: m}
	if l.QPS > 0 {
		b.rate = rate.NewLimiter(rate.Limit(l.QPS), max(l.Burst, 1))
	}
	if l.MaxInFlight > 0 {
		b.slots = make(chan struct{}, l.MaxInFlight)
	}
	if b.l.MaxWait <= 0 {
		b.l.MaxWait = time.Second
	}
	return b
}

type boundedReader struct {
	r       client.Reader
	l       LiveReadLimits
	rate    *rate.Limiter
	slots   chan struct{}
	metrics *Metrics
}

// acquire waits (at most MaxWait) for a slot and a token.
func (b *boundedReader) acquire(ctx context.Context) (release func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, b.l.MaxWait)
	defer cancel()
	release = func() {}
	if b.slots != nil {
		select {
		case b.slots <- struct{}{}:
			release = func() { <-b.slots }
		case <-ctx.Done():
			b.metrics.liveReadThrottled()
			return nil, fmt.Errorf("live read not made: %d live reads from the API server are in flight already: %w", b.l.MaxInFlight, ctx.Err())
		}
	}
	if b.rate != nil {
		if err := b.rate.Wait(ctx); err != nil {
			release()
			b.metrics.liveReadThrottled()
			return nil, fmt.Errorf("live read not made: over %g live reads a second from the API server: %w", b.l.QPS, err)
		}
	}
	return release, nil
}

func (b *boundedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	release, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return b.r.Get(ctx, key, obj, opts...)
}

func (b *boundedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	release, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return b.r.List(ctx, list, opts...)
}

// absentTTL bounds how long an empty live list is trusted without an event.
const absentTTL = 10 * time.Second

// absentMemo remembers selections the API server listed as empty. An entry
// holds while no informer event of its kind arrived since the list was sent
// (the generation) and for at most ttl.
type absentMemo struct {
	ttl  time.Duration
	mu   sync.Mutex
	gen  map[schema.GroupVersionKind]uint64
	seen map[string]absentEntry
}

type absentEntry struct {
	gen uint64
	at  time.Time
}

func absentKey(gvk schema.GroupVersionKind, key string) string { return gvk.String() + "\x00" + key }

// changed forgets every empty answer about gvk: one of its objects changed.
func (m *absentMemo) changed(gvk schema.GroupVersionKind) {
	m.mu.Lock()
	m.gen[gvk]++
	m.mu.Unlock()
}

// generation is gvk's count of changes, taken before a live list.
func (m *absentMemo) generation(gvk schema.GroupVersionKind) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen[gvk]
}

// remember records that key listed empty when gvk's generation was gen.
func (m *absentMemo) remember(gvk schema.GroupVersionKind, key string, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) > 10000 { // bounded: start over rather than grow
		clear(m.seen)
	}
	m.seen[absentKey(gvk, key)] = absentEntry{gen: gen, at: time.Now()}
}

// known reports whether key is remembered empty and still trusted.
func (m *absentMemo) known(gvk schema.GroupVersionKind, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.seen[absentKey(gvk, key)]
	return ok && e.gen == m.gen[gvk] && time.Since(e.at) < m.ttl
}

// byName are the list options that select objects called name in every
// namespace: the cache's index, the API server's field selector.
func byName(name string) (cacheOpts, liveOpts []client.ListOption) {
	return []client.ListOption{client.MatchingFields{nameField: name}},
		[]client.ListOption{client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)}}
}

// Namespace implements policy.World.
func (w *CacheWorld) Namespace(ctx context.Context, name string) (policy.Namespace, bool, error) {
	if _, ok := w.activeGVK(namespaceGVK.GroupKind()); !ok || name == "" {
		return policy.Namespace{}, false, nil
	}
	m := metadataObject(namespaceGVK)
	found, err := w.get(ctx, client.ObjectKey{Name: name}, m)
	if err != nil || !found {
		return policy.Namespace{}, false, wrapLookup(err, "namespace %s", name)
	}
	return world.NamespaceFrom(name, m.GetLabels()), true, nil
}

// Service implements policy.World.
func (w *CacheWorld) Service(ctx context.Context, namespace, name string) (*corev1.Service, bool, error) {
	if _, ok := w.activeGVK(schema.GroupKind{Kind: "Service"}); !ok || name == "" {
		return nil, false, nil
	}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	svc, found, err := w.cachedService(key)
	switch {
	case err != nil:
		return nil, false, wrapLookup(err, "Service %s/%s", namespace, name)
	case found:
		return svc, true, nil
	}
	svc = &corev1.Service{}
	if found, err = w.get(ctx, key, svc); err != nil || !found {
		return nil, false, wrapLookup(err, "Service %s/%s", namespace, name)
	}
	return svc, true, nil
}

// cachedService reads key from the Service informer's store: a
// world.ServiceSummary (or, with whole objects cached, a Service).
func (w *CacheWorld) cachedService(key client.ObjectKey) (*corev1.Service, bool, error) {
	w.mu.RLock()
	store := w.services
	w.mu.RUnlock()
	if store == nil {
		return nil, false, nil
	}
	obj, found, err := store.GetByKey(toolscache.NewObjectName(key.Namespace, key.Name).String())
	if err != nil || !found {
		return nil, false, err
	}
	switch o := obj.(type) {
	case *world.ServiceSummary:
		return o.Service(), true, nil
	case *corev1.Service:
		return o, true, nil
	}
	return nil, false, fmt.Errorf("the Service cache holds a %T", obj)
}

// TLSContexts implements policy.World.
func (w *CacheWorld) TLSContexts(ctx context.Context, name string) ([]policy.TLSContext, error) {
	var out []policy.TLSContext
	err := w.eachByName(ctx, policy.KindTLSContext, name, func(u *unstructured.Unstructured) {
		out = append(out, world.TLSContextFrom(u))
	})
	return out, wrapLookup(err, "TLSContexts named %s", name)
}

// IstioGateways implements policy.World.
func (w *CacheWorld) IstioGateways(ctx context.Context, name string) ([]policy.IstioGateway, error) {
	var out []policy.IstioGateway
	err := w.eachByName(ctx, policy.KindIstioGateway, name, func(u *unstructured.Unstructured) {
		out = append(out, world.IstioGatewayFrom(u))
	})
	return out, wrapLookup(err, "Istio Gateways named %s", name)
}

// Modules implements policy.World.
func (w *CacheWorld) Modules(ctx context.Context, name string) ([]policy.Module, error) {
	var out []policy.Module
	err := w.eachByName(ctx, policy.KindModule, name, func(u *unstructured.Unstructured) {
		out = append(out, world.ModuleFrom(u))
	})
	return out, wrapLookup(err, "Modules named %s", name)
}

// Resolvers implements policy.World.
func (w *CacheWorld) Resolvers(ctx context.Context, name string) ([]policy.Resolver, error) {
	var out []policy.Resolver
	err := w.eachByName(ctx, policy.KindResolver, name, func(u *unstructured.Unstructured) {
		out = append(out, world.ResolverFrom(u))
	})
	return out, wrapLookup(err, "resolvers named %s", name)
}

// eachByName calls fn with every object of kind called name, in any namespace,
// from each group/kind that serves kind. Metadata-only kinds are handed over
// with the identity and annotations the cache holds (world.Slim).
func (w *CacheWorld) eachByName(ctx context.Context, kind policy.WorldKind, name string, fn func(*unstructured.Unstructured)) error {
	if name == "" {
		return nil
	}
	specs, gvks := w.activeSpecs(kind)
	cacheOpts, liveOpts := byName(name)
	for i, k := range specs {
		gvk := gvks[i]
		if k.metadataOnly {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(listGVK(gvk))
			if err := w.list(ctx, list, "name="+name, cacheOpts, liveOpts); err != nil {
				return err
			}
			for j := range list.Items {
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(gvk)
				u.SetNamespace(list.Items[j].Namespace)
				u.SetName(list.Items[j].Name)
				u.SetAnnotations(list.Items[j].Annotations)
				fn(u)
			}
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(listGVK(gvk))
		if err := w.list(ctx, list, "name="+name, cacheOpts, liveOpts); err != nil {
			return err
		}
		for j := range list.Items {
			fn(&list.Items[j])
		}
	}
	return nil
}

// Gateway implements policy.World.
func (w *CacheWorld) Gateway(ctx context.Context, namespace, name string) (policy.Gateway, bool, error) {
	gvk, ok := w.activeGVK(schema.GroupKind{Group: world.GroupGatewayAPI, Kind: "Gateway"})
	if !ok || name == "" {
		return policy.Gateway{}, false, nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	found, err := w.get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u)
	if err != nil || !found {
		return policy.Gateway{}, false, wrapLookup(err, "Gateway %s/%s", namespace, name)
	}
	return world.GatewayFrom(u), true, nil
}

// PeerAuthentications implements policy.World.
func (w *CacheWorld) PeerAuthentications(ctx context.Context, namespace string) ([]policy.PeerAuthentication, error) {
	gvk, ok := w.activeGVK(schema.GroupKind{Group: world.GroupIstioSec, Kind: "PeerAuthentication"})
	if !ok {
		return nil, nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(listGVK(gvk))
	inNS := []client.ListOption{client.InNamespace(namespace)}
	if err := w.list(ctx, list, "namespace="+namespace, inNS, inNS); err != nil {
		return nil, wrapLookup(err, "PeerAuthentications in %s", namespace)
	}
	out := make([]policy.PeerAuthentication, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, world.PeerAuthenticationFrom(&list.Items[i]))
	}
	return out, nil
}

// Has implements policy.World.
func (w *CacheWorld) Has(kind policy.WorldKind) bool {
	specs, _ := w.activeSpecs(kind)
	return len(specs) > 0
}

// Complete implements policy.World: the cache holds every object of each kind
// it serves.
func (w *CacheWorld) Complete(kind policy.WorldKind) bool { return w.Has(kind) }

// wrapLookup says what could not be read; nil stays nil.
func wrapLookup(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("read %s: %w", fmt.Sprintf(format, args...), err)
}
