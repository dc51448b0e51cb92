// Package live reads what a running cluster holds, read-only: the World kinds
// the registered rules consult (policy.WorldKindsRead) and the objects of every
// kind a rule reviews (policy.ReviewedKinds), each kind listed page by page.
// `meshgate check --live` and the admission server's audit read through it.
package live

import (
	"context"
	"fmt"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshgate/meshgate/internal/policy"
)

// DefaultPageSize is how many objects one list call asks for.
const DefaultPageSize = 500

// RESTConfig loads the client configuration of kubeconfig (the default loading
// rules when empty: $KUBECONFIG, ~/.kube/config, in-cluster) and context (the
// current one when empty).
func RESTConfig(kubeconfig, kubeContext, userAgent string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}

// Reader lists objects from a cluster. It is safe for concurrent use.
type Reader struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	// PageSize is the limit of each list call (DefaultPageSize when 0).
	PageSize int64
	calls    atomic.Int64
}

// NewReader returns a Reader over dyn, resolving kinds with mapper.
func NewReader(dyn dynamic.Interface, mapper meta.RESTMapper) *Reader {
	return &Reader{dyn: dyn, mapper: mapper}
}

// NewReaderForConfig discovers the cluster's API resources once and returns a
// Reader for cfg.
func NewReaderForConfig(cfg *rest.Config) (*Reader, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		return nil, fmt.Errorf("discover API resources: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	return NewReader(dyn, restmapper.NewDiscoveryRESTMapper(groups)), nil
}

// Calls returns how many list calls (pages) the Reader made.
func (r *Reader) Calls() int64 { return r.calls.Load() }

// World is what was read of the World kinds.
type World struct {
	// Objects are the World objects the cluster holds.
	Objects []*unstructured.Unstructured
	// Known are the kinds that were listed (their CRD is installed and listing
	// was allowed), even if no object of them exists.
	Known []policy.WorldKind
	// Warnings are kinds that could not be read (skipped).
	Warnings []string
}

// ReadWorld lists every World kind the registered rules read, in all
// namespaces. Kinds whose CRD is absent are skipped silently; kinds that
// cannot be listed (forbidden) are skipped with a warning and stay unknown.
func (r *Reader) ReadWorld(ctx context.Context) (*World, error) {
	out := &World{}
	for _, wk := range policy.WorldKindsRead() {
		objs, warn, err := r.listKind(ctx, wk.GroupKind(), "")
		if err != nil {
			return nil, err
		}
		if warn != "" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s (rules treat them as unknown)", wk.Kind, warn))
			continue
		}
		if objs == nil {
			continue // not served
		}
		out.Objects = append(out.Objects, objs...)
		out.Known = append(out.Known, wk.Kind)
	}
	return out, nil
}

// Reviewed is what was read of the kinds the rules review.
type Reviewed struct {
	// Objects are the objects, kind by kind in policy.ReviewedKinds order.
	Objects []*unstructured.Unstructured
	// Kinds are the kinds that were listed.
	Kinds []schema.GroupKind
	// Warnings are kinds that could not be read (skipped).
	Warnings []string
}

// ReadReviewed lists the objects of every kind some rule reviews, in
// namespace (all namespaces when empty; cluster-scoped kinds are listed
// whole). Kinds the cluster does not serve are skipped; kinds that cannot be
// listed are skipped with a warning.
func (r *Reader) ReadReviewed(ctx context.Context, namespace string) (*Reviewed, error) {
	out := &Reviewed{}
	for _, k := range policy.ReviewedKinds() {
		objs, warn, err := r.listKind(ctx, k.GroupKind(), namespace)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s (not audited)", k.GroupKind(), warn))
			continue
		}
		if objs == nil {
			continue
		}
		out.Objects = append(out.Objects, objs...)
		out.Kinds = append(out.Kinds, k.GroupKind())
	}
	return out, nil
}

// listKind lists every object of gk (in namespace, when the kind is
// namespaced and namespace is set). It returns nil objects when the cluster
// does not serve the kind, and a warning when it cannot be listed; an error
// only when ctx is done.
func (r *Reader) listKind(ctx context.Context, gk schema.GroupKind, namespace string) ([]*unstructured.Unstructured, string, error) {
	mapping, err := r.mapper.RESTMapping(gk)
	if meta.IsNoMatchError(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, err.Error(), nil
	}
	var ri dynamic.ResourceInterface = r.dyn.Resource(mapping.Resource)
	if namespace != "" && mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = r.dyn.Resource(mapping.Resource).Namespace(namespace)
	}
	objs, err := r.ListAll(ctx, ri)
	switch {
	case err == nil:
		if objs == nil {
			objs = []*unstructured.Unstructured{}
		}
		return objs, "", nil
	case ctx.Err() != nil:
		return nil, "", fmt.Errorf("list %s: %w", mapping.Resource.GroupResource(), ctx.Err())
	case apierrors.IsNotFound(err):
		return nil, "", nil
	}
	return nil, fmt.Sprintf("cannot list %s (skipped): %v", mapping.Resource.GroupResource(), err), nil
}

// ListAll lists every object of ri, PageSize at a time. Every object carries
// its apiVersion and kind.
func (r *Reader) ListAll(ctx context.Context, ri dynamic.ResourceInterface) ([]*unstructured.Unstructured, error) {
	return r.ListSelected(ctx, ri, "")
}

// ListSelected lists the objects of ri that labelSelector selects (all when
// empty), PageSize at a time.
func (r *Reader) ListSelected(ctx context.Context, ri dynamic.ResourceInterface, labelSelector string) ([]*unstructured.Unstructured, error) {
	size := r.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	var out []*unstructured.Unstructured
	opts := metav1.ListOptions{Limit: size, LabelSelector: labelSelector}
	for {
		r.calls.Add(1)
		list, err := ri.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if list.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = list.GetContinue()
	}
}
