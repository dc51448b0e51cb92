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
			for _, w := range []string{name, ns} {
				assert.Equal(t, answer(full.Namespace(ctx, w)), answer(slim.Namespace(ctx, w)), "Namespace %s", w)
				assert.Equal(t, answer(full.TLSContexts(ctx, w)), answer(slim.TLSContexts(ctx, w)), "TLSContexts %s", w)
				assert.Equal(t, answer(full.IstioGateways(ctx, w)), answer(slim.IstioGateways(ctx, w)), "IstioGateways %s", w)
				assert.Equal(t, answer(full.Modules(ctx, w)), answer(slim.Modules(ctx, w)), "Modules %s", w)
				assert.Equal(t, answer(full.Resolvers(ctx, w)), answer(slim.Resolvers(ctx, w)), "Resolvers %s", w)
				assert.Equal(t, answer(full.PeerAuthentications(ctx, w)), answer(slim.PeerAuthentications(ctx, w)), "PeerAuthentications %s", w)
			}
			assert.Equal(t, answer(full.Gateway(ctx, ns, name)), answer(slim.Gateway(ctx, ns, name)), "Gateway %s/%s", ns, name)
			fs, fok, ferr := full.Service(ctx, ns, name)
			ss, sok, serr := slim.Service(ctx, ns, name)
			require.Equal(t, fok, sok, "Service %s/%s", ns, name)
			require.Equal(t, ferr, serr)
			if fok {
				assert.Equal(t, fs.Spec.Type, ss.Spec.Type)
				assert.Equal(t, fs.Spec.Selector, ss.Spec.Selector)
				assert.Equal(t, servicePorts(fs.Spec.Ports), servicePorts(ss.Spec.Ports))
			}
		}
		for _, k := range []policy.WorldKind{policy.KindNamespace, policy.KindService, policy.KindTLSContext, policy.KindIstioGateway,
			policy.KindGateway, policy.KindPeerAuthentication, policy.KindModule, policy.KindResolver} {
			assert.Equal(t, full.Has(k), slim.Has(k), "Has(%s)", k)
		}
	})
}

// answer renders a World lookup's results as one comparable JSON string.
func answer(v ...any) string {
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
	infos, _ := policy.LookupWorldKind(kind)
	metadataOnly := false
	for _, k := range infos {
		if k.GroupKind() == o.GroupVersionKind().GroupKind() {
			metadataOnly = k.MetadataOnly
		}
	}
	var cached any
	switch {
	case metadataOnly:
		m := &metav1.PartialObjectMetadata{}
		data, err := json.Marshal(o.Object)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, m))
		cached = m
	case kind == policy.KindService:
		svc, err := world.ServiceFrom(o)
		require.NoError(t, err)
		cached = svc
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
