package world_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/test/golden"
)

// TestSlimWorldGivesTheSameVerdicts reviews every input of the golden corpus
// against a World built from slimmed objects, each in the form the admission
// server's cache receives it (a typed Service, the metadata of a metadata-only
// kind, an unstructured object otherwise) and passed through world.Slim as the
// cache's transform does (a Service summary is read back as the Service the
// World hands out). The verdicts must be want.yaml's, and every World
// answer about the case's objects must be the full World's.
func TestSlimWorldGivesTheSameVerdicts(t *testing.T) {
	golden.ForEach(t, func(t *testing.T, c golden.Case, want []golden.Verdict) {
		if want == nil {
			t.Skip("want.yaml is being regenerated")
		}
		full, err := c.BuildWorld()
		require.NoError(t, err)
		slim := world.NewMemory("default")
		objects := append(append([]*unstructured.Unstructured{}, c.World...), c.Inputs...)
		for _, o := range objects {
			_, err := slim.Add(slimmed(t, o))
			require.NoError(t, err)
		}

		e := engine.New(c.Config)
		var got []golden.Verdict
		for _, in := range c.Inputs {
			res, err := e.Review(context.Background(), engine.Input{Object: in.DeepCopy()}, slim)
			require.NoError(t, err)
			got = append(got, golden.VerdictOf(golden.RefOf(in), res))
		}
		gotYAML, err := golden.Marshal(got)
		require.NoError(t, err)
		wantYAML, err := golden.Marshal(want)
		require.NoError(t, err)
		assert.Equal(t, string(wantYAML), string(gotYAML), "verdicts against the slim World")

		ctx := context.Background()
		for _, o := range objects {
			ns, name := o.GetNamespace(), o.GetName()
			if ns == "" {
				ns = "default"
			}
			for _, d := range policy.DeclaredKinds() {
				k := d.Decl()
				for _, q := range queries(k, ns, name) {
					fv, ferr := full.Find(ctx, k.Name, q)
					sv, serr := slim.Find(ctx, k.Name, q)
					require.Equal(t, ferr, serr)
					assert.Equal(t, answer(fv), answer(sv), "%s %s %s/%s", k.Name, q.By, q.Namespace, q.Name)
				}
				assert.Equal(t, full.Has(k.Name), slim.Has(k.Name), "Has(%s)", k.Name)
			}
		}
	})
}

// queries are the lookups kind declares, about the names ns and name.
func queries(k *policy.KindDecl, ns, name string) []policy.Query {
	var out []policy.Query
	for _, w := range []string{name, ns} {
		if k.Lookups&policy.ByName != 0 {
			out = append(out, policy.Query{By: policy.ByName, Name: w})
		}
		if k.Lookups&policy.InNamespace != 0 {
			out = append(out, policy.Query{By: policy.InNamespace, Namespace: w})
		}
		if k.Lookups&policy.ByKey != 0 && k.ClusterScoped {
			out = append(out, policy.Query{By: policy.ByKey, Name: w})
		}
	}
	if k.Lookups&policy.ByKey != 0 && !k.ClusterScoped {
		out = append(out, policy.Query{By: policy.ByKey, Namespace: ns, Name: name})
	}
	return out
}

// answer renders a World lookup's results as one comparable JSON string: of
// a Service, what the rules read of it (its type, selector and ports).
func answer(v any) string {
	if svcs, ok := v.([]*corev1.Service); ok {
		var out []any
		for _, s := range svcs {
			out = append(out, []any{s.Namespace, s.Name, s.Spec.Type, s.Spec.Selector, servicePorts(s.Spec.Ports)})
		}
		v = out
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// servicePorts is what the rules read of a World Service's ports.
func servicePorts(ports []corev1.ServicePort) []string {
	var out []string
	for _, p := range ports {
		b, _ := json.Marshal([]any{p.Name, p.Port, p.Protocol, p.AppProtocol})
		out = append(out, string(b))
	}
	return out
}

// slimmed returns o as the admission server's cache holds it, back in
// unstructured form for the in-memory World.
func slimmed(t *testing.T, o *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	kind, ok := world.KindOf(o)
	if !ok {
		return o
	}
	d, _ := policy.LookupDeclared(kind)
	decl := d.Decl()
	var cached any
	switch {
	case decl.MetadataOnly:
		m := &metav1.PartialObjectMetadata{}
		data, err := json.Marshal(o.Object)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, m))
		cached = m
	case decl.New != nil: // the typed object the cache watches
		typed := decl.New()
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, typed))
		cached = typed
	default:
		cached = o.DeepCopy()
	}
	slim := world.Slim(cached)
	require.Equal(t, slim, world.Slim(slim), "Slim is idempotent")
	switch s := slim.(type) {
	case *unstructured.Unstructured:
		return s
	case *world.ServiceSummary:
		slim = s.Service() // what the cache-backed World hands the rules
	default:
		require.IsType(t, cached, slim, "Slim keeps the type")
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(slim)
	require.NoError(t, err)
	return &unstructured.Unstructured{Object: m}
}
