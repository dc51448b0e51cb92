// Package cached is the admission server's policy.World: the declared World
// kinds (policy.Declare) read from a controller-runtime cache that holds only
// what the rules need of them (world.Slim), following the CRDs that serve
// them, and reading the API server on a cache miss, within bounds.
package cached

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

// kindSpec says how the cache holds one API kind of a World kind.
type kindSpec struct {
	kind policy.WorldKind
	gk   schema.GroupKind
	// version is the version a built-in kind is read at.
	version string
	// crd is the CRD that serves the kind; "" for built-in kinds.
	crd  string
	decl policy.Declared
	// rules are the rules that consult this kind and run without it when it is
	// missing.
	rules []string
}

func (k kindSpec) metadataOnly() bool { return k.decl.Decl().MetadataOnly }

// specsOf returns how the cache holds each World kind the registered rules
// read (policy.WorldKindsRead): the World holds nothing else.
func specsOf(kinds []policy.WorldKindInfo) []kindSpec {
	out := make([]kindSpec, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, kindSpec{
			kind: k.Kind, gk: k.GroupKind(), version: k.Version, crd: k.CRD, decl: k.Decl,
			rules: policy.RulesReading(k.Kind),
		})
	}
	return out
}

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// nameField is the cache index of objects by name across namespaces.
const nameField = "meshgate.metadata.name"

// CacheOptions returns the cache options the World needs: every object cut
// down to what the World reads of it as it enters the cache (world.Slim: a
// Service keeps its type, selector and ports' names, numbers and protocols;
// metadata-only kinds their identity, and a Namespace its labels), reads
// without deep copies (the World hands out read-only values), and reads of a
// kind without an informer failing instead of starting one.
func CacheOptions() cache.Options {
	noCopy := true
	return cache.Options{
		DefaultTransform:             func(in any) (any, error) { return world.Slim(in), nil },
		DefaultUnsafeDisableDeepCopy: &noCopy,
		ReaderFailOnMissingInformer:  true,
	}
}

// Metrics records what the World does (the server's metrics implement it).
type Metrics interface {
	// SetKindAvailable records whether the World holds kind.
	SetKindAvailable(kind policy.WorldKind, available bool)
	// LiveRead counts a read of kind from the API server.
	LiveRead(kind string)
	// LiveReadThrottled counts a live read not made (over its bounds).
	LiveReadThrottled()
}

type noMetrics struct{}

func (noMetrics) SetKindAvailable(policy.WorldKind, bool) {}
func (noMetrics) LiveRead(string)                         {}
func (noMetrics) LiveReadThrottled()                      {}

// World is the policy.World of the admission server, read from a
// controller-runtime cache that holds only what the rules need of the World
// kinds they read (policy.WorldKindsRead), as each kind's declaration says:
// metadata only, a typed summary (Services) or the spec fields it keeps.
//
// CRD-backed kinds are followed through a metadata-only watch of the
// CustomResourceDefinitions: a kind whose CRD is missing is not in the World
// (Has is false, the rules that need it run without it, a log line and the
// meshgate_rule_degraded metric say so) and is picked up, without a restart,
// when its CRD is installed; a CRD that is deleted drops its kind again.
//
// World is a manager.Runnable: add it to the manager that owns the cache.
type World struct {
	cache   cache.Cache
	mapper  meta.RESTMapper
	metrics Metrics
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
	// stores are the informers' stores of the typed kinds (Services), which
	// the cache's reader cannot hand out as what it holds (summaries).
	stores map[schema.GroupKind]toolscache.Indexer

	synced  atomic.Bool
	trigger chan struct{}
}

var _ policy.World = (*World)(nil)

// Options configure a World.
type Options struct {
	// Live reads from the API server what the cache misses (an object applied
	// a moment ago that the informer has not delivered yet): controller-runtime's
	// API reader. Nil means the cache only.
	Live client.Reader
	// Metrics records which kinds are available and the live reads (nil: none).
	Metrics Metrics
	// Log receives a line whenever a kind appears or disappears.
	Log logr.Logger
	// Resync is how often the CRDs are re-checked without an event (default 30s).
	Resync time.Duration
	// Retry is how soon a CRD that exists but is not served yet is re-checked
	// (default 1s).
	Retry time.Duration
}

