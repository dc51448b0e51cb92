package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

func obj(m map[string]any) *unstructured.Unstructured { return &unstructured.Unstructured{Object: m} }

func TestReviewPassesKindsWithoutRules(t *testing.T) {
	e := New(nil)
	in := obj(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}})
	res, err := e.Review(context.Background(), Input{Object: in}, world.NewMemory(""))
	require.NoError(t, err)
	assert.Same(t, in, res.Object, "an object without rules comes back as is")
	assert.False(t, res.Changed())
	assert.Empty(t, res.Findings)
}

func TestReviewRejectsObjectsThatAreNotTheirKind(t *testing.T) {
	e := New(nil)
	tests := []struct {
		name string
		obj  map[string]any
		want string
		// wantTypeErrorOf is the object a TypeError names, when it is one.
		wantTypeErrorOf string
	}{
		{
			name: "edge-proxy pod whose containers is a string",
			obj: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{
				"name": "p", "labels": map[string]any{"product": "aes", "profile": "main"}},
				"spec": map[string]any{"containers": "nope"}},
			want:            "Pod default/p: not a valid Pod",
			wantTypeErrorOf: "Pod default/p",
		},
		{
			name: "service whose ports is an object",
			obj: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "s", "namespace": "apps"},
				"spec": map[string]any{"ports": map[string]any{"port": 80}}},
			want:            "Service apps/s: not a valid Service",
			wantTypeErrorOf: "Service apps/s",
		},
		{
			name: "deployment whose template is a list",
			obj: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d"},
				"spec": map[string]any{"template": []any{}}},
			want: "spec.template is not an object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Review(context.Background(), Input{Object: obj(tt.obj)}, world.NewMemory(""))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			var te *TypeError
			if assert.Equal(t, tt.wantTypeErrorOf != "", errors.As(err, &te)) && te != nil {
				assert.Equal(t, tt.wantTypeErrorOf, te.Object.String())
			}
		})
	}
	_, err := e.Review(context.Background(), Input{}, world.NewMemory(""))
	assert.Error(t, err, "no object")
}

func TestReviewNamespaceAndName(t *testing.T) {
	// A Service has rules, so Review builds a target for it; an empty namespace
	// falls back to the request's, then to "default"; generateName stands in
	// for a missing name.
	e := New(nil)
	svc := func() *unstructured.Unstructured {
		return obj(map[string]any{"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"generateName": "svc-"},
			"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(5000)}}}})
	}
	cfg := policy.DefaultConfig()
	cfg.ServicePorts.Scope = policy.ScopeAll
	e = New(cfg)
	for _, tt := range []struct{ name, reqNS, want string }{
		{"request namespace wins", "apps", "apps"},
		{"default when nothing says", "", "default"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.Review(context.Background(), Input{Object: svc(), Namespace: tt.reqNS}, world.NewMemory(""))
			require.NoError(t, err)
			require.NotEmpty(t, res.Findings, "an unnamed port 5000 is a finding of service-port-name")
			for _, f := range res.Findings {
				assert.Equal(t, tt.want, f.Object.Namespace)
				assert.Equal(t, "svc-", f.Object.Name)
			}
		})
	}
}

func TestHandles(t *testing.T) {
	e := New(nil)
	for _, gk := range []schema.GroupKind{
		{Kind: "Pod"}, {Kind: "Service"}, {Group: "apps", Kind: "Deployment"}, {Group: "batch", Kind: "CronJob"},
		{Group: "getambassador.io", Kind: "Mapping"}, {Group: "getambassador.io", Kind: "TLSContext"},
		{Group: "networking.istio.io", Kind: "VirtualService"}, {Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"},
		{Group: "gateway.networking.k8s.io", Kind: "UDPRoute"},
	} {
		assert.True(t, e.Handles(gk), gk.String())
	}
	for _, gk := range []schema.GroupKind{{Kind: "ConfigMap"}, {Group: "networking.istio.io", Kind: "Gateway"}, {Group: "getambassador.io", Kind: "Host"}} {
		assert.False(t, e.Handles(gk), gk.String())
	}
}

func TestApplyPatch(t *testing.T) {
	in := obj(map[string]any{"metadata": map[string]any{"name": "x"}})
	out, err := ApplyPatch(in, []jsonpatch.Operation{
		jsonpatch.NewOperation("add", "/metadata/annotations", map[string]any{"a/b": ""}),
		jsonpatch.NewOperation("add", "/metadata/annotations/c~0d", "v"),
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a/b": "", "c~d": "v"}, out.Object["metadata"].(map[string]any)["annotations"])
	assert.NotContains(t, in.Object["metadata"], "annotations", "the input is not modified")

	_, err = ApplyPatch(in, []jsonpatch.Operation{jsonpatch.NewOperation("replace", "/spec/nothing", 1)})
	assert.ErrorContains(t, err, "apply patch")
}

func TestRebase(t *testing.T) {
	rep := policy.Report{
		Changes:  []policy.Change{{Field: "metadata.annotations[a/b]", Ops: []jsonpatch.Operation{jsonpatch.NewOperation("add", "/metadata/annotations", "x")}}},
		Findings: []policy.Finding{{Field: "spec.containers[0]"}, {Field: ""}},
	}
	rebase(&rep, "spec.jobTemplate.spec.template", "/spec/jobTemplate/spec/template")
	assert.Equal(t, "spec.jobTemplate.spec.template.metadata.annotations[a/b]", rep.Changes[0].Field)
	assert.Equal(t, "/spec/jobTemplate/spec/template/metadata/annotations", rep.Changes[0].Ops[0].Path)
	assert.Equal(t, "spec.jobTemplate.spec.template.spec.containers[0]", rep.Findings[0].Field)
	assert.Equal(t, "spec.jobTemplate.spec.template", rep.Findings[1].Field)
}

// messages returns the findings of mode as one line each.
func messages(r *Result, mode policy.Mode) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Mode == mode {
			out = append(out, f.String())
		}
	}
	return out
}

func TestResultVerdicts(t *testing.T) {
	res := &Result{Findings: []policy.Finding{
		{Rule: "r1", Mode: policy.Warn, Object: policy.ObjectRef{Kind: "Service", Namespace: "a", Name: "s"}, Field: "spec", Message: "careful"},
	}}
	assert.False(t, res.Denied())
	assert.Equal(t, []string{"[r1] Service a/s: spec: careful"}, messages(res, policy.Warn))
	res.Findings = append(res.Findings, policy.Finding{Rule: "r2", Mode: policy.Enforce})
	assert.True(t, res.Denied())
	assert.Len(t, messages(res, policy.Enforce), 1)
}

func TestPatchOnlySkipsTheFinalObject(t *testing.T) {
	w := world.NewMemory("")
	_, err := w.Add(obj(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "apps", "labels": map[string]any{"istio-injection": "enabled"}}}))
	require.NoError(t, err)
	svc := obj(map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "s", "namespace": "apps"},
		"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}})
	full, err := New(nil).Review(context.Background(), Input{Object: svc}, w)
	require.NoError(t, err)
	require.True(t, full.Changed(), "an unnamed port 80 in a mesh namespace gets a name")
	assert.NotSame(t, svc, full.Object)

	only, err := New(nil).Review(context.Background(), Input{Object: svc, PatchOnly: true}, w)
	require.NoError(t, err)
	assert.Equal(t, full.Patch, only.Patch)
	assert.Equal(t, full.Findings, only.Findings)
	assert.Same(t, svc, only.Object)
}

