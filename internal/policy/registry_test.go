package policy

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// These tests register rules of their own, on an empty registry (the package's
// external tests link meshgate's rules).
func emptyRegistry(t *testing.T) {
	t.Helper()
	t.Cleanup(RegisterScoped())
	registry.Store(&map[string]Rule{})
}

func objectCheck(context.Context, *unstructured.Unstructured, Target, World, *Config) (Report, error) {
	return Report{}, nil
}

func podCheck(context.Context, *corev1.Pod, Target, World, *Config) (Report, error) {
	return Report{}, nil
}

var widget = Kind{Group: "example.io", Kind: "Widget", Resource: "widgets", Versions: []string{"v1"}, Operations: []Operation{Create}}

func rule(id string, mutation bool, kinds []Kind, check Check) Rule {
	return Rule{ID: id, Summary: "s", Mutation: mutation, Default: Warn, Reviews: []Review{{Kinds: kinds, Check: check}}}
}

// register registers rs in the test's registry (see emptyRegistry).
func register(t *testing.T, rs ...Rule) {
	t.Helper()
	for _, r := range rs {
		Register(r)
	}
}

func TestRegisterRejectsMalformedRules(t *testing.T) {
	emptyRegistry(t)
	register(t, rule("widget-a", false, []Kind{widget}, ObjectFunc(objectCheck)))
	templated := Kind{Group: "apps", Kind: "Deployment", Resource: "deployments", Versions: []string{"v1"}, Template: []string{"spec", "template"}}
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{"id not kebab", rule("Widget_A", false, []Kind{widget}, ObjectFunc(objectCheck)), "not lower-case kebab"},
		{"id twice", rule("widget-a", false, []Kind{widget}, ObjectFunc(objectCheck)), "registered twice"},
		{"no summary", Rule{ID: "x", Default: Warn, Reviews: []Review{{Kinds: []Kind{widget}, Check: ObjectFunc(objectCheck)}}}, "no summary"},
		{"default off", Rule{ID: "x", Summary: "s", Default: Off, Reviews: []Review{{Kinds: []Kind{widget}, Check: ObjectFunc(objectCheck)}}}, "default mode"},
		{"no reviews", Rule{ID: "x", Summary: "s", Default: Warn}, "reviews no kind"},
		{"review without function", rule("x", false, []Kind{widget}, nil), "no function or no kinds"},
		{"kind without resource", rule("x", false, []Kind{{Kind: "Widget", Versions: []string{"v1"}}}, ObjectFunc(objectCheck)), "needs kind, resource and versions"},
		{"template for an object function", rule("x", false, []Kind{templated}, ObjectFunc(objectCheck)), "only a PodFunc reviews it"},
		{"undeclared World kind", Rule{ID: "x", Summary: "s", Default: Warn, Reads: []WorldKind{"nope"},
			Reviews: []Review{{Kinds: []Kind{widget}, Check: ObjectFunc(objectCheck)}}}, "not declared"},
		{"same kind in another form", rule("x", false, []Kind{widget}, PodFunc(podCheck)), "different forms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "Register must panic")
				assert.Contains(t, panicText(r), tt.want)
			}()
			Register(tt.rule)
		})
	}
}

func panicText(r any) string {
	if err, ok := r.(error); ok {
		return err.Error()
	}
	s, _ := r.(string)
	return s
}

func TestRulesAreListedMutationsFirstByID(t *testing.T) {
	emptyRegistry(t)
	gadget := Kind{Group: "example.io", Kind: "Gadget", Resource: "gadgets", Versions: []string{"v1"}, Operations: []Operation{Create}}
	register(t,
		rule("zeta-check", false, []Kind{widget}, ObjectFunc(objectCheck)),
		rule("beta-fix", true, []Kind{widget}, ObjectFunc(objectCheck)),
		rule("alpha-check", false, []Kind{gadget}, ObjectFunc(objectCheck)),
		rule("omega-fix", true, []Kind{widget}, ObjectFunc(objectCheck)),
	)
	var ids []string
	for _, r := range Rules() {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{"beta-fix", "omega-fix", "alpha-check", "zeta-check"}, ids)

	ids = nil
	for _, r := range RulesFor(schema.GroupKind{Group: "example.io", Kind: "Widget"}) {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{"beta-fix", "omega-fix", "zeta-check"}, ids)
	assert.True(t, IsMutation("beta-fix"))
	assert.False(t, IsMutation("zeta-check"))
	assert.False(t, IsMutation("no-such-rule"))
	_, ok := LookupRule("no-such-rule")
	assert.False(t, ok)

	var kinds []string
	for _, k := range ReviewedKinds() {
		kinds = append(kinds, k.Kind)
	}
	assert.Equal(t, []string{"Widget", "Gadget"}, kinds, "each kind once, in rule order")
}