// New returns a World over c; mapper resolves the CRD kinds' versions.
func New(c cache.Cache, mapper meta.RESTMapper, o Options) *World {
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	return &World{
		cache: c, mapper: mapper, metrics: o.Metrics, log: o.Log, resync: o.Resync, retry: o.Retry, live: o.Live,
		specs:   specsOf(policy.WorldKindsRead()),
		active:  map[schema.GroupKind]schema.GroupVersionKind{},
		told:    map[schema.GroupKind]bool{},
		stores:  map[schema.GroupKind]toolscache.Indexer{},
		trigger: make(chan struct{}, 1),
		absent:  absentMemo{ttl: absentTTL, gen: map[schema.GroupVersionKind]uint64{}, seen: map[string]absentEntry{}},
	}
}

// Start starts the informers, waits for them to sync, then follows the CRDs
// until ctx is done. It implements manager.Runnable.
func (w *World) Start(ctx context.Context) error {
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
func (w *World) Informers() []schema.GroupKind {
	out := make([]schema.GroupKind, 0, len(w.specs))
	for _, k := range w.specs {
		out = append(out, k.gk)
	}
	return out
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// needs its World.
func (w *World) NeedLeaderElection() bool { return false }

// Synced reports whether the initial sync is done.
func (w *World) Synced() bool { return w.synced.Load() }

// ReadyCheck is a readiness check (healthz.Checker) that passes once the World
// has synced.
func (w *World) ReadyCheck(*http.Request) error {
	if !w.Synced() {
		return fmt.Errorf("the World cache has not synced yet")
	}
	return nil
}

func (w *World) poke() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// reconcile starts the informers of CRD kinds whose CRD appeared and removes
// those whose CRD is gone. It reports whether a CRD exists that is not served
// yet (so it should run again soon).
func (w *World) reconcile(ctx context.Context) (pending bool) {
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
				w.metrics.SetKindAvailable(k.kind, w.Has(k.kind))
				w.log.Info("CRD not installed: these rules run without this kind until it is", "kind", k.kind, "crd", k.crd, "rules", k.rules)
			}
		}
	}
	return pending
}

func (w *World) startInformer(ctx context.Context, k kindSpec, gvk schema.GroupVersionKind) error {
	obj := w.prototype(k, gvk)
	inf, err := w.cache.GetInformer(ctx, obj)
	if err != nil {
		return fmt.Errorf("start the %s informer: %w", k.kind, err)
	}
	if k.decl.Decl().New != nil {
		// The cache holds what world.Slim makes of a typed kind (a Service's
		// summary), which its reader cannot hand out: the World reads the
		// informer's store.
		ix, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
		if !ok {
			return fmt.Errorf("the %s informer (%T) has no store to read", k.kind, inf)
		}
		w.mu.Lock()
		w.stores[k.gk] = ix.GetIndexer()
		w.mu.Unlock()
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.absent.changed(gvk) },
		UpdateFunc: func(any, any) { w.absent.changed(gvk) },
		DeleteFunc: func(any) { w.absent.changed(gvk) },
	}); err != nil {
		return fmt.Errorf("follow the %s informer: %w", k.kind, err)
	}
	if k.decl.Decl().Lookups&policy.ByName != 0 {
		if err := w.cache.IndexField(ctx, obj, nameField, func(o client.Object) []string {
			return []string{o.GetName()}
		}); err != nil {
			return fmt.Errorf("index %s by name: %w", k.kind, err)
		}
	}
	w.setActive(k, gvk, true)
	return nil
}

func (w *World) setActive(k kindSpec, gvk schema.GroupVersionKind, on bool) {
	w.mu.Lock()
	if on {
		w.active[k.gk] = gvk
	} else {
		delete(w.active, k.gk)
	}
	w.told[k.gk] = true
	w.mu.Unlock()
	w.metrics.SetKindAvailable(k.kind, w.Has(k.kind))
}

func (w *World) activeGVK(gk schema.GroupKind) (schema.GroupVersionKind, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	gvk, ok := w.active[gk]
	return gvk, ok
}

