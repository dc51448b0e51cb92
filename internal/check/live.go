package check

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

// LiveSource is the file name findings on live objects (--live) carry.
const LiveSource = "cluster"

type liveID struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

// reviewLive audits the live objects that the input files do not redefine
// (audit.Review: workloads with their pods, drift) and appends them to res
// after the files' objects.
func reviewLive(ctx context.Context, eng *engine.Engine, w policy.World, objs []*unstructured.Unstructured, res *Result, o *Options) {
	overlaid := map[liveID]bool{}
	for _, r := range res.Objects {
		ns := r.Ref.Namespace
		if ns == "" {
			ns = o.Namespace
		}
		overlaid[liveID{r.GVK.GroupKind(), ns, r.Ref.Name}] = true
	}
	kept := make([]*unstructured.Unstructured, 0, len(objs))
	for _, u := range objs {
		id := liveID{u.GroupVersionKind().GroupKind(), u.GetNamespace(), u.GetName()}
		if id.namespace == "" {
			id.namespace = o.Namespace // the files' namespace for objects without one
		}
		if !overlaid[id] {
			kept = append(kept, u)
		}
	}
	res.live = audit.Review(ctx, eng, w, kept, o.Workers)
	for _, r := range res.live {
		mo := &manifest.Object{Object: r.Object, Source: LiveSource, Item: -1}
		rv := &Reviewed{Object: mo, Ref: r.Ref, GVK: r.Object.GroupVersionKind()}
		if r.Err != nil {
			rv.Err = &InputError{File: LiveSource, Message: r.Ref.String() + ": " + r.Err.Error()}
			res.Errors = append(res.Errors, *rv.Err)
			res.Objects = append(res.Objects, rv)
			continue
		}
		rv.Result = &engine.Result{Object: r.Object}
		for _, f := range r.Findings {
			rv.Result.Findings = append(rv.Result.Findings, f.Finding)
			rv.Findings = append(rv.Findings, Finding{Finding: f.Finding, File: LiveSource, Kind: f.Kind})
		}
		res.Objects = append(res.Objects, rv)
	}
}

// writeOpenReports writes the report of every live resource, as the audit
// writes it, in a kind: List (empty without --live: the files' objects have no
// resource in the cluster to own a report).
func writeOpenReports(w io.Writer, res *Result) error {
	items := make([]any, 0, len(res.live))
	now := time.Now()
	for _, r := range res.live {
		u, err := audit.BuildReport(r, audit.FormatOpenReports, now)
		if err != nil {
			return err
		}
		items = append(items, u.Object)
	}
	doc, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		return fmt.Errorf("encode the reports: %w", err)
	}
	_, err = w.Write(doc)
	return err
}