func TestWorldKindsReadFollowTheRules(t *testing.T) {
	emptyRegistry(t)
	assert.Empty(t, WorldKindsRead(), "no rule, nothing to read")
	r := rule("reads-gateways", false, []Kind{widget}, ObjectFunc(objectCheck))
	r.Reads = []WorldKind{KindGateway, KindNamespace}
	register(t, r)
	var got []WorldKind
	for _, k := range WorldKindsRead() {
		got = append(got, k.Kind)
	}
	assert.Equal(t, []WorldKind{KindNamespace, KindGateway}, got, "declaration order")
	assert.Equal(t, []string{"reads-gateways"}, RulesReading(KindGateway))
	assert.Empty(t, RulesReading(KindTLSContext))

	k, ok := WorldKindOf(schema.GroupKind{Group: GroupGatewayAPI, Kind: "Gateway"})
	require.True(t, ok)
	assert.Equal(t, KindGateway, k.Kind)
	_, ok = WorldKindOf(schema.GroupKind{Group: GroupIstioNet, Kind: "VirtualService"})
	assert.False(t, ok)
}

func TestDeclare(t *testing.T) {
	thing := func(kind WorldKind, crd string, lookups Lookup, decode func(metav1.Object) (ObjectMeta, error)) Decl[ObjectMeta] {
		return Decl[ObjectMeta]{KindDecl: KindDecl{Name: kind, Lookups: lookups, Words: "things",
			APIKinds: []APIKind{{Group: "x.io", Kind: "Thing", Resource: "things", CRD: crd}}}, Decode: decode}
	}
	decode := func(o metav1.Object) (ObjectMeta, error) { return metaOf(o), nil }
	assert.Panics(t, func() {
		Declare(Decl[ObjectMeta]{KindDecl: KindDecl{Name: "x.io/Gateway", Lookups: ByKey, Words: "gateways",
			APIKinds: []APIKind{{Group: GroupGatewayAPI, Kind: "Gateway", Resource: "gateways", CRD: "gateways." + GroupGatewayAPI}}}, Decode: decode})
	}, "an API kind declared twice")
	resolvers, ok := LookupWorldKind(KindResolver)
	assert.True(t, ok)
	assert.Len(t, resolvers, 3, "Emissary's three resolver kinds make one World kind")
	assert.Panics(t, func() { Declare(thing("x.io/Thing", "thing.x.io", ByKey, decode)) }, "a CRD name that is not <resource>.<group>")
	assert.Panics(t, func() { Declare(thing("x.io/Thing", "things.x.io", 0, decode)) }, "no lookup")
	assert.Panics(t, func() { Declare(thing("x.io/Thing", "things.x.io", ByKey, nil)) }, "no decoder")
	assert.Panics(t, func() {
		d := thing("x.io/Thing", "things.x.io", ByKey, decode)
		d.Words = ""
		Declare(d)
	}, "no words for the notes")
	assert.Panics(t, func() { Declare(thing(KindService, "things.x.io", ByKey, decode)) }, "a World kind declared twice")
	Declare(thing("x.io/Thing", "things.x.io", ByKey, decode))
	ks, ok := LookupWorldKind("x.io/Thing")
	assert.True(t, ok)
	assert.Len(t, ks, 1)
	Undeclare("x.io/Thing")
	_, ok = LookupWorldKind("x.io/Thing")
	assert.False(t, ok)
	_, ok = LookupDeclared("x.io/Thing")
	assert.False(t, ok)
}
