package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/meshgate/meshgate/internal/live"
)

// Writes counts what one Sync did.
type Writes struct {
	Created, Updated, Deleted, Unchanged int
	// Lists counts the list calls (pages) that read the existing reports.
	Lists int64
}

// Calls is how many API calls the writes took (lists included).
func (w Writes) Calls() int64 { return w.Lists + int64(w.Created+w.Updated+w.Deleted) }

// Writer keeps the reports in the cluster in line with the audit: it writes
// only the reports that changed, deletes those of resources that are gone,
// with at most Workers writes in flight, paced by Limiter.
type Writer struct {
	Dynamic dynamic.Interface
	Kinds   Kinds
	// Workers bounds the writes in flight (1 when 0).
	Workers int
	// Limiter paces the writes (nil: not paced).
	Limiter *rate.Limiter
}

type reportKey struct{ namespace, name string }

// Sync makes the cluster's reports those of want. A stored report of
// meshgate's that want does not hold is deleted when keep says its scope was
// audited this time (its kind was listed): a resource that is gone, or no
// longer reviewed by any rule.
func (w *Writer) Sync(ctx context.Context, want []*unstructured.Unstructured, audited func(scopeAPIVersion, scopeKind string) bool) (Writes, error) {
	var out Writes
	reader := live.NewReader(w.Dynamic, nil)
	have := map[reportKey]*unstructured.Unstructured{}
	for _, ri := range []dynamic.ResourceInterface{w.Dynamic.Resource(w.Kinds.Namespaced), w.Dynamic.Resource(w.Kinds.Cluster)} {
		objs, err := reader.ListSelected(ctx, ri, ManagedByLabel+"="+ManagedBy)
		if err != nil {
			return out, fmt.Errorf("list the reports: %w", err)
		}
		for _, u := range objs {
			have[reportKey{u.GetNamespace(), u.GetName()}] = u
		}
	}
	out.Lists = reader.Calls()

	type op struct {
		kind string // create, update, delete
		u    *unstructured.Unstructured
	}
	var ops []op
	wanted := map[reportKey]bool{}
	for _, u := range want {
		k := reportKey{u.GetNamespace(), u.GetName()}
		wanted[k] = true
		old, ok := have[k]
		switch {
		case !ok:
			ops = append(ops, op{"create", u})
		case SameReport(old, u):
			out.Unchanged++
		default:
			u.SetResourceVersion(old.GetResourceVersion())
			ops = append(ops, op{"update", u})
		}
	}
	for k, u := range have {
		if wanted[k] {
			continue
		}
		apiVersion, _, _ := unstructured.NestedString(u.Object, "scope", "apiVersion")
		kind, _, _ := unstructured.NestedString(u.Object, "scope", "kind")
		if audited == nil || audited(apiVersion, kind) {
			ops = append(ops, op{"delete", u})
		}
	}

	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(max(1, w.Workers))
	for _, o := range ops {
		if w.Limiter != nil {
			if err := w.Limiter.Wait(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				break
			}
		}
		g.Go(func() error {
			err := w.apply(ctx, o.kind, o.u)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			switch o.kind {
			case "create":
				out.Created++
			case "update":
				out.Updated++
			case "delete":
				out.Deleted++
			}
			return nil
		})
	}
	_ = g.Wait() // the errors are collected above: one failed write does not stop the others
	return out, errors.Join(errs...)
}

func (w *Writer) resource(u *unstructured.Unstructured) dynamic.ResourceInterface {
	if u.GetNamespace() == "" {
		return w.Dynamic.Resource(w.Kinds.Cluster)
	}
	return w.Dynamic.Resource(w.Kinds.Namespaced).Namespace(u.GetNamespace())
}

func (w *Writer) apply(ctx context.Context, kind string, u *unstructured.Unstructured) error {
	ri := w.resource(u)
	var err error
	switch kind {
	case "create":
		_, err = ri.Create(ctx, u, metav1.CreateOptions{FieldManager: ManagedBy})
	case "update":
		_, err = ri.Update(ctx, u, metav1.UpdateOptions{FieldManager: ManagedBy})
	case "delete":
		err = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptrUID(u)}})
		if apierrors.IsNotFound(err) {
			err = nil // the garbage collector was first
		}
	}
	if err != nil {
		return fmt.Errorf("%s report %s: %w", kind, strings.TrimPrefix(u.GetNamespace()+"/"+u.GetName(), "/"), err)
	}
	return nil
}

func ptrUID(u *unstructured.Unstructured) *types.UID {
	uid := u.GetUID()
	return &uid
}
