package check

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshgate/meshgate/internal/policy"
)

// ClusterWorld is what was read from a live cluster.
type ClusterWorld struct {
	// Objects are the World objects the cluster holds.
	Objects []*unstructured.Unstructured
	// Known are the kinds that were listed (their CRD is installed and listing
	// was allowed), even if no object of them exists.
	Known []policy.WorldKind
	// Warnings are kinds that could not be read (skipped).
	Warnings []string
}

type clusterReader func(ctx context.Context) (*ClusterWorld, error)

// liveCluster reads the World from the cluster of kubeconfig (default loading
// rules when empty) and context (the current one when empty).
func liveCluster(kubeconfig, kubeContext string) clusterReader {
	return func(ctx context.Context) (*ClusterWorld, error) {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if kubeconfig != "" {
			rules.ExplicitPath = kubeconfig
		}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
		cfg, err := cc.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		cfg.UserAgent = "meshgate-check"
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
		return readCluster(ctx, dyn, restmapper.NewDiscoveryRESTMapper(groups))
	}
}

// readCluster lists every World kind the cluster serves, in all namespaces,
// page by page. Kinds whose CRD is absent are skipped silently; kinds that
// cannot be listed (forbidden) are skipped with a warning and stay unknown.
func readCluster(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper) (*ClusterWorld, error) {
	out := &ClusterWorld{}
	for _, wk := range policy.WorldKindsRead() {
		mapping, err := mapper.RESTMapping(wk.GroupKind())
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %v", wk.Kind, err))
			continue
		}
		objs, err := listAll(ctx, dyn.Resource(mapping.Resource))
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out.Warnings = append(out.Warnings, fmt.Sprintf("cannot list %s (skipped; rules treat them as unknown): %v", mapping.Resource.GroupResource(), err))
			continue
		}
		out.Objects = append(out.Objects, objs...)
		out.Known = append(out.Known, wk.Kind)
	}
	return out, nil
}

func listAll(ctx context.Context, ri dynamic.NamespaceableResourceInterface) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	opts := metav1.ListOptions{Limit: 500}
	for {
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