// activeSpecs returns the specs of kind whose informers run, with their versions.
func (w *World) activeSpecs(kind policy.WorldKind) ([]kindSpec, []schema.GroupVersionKind) {
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

func (w *World) kinds() []string {
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
func (w *World) prototype(k kindSpec, gvk schema.GroupVersionKind) client.Object {
	switch d := k.decl.Decl(); {
	case d.MetadataOnly:
		return metadataObject(gvk)
	case d.New != nil:
		return d.New().(client.Object)
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
func (w *World) get(ctx context.Context, key client.ObjectKey, obj client.Object) (found bool, err error) {
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
	w.metrics.LiveRead(obj.GetObjectKind().GroupVersionKind().Kind)
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
func (w *World) list(ctx context.Context, list client.ObjectList, key string, cacheOpts, liveOpts []client.ListOption) error {
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
	w.metrics.LiveRead(gvk.Kind)
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
func BoundLiveReads(r client.Reader, l LiveReadLimits, m Metrics) client.Reader {
	if r == nil {
		return nil
	}
	if m == nil {
		m = noMetrics{}
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
	metrics Metrics
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
			b.metrics.LiveReadThrottled()
			return nil, fmt.Errorf("live read not made: %d live reads from the API server are in flight already: %w", b.l.MaxInFlight, ctx.Err())
		}
	}
	if b.rate != nil {
		if err := b.rate.Wait(ctx); err != nil {
			release()
			b.metrics.LiveReadThrottled()
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

// Find implements policy.World: from the cache, and on a miss from the API
// server (see get and list).
func (w *World) Find(ctx context.Context, kind policy.WorldKind, q policy.Query) (any, error) {
	if q.By != policy.InNamespace && q.Name == "" {
		return nil, nil
	}
	specs, gvks := w.activeSpecs(kind)
	var out any
	for i, k := range specs {
		var err error
		switch q.By {
		case policy.ByKey:
			out, err = w.getKey(ctx, k, gvks[i], client.ObjectKey{Namespace: q.Namespace, Name: q.Name}, out)
		case policy.ByName:
			cacheOpts, liveOpts := byName(q.Name)
			out, err = w.listInto(ctx, k, gvks[i], "name="+q.Name, cacheOpts, liveOpts, out)
		case policy.InNamespace:
			inNS := []client.ListOption{client.InNamespace(q.Namespace)}
			out, err = w.listInto(ctx, k, gvks[i], "namespace="+q.Namespace, inNS, inNS, out)
		default:
			err = fmt.Errorf("unknown lookup %s", q.By)
		}
		if err != nil {
			return nil, describe(err, kind, q)
		}
	}
	return out, nil
}

// getKey appends the object key of kind k to out, if there is one.
func (w *World) getKey(ctx context.Context, k kindSpec, gvk schema.GroupVersionKind, key client.ObjectKey, out any) (any, error) {
	w.mu.RLock()
	store := w.stores[k.gk]
	w.mu.RUnlock()
	if store != nil {
		obj, found, err := store.GetByKey(toolscache.NewObjectName(key.Namespace, key.Name).String())
		if err != nil {
			return out, err
		}
		if found {
			o, ok := obj.(metav1.Object)
			if !ok {
				return out, fmt.Errorf("the %s cache holds a %T", k.kind, obj)
			}
			list, err := k.decl.Append(out, o)
			if err != nil {
				return out, fmt.Errorf("the %s cache holds a %T: %w", k.kind, obj, err)
			}
			return list, nil
		}
	}
	obj := w.prototype(k, gvk)
	found, err := w.get(ctx, key, obj)
	if err != nil || !found {
		return out, err
	}
	return k.decl.Append(out, obj)
}

// listInto appends the objects of kind k that the list options select to out.
func (w *World) listInto(ctx context.Context, k kindSpec, gvk schema.GroupVersionKind, key string, cacheOpts, liveOpts []client.ListOption, out any) (any, error) {
	var err error
	if k.metadataOnly() {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(listGVK(gvk))
		if err := w.list(ctx, list, key, cacheOpts, liveOpts); err != nil {
			return out, err
		}
		for j := range list.Items {
			list.Items[j].SetGroupVersionKind(gvk) // a list's items may come without it
			if out, err = k.decl.Append(out, &list.Items[j]); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(listGVK(gvk))
	if err := w.list(ctx, list, key, cacheOpts, liveOpts); err != nil {
		return out, err
	}
	for j := range list.Items {
		if out, err = k.decl.Append(out, &list.Items[j]); err != nil {
			return out, err
		}
	}
	return out, nil
}

// describe says what could not be read.
func describe(err error, kind policy.WorldKind, q policy.Query) error {
	switch q.By {
	case policy.ByName:
		return fmt.Errorf("read %s named %s: %w", kind, q.Name, err)
	case policy.InNamespace:
		return fmt.Errorf("read %s in %s: %w", kind, q.Namespace, err)
	}
	if q.Namespace == "" {
		return fmt.Errorf("read %s %s: %w", kind, q.Name, err)
	}
	return fmt.Errorf("read %s %s/%s: %w", kind, q.Namespace, q.Name, err)
}

// Has implements policy.World.
func (w *World) Has(kind policy.WorldKind) bool {
	specs, _ := w.activeSpecs(kind)
	return len(specs) > 0
}

// Complete implements policy.World: the cache holds every object of each kind
// it serves.
func (w *World) Complete(kind policy.WorldKind) bool { return w.Has(kind) }