// TestNestedMapIsUnstructuredNestedMap proves the engine's copy-free lookup of
// a pod template finds and refuses exactly what unstructured.NestedMap does,
// with the same error.
func TestNestedMapIsUnstructuredNestedMap(t *testing.T) {
	tests := []struct {
		name string
		obj  map[string]any
	}{
		{name: "template found", obj: map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{}}}}},
		{name: "no spec", obj: map[string]any{}},
		{name: "no template", obj: map[string]any{"spec": map[string]any{}}},
		{name: "null template", obj: map[string]any{"spec": map[string]any{"template": nil}}},
		{name: "template is a string", obj: map[string]any{"spec": map[string]any{"template": "x"}}},
		{name: "spec is a list", obj: map[string]any{"spec": []any{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantFound, wantErr := unstructured.NestedMap(tt.obj, "spec", "template")
			got, found, err := nestedMap(tt.obj, "spec", "template")
			assert.Equal(t, want, got)
			assert.Equal(t, wantFound, found)
			assert.Equal(t, wantErr, err)
		})
	}
}

func TestSkipInTreeLeavesOutTheRulesTheAPIServerApplies(t *testing.T) {
	svc := schema.GroupKind{Kind: "Service"}
	tests := []struct {
		name string
		opts []Option
		want []string
	}{
		{name: "every rule by default", want: []string{policy.ServicePortProtocol, policy.ServicePortName}},
		{name: "no rule whose in-tree form is complete", opts: []Option{SkipInTree()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(policy.DefaultConfig(), tt.opts...)
			assert.Equal(t, tt.want, e.Rules(svc))
			assert.Equal(t, len(tt.want) > 0, e.Handles(svc))
		})
	}
}

func TestSkipInTreeLeavesOutTheFindingsTheAPIServerReports(t *testing.T) {
	vs := obj(map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": "shop"},
		"spec": map[string]any{
			"hosts": []any{"reviews"},
			// A reference into another namespace (only the webhook can tell
			// whether the Gateway's owner shares it) and a gateway name that is
			// not a DNS label (the in-tree policy reports it).
			"gateways": []any{"infra/edge", "Edge_Gateway"},
		},
	})
	tests := []struct {
		name string
		opts []Option
		want []string
	}{
		{name: "every finding by default", want: []string{"spec.gateways[0]", "spec.gateways[1]"}},
		{name: "not the findings the in-tree policy reports", opts: []Option{SkipInTree()}, want: []string{"spec.gateways[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := New(policy.DefaultConfig(), tt.opts...).Review(context.Background(), Input{Object: vs}, world.NewMemory("default"))
			require.NoError(t, err)
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.Field)
			}
			assert.Equal(t, tt.want, got)
			assert.True(t, res.Denied(), "the cross-namespace reference is denied either way")
		})
	}
}
