package check

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

// worldBuilder collects the World's objects: the cluster's first, then --world
// files, then the inputs. The World holds the last copy of each identity (kind,
// namespace, name), so the manifests being checked win over what is running;
// every copy read from a file is kept, so the report can say which one a rule
// used.
type worldBuilder struct {
	defaultNS string
	order     []identity
	objs      map[identity][]worldObj
	known     []policy.WorldKind
	// errs are the problems with --world documents.
	errs []InputError
	// wrap wraps the Worlds built (Options.wrapWorld).
	wrap func(policy.World) policy.World
}

type identity struct {
	kind      policy.WorldKind
	namespace string
	name      string
}

func (id identity) String() string {
	kind := string(id.kind)
	if i := strings.LastIndexByte(kind, '/'); i >= 0 {
		kind = kind[i+1:]
	}
	if id.namespace == "" {
		return kind + " " + id.name
	}
	return kind + " " + id.namespace + "/" + id.name
}

type worldObj struct {
	u *unstructured.Unstructured
	// src is where it came from (nil for cluster objects); errors are reported
	// there for --world files only (an input is reviewed, and its review reports
	// the same problem).
	src     *manifest.Object
	reportE bool
}

// input reports whether the copy is from the input (not the cluster or a
// --world file).
func (o worldObj) input() bool { return o.src != nil && !o.reportE }

// overlay is an input object that changes the World's copy of it (from the
// cluster or a --world file): the World holds the merge of the two.
type overlay struct {
	id    identity
	input *manifest.Object
	// base is the World's copy's file and line ("" for the cluster).
	base string
	// kept are the World's labels and annotations the input does not set.
	kept []string
	// changed is false when applying the input would change nothing (the
	// World's copy has labels the input does not show).
	changed bool
}

func newWorldBuilder(defaultNS string) *worldBuilder {
	return &worldBuilder{defaultNS: defaultNS, objs: map[identity][]worldObj{}}
}

// clone returns a builder holding the same objects, to add more to.
func (b *worldBuilder) clone() *worldBuilder {
	c := &worldBuilder{defaultNS: b.defaultNS, order: slices.Clone(b.order), objs: make(map[identity][]worldObj, len(b.objs)), known: b.known, errs: b.errs, wrap: b.wrap}
	for id, copies := range b.objs {
		c.objs[id] = slices.Clone(copies)
	}
	return c
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
	b.objs[id] = append(b.objs[id], worldObj{u: u, src: src, reportE: report})
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

// builtWorld is one World and the identities it holds more than one file's
// copy of.
type builtWorld struct {
	w    policy.World
	dups map[identity][]worldObj
	// overlays are the World objects the input changes.
	overlays []overlay
}

// build returns the World, and the problems with --world objects.
func (b *worldBuilder) build() (*builtWorld, []InputError) {
	w := world.NewMemory(b.defaultNS)
	for _, k := range b.known {
		w.MarkKnown(k)
	}
	bw := &builtWorld{w: w}
	if b.wrap != nil {
		bw.w = b.wrap(w)
	}
	errs := slices.Clone(b.errs)
	for _, id := range b.order {
		copies := b.objs[id]
		o := copies[len(copies)-1]
		if o.input() {
			o = bw.applyInput(id, copies)
		}
		if _, err := w.Add(o.u); err != nil && o.reportE && o.src != nil {
			errs = append(errs, InputError{File: o.src.Source, Line: o.src.Line, Message: fmt.Sprintf("world: %v", err)})
		}
		var files []worldObj
		for _, c := range copies {
			if c.src != nil {
				files = append(files, c)
			}
		}
		if len(files) > 1 {
			if bw.dups == nil {
				bw.dups = map[identity][]worldObj{}
			}
			bw.dups[id] = files
		}
	}
	return bw, errs
}

// applyInput returns the World's object for id whose last copy is from the
// input: that copy merged over the last copy from the cluster or a --world
// file, as applying it would leave the object (see applyOver), and records
// the change.
func (bw *builtWorld) applyInput(id identity, copies []worldObj) worldObj {
	in := copies[len(copies)-1]
	for j := len(copies) - 2; j >= 0; j-- {
		base := copies[j]
		if base.input() {
			continue
		}
		ov := overlay{id: id, input: in.src, kept: keptMeta(base.u, in.u)}
		if base.src != nil {
			ov.base = loc(base.src.Source, base.src.Line)
		}
		if covers(base.u.Object, in.u.Object) {
			// Applying the input changes nothing; say so when the World's
			// copy has labels the input does not show.
			if slices.ContainsFunc(ov.kept, func(k string) bool { return strings.HasPrefix(k, "label ") }) {
				bw.overlays = append(bw.overlays, ov)
			}
			return base
		}
		ov.changed = true
		bw.overlays = append(bw.overlays, ov)
		return worldObj{u: &unstructured.Unstructured{Object: applyOver(base.u.Object, in.u.Object)}, src: in.src}
	}
	return in
}

// applyOver returns the object `kubectl apply` of input leaves when the
// cluster holds live: the input's fields win, mappings (labels, annotations,
// spec) are merged key by key so the fields the input does not set stay, lists
// and other values are replaced, and a null in the input deletes the field.
// Neither argument is modified.
func applyOver(live, input map[string]any) map[string]any {
	out := copyJSON(live).(map[string]any)
	mergeInto(out, input)
	return out
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = copyJSON(v)
	}
}

