package check

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/manifest"
	"github.com/meshgate/meshgate/policy"
	"github.com/meshgate/meshgate/world"
)

// worldBuilder collects the World's objects: the cluster's first, then --world
// files, then the inputs; a later object replaces an earlier one of the same
// identity (kind, namespace, name), so the manifests being checked win over what
// is running.
type worldBuilder struct {
	defaultNS string
	order     []identity
	objs      map[identity]worldObj
	known     []policy.WorldKind
}

type identity struct {
	kind      policy.WorldKind
	namespace string
	name      string
}

type worldObj struct {
	u *unstructured.Unstructured
	// src is where it came from (nil for cluster objects); errors are reported
	// there for --world files only (an input is reviewed, and its review reports
	// the same problem).
	src     *manifest.Object
	reportE bool
}

func newWorldBuilder(defaultNS string) *worldBuilder {
	return &worldBuilder{defaultNS: defaultNS, objs: map[identity]worldObj{}}
}

func (b *worldBuilder) put(u *unstructured.Unstructured, src *manifest.Object, report bool) {
	kind, ok := world.KindOf(u)
	if !ok {
		return
	}
	id := identity{kind: kind, namespace: u.GetNamespace(), name: u.GetName()}
	if id.namespace == "" && kind != policy.KindNamespace {
		id.namespace = b.defaultNS
	}
	if _, seen := b.objs[id]; !seen {
		b.order = append(b.order, id)
	}
	b.objs[id] = worldObj{u: u, src: src, reportE: report}
}

// add puts a manifest object into the World; fromWorldFile says whether a
// problem with it is reported (it is not reviewed otherwise).
func (b *worldBuilder) add(o *manifest.Object, fromWorldFile bool) {
	b.put(o.Object, o, fromWorldFile)
}

func (b *worldBuilder) addCluster(c *ClusterWorld) {
	for _, u := range c.Objects {
		b.put(u, nil, false)
	}
	b.known = append(b.known, c.Known...)
}

// build returns the World, and the problems with --world objects.
func (b *worldBuilder) build() (*world.Memory, []InputError) {
	w := world.NewMemory(b.defaultNS)
	for _, k := range b.known {
		w.MarkKnown(k)
	}
	var errs []InputError
	for _, id := range b.order {
		o := b.objs[id]
		if _, err := w.Add(o.u); err != nil && o.reportE && o.src != nil {
			errs = append(errs, InputError{File: o.src.Source, Line: o.src.Line, Message: fmt.Sprintf("world: %v", err)})
		}
	}
	return w, errs
}
