package check

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshgate/meshgate/internal/live"
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
	// Reviewed are the live objects of the kinds the rules review (with
	// --live only).
	Reviewed []*unstructured.Unstructured
}

type clusterReader func(ctx context.Context) (*ClusterWorld, error)

// liveCluster reads the World from the cluster of kubeconfig (default loading
// rules when empty) and context (the current one when empty); with reviewed,
// the objects to review too, in namespace (all when empty).
func liveCluster(kubeconfig, kubeContext string, reviewed bool, namespace string) clusterReader {
	return func(ctx context.Context) (*ClusterWorld, error) {
		cfg, err := live.RESTConfig(kubeconfig, kubeContext, "meshgate-check")
		if err != nil {
			return nil, err
		}
		r, err := live.NewReaderForConfig(cfg)
		if err != nil {
			return nil, err
		}
		return read(ctx, r, reviewed, namespace)
	}
}

// readCluster lists every World kind the cluster serves, in all namespaces,
// page by page (see live.Reader.ReadWorld).
func readCluster(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper) (*ClusterWorld, error) {
	return read(ctx, live.NewReader(dyn, mapper), false, "")
}

func read(ctx context.Context, r *live.Reader, reviewed bool, namespace string) (*ClusterWorld, error) {
	w, err := r.ReadWorld(ctx)
	if err != nil {
		return nil, err
	}
	out := &ClusterWorld{Objects: w.Objects, Known: w.Known, Warnings: w.Warnings}
	if !reviewed {
		return out, nil
	}
	rv, err := r.ReadReviewed(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("read the objects to review: %w", err)
	}
	out.Reviewed = rv.Objects
	out.Warnings = append(out.Warnings, rv.Warnings...)
	return out, nil
}