// covers reports whether live already holds everything input sets: applying
// input would change nothing (the fields the API server defaulted, such as a
// port's protocol, and the cluster's own fields do not count as changes).
func covers(live, input any) bool {
	switch in := input.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range in {
			lv, set := l[k]
			if v == nil {
				if set && lv != nil {
					return false
				}
				continue
			}
			if !set || !covers(lv, v) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(in) {
			return false
		}
		for i := range in {
			if !covers(l[i], in[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(live, input)
}

// copyJSON copies the maps and slices of an unstructured value.
func copyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyJSON(e)
		}
		return out
	}
	return v
}

// keptMeta lists the labels (key=value) and annotations (key) of live that
// input does not set: the ones applying input keeps. What the API server and
// kubectl write on every object (a Namespace's kubernetes.io/metadata.name
// label, the last applied configuration) is left out.
func keptMeta(live, input *unstructured.Unstructured) []string {
	var out []string
	for _, m := range []struct {
		what        string
		live, input map[string]string
	}{{"label", live.GetLabels(), input.GetLabels()}, {"annotation", live.GetAnnotations(), input.GetAnnotations()}} {
		var keys []string
		for k := range m.live {
			if _, set := m.input[k]; !set && k != corev1.LastAppliedConfigAnnotation && k != corev1.LabelMetadataName {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if m.what == "label" {
				k += "=" + m.live[k]
			}
			out = append(out, m.what+" "+k)
		}
	}
	return out
}

// overlayNotes say which World objects (from the cluster or --world files)
// the input changes, once each (every World of --world-per-dir merges the
// same way).
func overlayNotes(worlds map[string]*builtWorld) []Note {
	keys := make([]string, 0, len(worlds))
	for k := range worlds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[*manifest.Object]bool{}
	var out []Note
	for _, k := range keys {
		for _, ov := range worlds[k].overlays {
			if seen[ov.input] {
				continue
			}
			seen[ov.input] = true
			what := "the cluster's " + ov.id.String()
			if ov.base != "" {
				what = "the World's " + ov.id.String() + " (from " + ov.base + ")"
			}
			msg := "changes " + what + ": the rules use what applying it would leave (the input's fields win, fields it does not set stay)"
			if !ov.changed {
				msg = "leaves " + what + " as it is: the rules use that copy"
			}
			if len(ov.kept) > 0 {
				msg += "; kept: " + strings.Join(ov.kept, ", ")
			}
			out = append(out, Note{Kind: NoteOverlay, File: ov.input.Source, Line: ov.input.Line, Message: msg})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].File < out[j].File || out[i].File == out[j].File && out[i].Line < out[j].Line
	})
	return out
}

// worldKey names the World a file is reviewed in.
func worldKey(o *Options, f *File) string {
	if !o.WorldPerDir {
		return ""
	}
	return f.Unit
}

// buildWorlds builds the World of every unit (one for all inputs unless
// --world-per-dir) from base and the inputs' World objects (the documents at
// worldDocs), and returns the problems with --world objects.
func buildWorlds(o *Options, base *worldBuilder, tasks []chunkTask, worldDocs []int) (map[string]*builtWorld, []InputError) {
	byUnit := map[string][]*manifest.Object{}
	shared := map[string]string{}
	for _, t := range tasks {
		key := worldKey(o, t.file)
		if _, ok := byUnit[key]; !ok {
			byUnit[key] = nil
			if o.WorldPerDir {
				shared[key] = t.file.Shared
			}
		}
	}
	for _, i := range worldDocs {
		t := tasks[i]
		key := worldKey(o, t.file)
		byUnit[key] = append(byUnit[key], t.file.Docs[t.chunk.Index-1].Objects...)
	}
	units := make([]string, 0, len(byUnit))
	for u := range byUnit {
		units = append(units, u)
	}
	sort.Strings(units)
	if len(units) == 0 {
		units = []string{""}
	}
	worlds := make(map[string]*builtWorld, len(units))
	var errs []InputError
	for i, u := range units {
		b := base.clone()
		if s := shared[u]; s != "" && s != u {
			for _, obj := range byUnit[s] {
				b.add(obj, false)
			}
		}
		for _, obj := range byUnit[u] {
			b.add(obj, false)
		}
		bw, werrs := b.build()
		if i == 0 {
			errs = werrs // the same --world objects in every World
		}
		worlds[u] = bw
	}
	return worlds, errs
}

// question is something a review asked the World that it could not answer: a
// namespace it does not know (kind Namespace, name set), or any object of a
// kind it holds none of (name empty).
type question struct {
	kind policy.WorldKind
	name string
}

// askedWorld is the World one review sees: it answers from the World, and
// remembers what it could not answer and which duplicated objects it served
// from another directory than the reviewed object's.
type askedWorld struct {
	policy.World
	dups    map[identity][]worldObj
	from    string
	unknown []question
	used    []identity
}

func (bw *builtWorld) askedBy(obj *manifest.Object) *askedWorld {
	return &askedWorld{World: bw.w, dups: bw.dups, from: obj.Source}
}

func (a *askedWorld) ask(q question) {
	if !slices.Contains(a.unknown, q) {
		a.unknown = append(a.unknown, q)
	}
}

// served records that the review used the World's copy of an identity match
// accepts that has several copies, when the copy used is from another directory
// than the reviewed object (an overlay judged with another overlay's object).
func (a *askedWorld) served(match func(identity) bool) {
	for id, copies := range a.dups {
		if match(id) && filepath.Dir(copies[len(copies)-1].src.Source) != filepath.Dir(a.from) && !slices.Contains(a.used, id) {
			a.used = append(a.used, id)
		}
	}
}

// noneOf records, after a lookup of kind that found nothing, that the World
// holds nothing of that kind (so the answer is "unknown", not "absent").
func (a *askedWorld) noneOf(kind policy.WorldKind, found bool, err error) {
	if err == nil && !found && !a.Has(kind) {
		a.ask(question{kind: kind})
	}
}

// Find implements policy.World.
func (a *askedWorld) Find(ctx context.Context, kind policy.WorldKind, q policy.Query) (any, error) {
	out, err := a.World.Find(ctx, kind, q)
	found := out != nil && reflect.ValueOf(out).Len() > 0
	if kind == policy.KindNamespace {
		if err == nil && !found {
			a.ask(question{kind: kind, name: q.Name})
		}
	} else {
		a.noneOf(kind, found, err)
	}
	if a.dups != nil {
		a.served(func(id identity) bool {
			switch q.By {
			case policy.ByName:
				return id.kind == kind && id.name == q.Name
			case policy.InNamespace:
				return id.kind == kind && id.namespace == q.Namespace
			}
			return id.kind == kind && id.name == q.Name && (kind == policy.KindNamespace || id.namespace == q.Namespace)
		})
	}
	return out, err
}

// notes say which duplicated World objects the review used from another file.
func (a *askedWorld) notes(obj *manifest.Object, ref policy.ObjectRef) []Note {
	var out []Note
	for _, id := range a.used {
		copies := a.dups[id]
		var others []string
		for _, c := range copies[:len(copies)-1] {
			others = append(others, loc(c.src.Source, c.src.Line))
		}
		last := copies[len(copies)-1].src
		out = append(out, Note{Kind: NoteDuplicate, File: obj.Source, Line: obj.Line, Message: fmt.Sprintf(
			"%s was judged with the copy of %s at %s, not the one at %s (the same object is defined more than once; --world-per-dir checks each top-level directory in a World of its own)",
			ref, id, loc(last.Source, last.Line), strings.Join(others, ", "))})
	}
	return out
}

// howToTell says how to give meshgate what its World lacks.
func howToTell(what string) string {
	return "Tell meshgate: put " + what + " in the input, give " + what + " with --world FILE|DIR, or read the cluster with --kubeconfig"
}

// unknownNotes turns the questions the World could not answer into one note
// each: what it did not know, which objects (and so which rules) it kept from
// being checked, and how to tell meshgate.
func unknownNotes(res *Result) []Note {
	type agg struct {
		objects int
		kinds   []string
		rules   []string
	}
	var order []question
	byQ := map[question]*agg{}
	for _, r := range res.Objects {
		for _, q := range r.unknown {
			a := byQ[q]
			if a == nil {
				a = &agg{}
				byQ[q] = a
				order = append(order, q)
			}
			a.objects++
			if !slices.Contains(a.kinds, r.GVK.Kind) {
				a.kinds = append(a.kinds, r.GVK.Kind)
			}
			for _, rule := range rulesFor(r.GVK.GroupKind(), res.Config, r) {
				if !slices.Contains(a.rules, rule) {
					a.rules = append(a.rules, rule)
				}
			}
		}
	}
	out := make([]Note, 0, len(order))
	for _, q := range order {
		a := byQ[q]
		sort.Strings(a.rules)
		var msg string
		count, verb := objectsWord(a.objects)
		if q.kind == policy.KindNamespace {
			msg = fmt.Sprintf("not checked: the World does not know namespace %q (no Namespace object), so %s in it (%s) %s reviewed as outside the mesh: the mesh checks of %s could not apply. %s",
				q.name, count, strings.Join(a.kinds, ", "), verb, strings.Join(a.rules, ", "), howToTell("the Namespace object"))
		} else {
			msg = fmt.Sprintf("not checked: the World holds no %s, so %s (%s) that refer to one %s reviewed without it: %s could not check those references. %s",
				kindWords(q.kind), count, strings.Join(a.kinds, ", "), verb, strings.Join(a.rules, ", "), howToTell("them"))
		}
		out = append(out, Note{Kind: NoteWorld, Message: msg})
	}
	return out
}

// kindWords name the objects of a World kind.
func kindWords(kind policy.WorldKind) string {
	if d, ok := policy.LookupDeclared(kind); ok {
		return d.Decl().Words
	}
	return string(kind)
}

// objectsWord counts objects, and gives the verb that agrees: "1 object", "was".
func objectsWord(n int) (string, string) {
	if n == 1 {
		return "1 object", "was"
	}
	return fmt.Sprintf("%d objects", n), "were"
}

// duplicateNotes reports the input objects defined more than once in one World
// (same group, kind, namespace and name), with every copy's file and line.
func duplicateNotes(res *Result, o *Options) []Note {
	type key struct {
		unit string
		gk   schema.GroupKind
		ns   string
		name string
	}
	unitOf := map[string]string{}
	for _, f := range res.Files {
		unitOf[f.Path] = worldKey(o, f)
	}
	var order []key
	copies := map[key][]*Reviewed{}
	for _, r := range res.Objects {
		if r.Ref.Name == "" {
			continue
		}
		ns := r.Ref.Namespace
		if ns == "" && r.GVK.Kind != "Namespace" {
			ns = o.Namespace
		}
		k := key{unitOf[r.Source], r.GVK.GroupKind(), ns, r.Ref.Name}
		if _, ok := copies[k]; !ok {
			order = append(order, k)
		}
		copies[k] = append(copies[k], r)
	}
	var out []Note
	for _, k := range order {
		cs := copies[k]
		if len(cs) < 2 {
			continue
		}
		locs := make([]string, len(cs))
		for i, c := range cs {
			locs[i] = loc(c.Source, c.Line)
		}
		name := k.name
		if k.ns != "" {
			name = k.ns + "/" + name
		}
		msg := fmt.Sprintf("duplicate: %s %s is defined %d times: %s", k.gk.Kind, name, len(cs), strings.Join(locs, ", "))
		if _, isWorld := world.KindOf(&unstructured.Unstructured{Object: map[string]any{"apiVersion": cs[0].Ref.APIVersion, "kind": k.gk.Kind}}); isWorld {
			msg += fmt.Sprintf("; the rules use the last one (%s) for every object that refers to it", locs[len(locs)-1])
		}
		if !o.WorldPerDir {
			msg += "; to check environment overlays (prod/, staging/) separately, use --world-per-dir"
		}
		out = append(out, Note{Kind: NoteDuplicate, File: cs[1].Source, Line: cs[1].Line, Message: msg})
	}
	return out
}
