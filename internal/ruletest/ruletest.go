// Package ruletest holds helpers for the rule tests: a World and objects from
// YAML, the Target of an object, and a report's ops applied as JSON patch.
package ruletest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	evanphx "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

// World returns a World, with "default" as its default namespace, that holds
// the objects of docs: YAML documents separated by "\n---\n". Blank documents
// are skipped.
func World(tb testing.TB, docs string) *world.Memory {
	tb.Helper()
	w := world.NewMemory("default")
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		_, err := w.Add(Object(tb, doc))
		require.NoError(tb, err)
	}
	return w
}

// Object decodes one YAML document into an unstructured object.
func Object(tb testing.TB, doc string) *unstructured.Unstructured {
	tb.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(tb, yaml.Unmarshal([]byte(doc), &u.Object))
	return u
}

// Target is the Target of u, in u's namespace or, when u has none, in
// "default".
func Target(u *unstructured.Unstructured) policy.Target {
	ns := u.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	return policy.Target{
		Object:    policy.ObjectRef{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: ns, Name: u.GetName()},
		Namespace: ns,
	}
}

// ApplyOps applies ops, as an RFC 6902 JSON patch, to the JSON document
// submitted and returns the result; without ops it returns submitted as is.
// Ops that do not apply fail the test.
func ApplyOps(tb testing.TB, submitted []byte, ops []jsonpatch.Operation) []byte {
	tb.Helper()
	if len(ops) == 0 {
		return submitted
	}
	raw, err := json.Marshal(ops)
	require.NoError(tb, err)
	patch, err := evanphx.DecodePatch(raw)
	require.NoError(tb, err)
	out, err := patch.Apply(submitted)
	require.NoError(tb, err, "ops %s must apply to the submitted object", raw)
	return out
}

// MeshNamespaces is a World's worth of namespaces for the Service rules: "mesh"
// (sidecar injection), "amb" (ambient) and "plain" (outside the mesh).
const MeshNamespaces = `
apiVersion: v1
kind: Namespace
metadata: {name: mesh, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: amb, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
`

// Must returns v, failing loudly (a panic the test reports with its stack) when
// err is set: for rule calls whose World cannot fail.
func Must[T any](v T, err error) T {
	if err != nil {
		panic("unexpected error: " + err.Error())
	}
	return v
}

// MutationContract runs mutate once and checks what every caller of a mutator
// relies on. mutate runs the rule on obj (a pointer: *corev1.Pod,
// *corev1.Service or *unstructured.Unstructured), changing it in place;
// submitted is obj as it was submitted, as JSON (nil: obj as it is before the
// run). The report's ops, applied as a JSON patch to submitted, must give
// exactly the object the rule made; a second run over it must change nothing,
// leave it as it is and find the same. It returns the first run's report.
func MutationContract(tb testing.TB, submitted []byte, obj any, mutate func() (policy.Report, error)) policy.Report {
	tb.Helper()
	if submitted == nil {
		var err error
		submitted, err = json.Marshal(obj)
		require.NoError(tb, err)
	}
	rep, err := mutate()
	require.NoError(tb, err)
	for _, c := range rep.Changes {
		require.NotEmpty(tb, c.Ops, "change %s has no operation", c.Field)
	}
	mutated := normalized(tb, obj, mustJSON(tb, obj))
	require.JSONEq(tb, mutated, normalized(tb, obj, ApplyOps(tb, submitted, rep.Ops())),
		"the ops applied to the submitted object must give the object the rule made")

	again, err := mutate()
	require.NoError(tb, err)
	require.Empty(tb, again.Changes, "a second run must change nothing")
	require.JSONEq(tb, mutated, normalized(tb, obj, mustJSON(tb, obj)), "a second run must leave the object as it is")
	require.Equal(tb, rep.Findings, again.Findings, "a second run must find the same")
	return rep
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	out, err := json.Marshal(v)
	require.NoError(tb, err)
	return out
}

// normalized decodes doc as the type of like and encodes it again, so that two
// documents of the same object compare equal whatever their empty fields.
func normalized(tb testing.TB, like any, doc []byte) string {
	tb.Helper()
	var v any = &map[string]any{}
	if _, unstructuredObj := like.(*unstructured.Unstructured); !unstructuredObj {
		v = reflect.New(reflect.TypeOf(like).Elem()).Interface()
	}
	require.NoError(tb, json.Unmarshal(doc, v), "decode %s", doc)
	return string(mustJSON(tb, v))
}

// PeerAuthentication returns an Istio PeerAuthentication in ns called name with
// mtls.mode mode (none when empty) and, when selector is not nil, that
// selector's matchLabels.
func PeerAuthentication(ns, name, mode string, selector map[string]string) *unstructured.Unstructured {
	spec := map[string]any{}
	if mode != "" {
		spec["mtls"] = map[string]any{"mode": mode}
	}
	if selector != nil {
		ml := map[string]any{}
		for k, v := range selector {
			ml[k] = v
		}
		spec["selector"] = map[string]any{"matchLabels": ml}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1",
		"kind":       "PeerAuthentication",
		"metadata":   map[string]any{"namespace": ns, "name": name},
		"spec":       spec,
	}}
}

// WorldOf returns a World, with "default" as its default namespace, that holds
// objs.
func WorldOf(tb testing.TB, objs ...*unstructured.Unstructured) *world.Memory {
	tb.Helper()
	w := world.NewMemory("default")
	for _, o := range objs {
		_, err := w.Add(o)
		require.NoError(tb, err)
	}
	return w
}

// SyncedWorldOf returns WorldOf(objs) holding every declared World kind
// completely, as the admission server's cache does once synced: what it does
// not hold is absent, not unknown.
func SyncedWorldOf(tb testing.TB, objs ...*unstructured.Unstructured) *world.Memory {
	tb.Helper()
	w := WorldOf(tb, objs...)
	w.MarkAllKnown()
	return w
}
