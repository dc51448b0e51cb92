package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshgate/meshgate/internal/benchdata"
	"github.com/meshgate/meshgate/test/golden"
)

// NoopHandler allows everything: the baseline the benchmarks and the load
// generator compare meshgate's handlers with.
var noopHandler = admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
	return admission.Allowed("")
})

// BenchmarkMutatingHandler measures one AdmissionReview of an Emissary pod in
// a sidecar namespace through the whole HTTP handler (decode, review, patch,
// encode): the engine's own ops as the patch, PatchResponseFromRaw's document
// diff, and a no-op handler as the floor.
func BenchmarkMutatingHandler(b *testing.B) {
	w := defaultWorld(b)
	body := reviewOf(b, objects(b, emissaryPod)[0], admissionv1.Create, "emissary")
	for _, v := range []struct {
		name string
		hook http.Handler
	}{
		{"ops", newHook(b, Mutating, HandlerOptions{World: w})},
		{"diff", diffHook(b, HandlerOptions{World: w})},
		{"noop", &admission.Webhook{Handler: noopHandler}},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, MutatePath, bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				v.hook.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// BenchmarkHandler measures one AdmissionReview per object of
// internal/benchdata (shaped as kube-apiserver sends it) through meshgate's
// whole HTTP handler, for each webhook the API server calls for that kind,
// with the no-op handler on the same body in the same run: the ratio of the
// two is what the review itself costs. Besides wall time it reports the
// process's CPU time per review (cpu-ns/op), the steadier figure on busy
// cores.
func BenchmarkHandler(b *testing.B) {
	w, err := benchdata.World()
	require.NoError(b, err)
	hooks := map[Direction]http.Handler{
		Mutating:   newHook(b, Mutating, HandlerOptions{World: w}),
		Validating: newHook(b, Validating, HandlerOptions{World: w}),
	}
	noop := &admission.Webhook{Handler: noopHandler}
	for _, c := range benchCases {
		obj, err := benchdata.Object(c.object)
		require.NoError(b, err)
		body, err := benchdata.Review(obj)
		require.NoError(b, err)
		if c.dir == Validating {
			// The validating webhook sees the object as the mutating one left it.
			_, mresp := post(b, hooks[Mutating], body)
			body, err = benchdata.Review(applyPatch(b, obj, mresp))
			require.NoError(b, err)
		}
		_, resp := post(b, hooks[c.dir], body)
		require.True(b, resp.Allowed, "%s: %v", c.object, resp.Result)
		require.Equal(b, c.patched, len(resp.Patch) > 0, "%s: patch %s", c.object, resp.Patch)
		for _, v := range []struct {
			name string
			hook http.Handler
		}{{"meshgate", hooks[c.dir]}, {"noop", noop}} {
			b.Run(c.object+"/"+string(c.dir)+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				cpu0, cpuOK := benchdata.CPUTime()
				for b.Loop() {
					rec := httptest.NewRecorder()
					r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
					r.Header.Set("Content-Type", "application/json")
					v.hook.ServeHTTP(rec, r)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
					}
				}
				if cpu1, _ := benchdata.CPUTime(); cpuOK {
					// On shared cores wall time counts the waits for a core too.
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// benchCases are the webhooks the API server calls for each benchdata object
// on CREATE, and whether meshgate's answer carries a patch.
var benchCases = []struct {
	object  string
	dir     Direction
	patched bool
}{
	{benchdata.EmissaryPod, Mutating, true},
	{benchdata.EmissaryPod, Validating, false},
	{benchdata.OrdinaryPod, Mutating, false},
	{benchdata.OrdinaryPod, Validating, false},
	{benchdata.Service, Mutating, false},
	{benchdata.Service, Validating, false},
	{benchdata.VirtualService, Validating, false},
	{benchdata.HTTPRoute, Validating, false},
	{benchdata.Mapping, Mutating, false},
	{benchdata.Mapping, Validating, false},
}

// BenchmarkValidatingHandler measures the validating review of a Service whose
// port name Istio cannot read (a denial with its message).
func BenchmarkValidatingHandler(b *testing.B) {
	hook := newHook(b, Validating, HandlerOptions{World: defaultWorld(b)})
	body := reviewOf(b, objects(b, badPortService)[0], admissionv1.Create, "apps")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, ValidatePath, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		hook.ServeHTTP(rec, r)
	}
}

var fuzzKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Pod"},
	{Version: "v1", Kind: "Service"},
	{Group: "getambassador.io", Version: "v3alpha1", Kind: "Mapping"},
	{Group: "getambassador.io", Version: "v2", Kind: "TLSContext"},
	{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
}

// FuzzHandlers feeds arbitrary objects to both handlers (without
// controller-runtime's panic recovery, so a panic fails): they must answer, a
// mutating patch must apply to the submitted object, and a second review of
// the patched object must not patch again.
func FuzzHandlers(f *testing.F) {
	cases, err := golden.Load(golden.CorpusDir())
	require.NoError(f, err)
	for _, c := range cases {
		for _, in := range c.Inputs {
			raw, err := json.Marshal(in.Object)
			require.NoError(f, err)
			f.Add(raw, uint8(0), in.GetNamespace())
		}
	}
	for _, doc := range []string{emissaryPod, badPortService, unnamedPortService} {
		raw, err := json.Marshal(objects(f, doc)[0].Object)
		require.NoError(f, err)
		f.Add(raw, uint8(0), "apps")
	}
	f.Add([]byte(`{"spec":{"containers":"x"}}`), uint8(0), "emissary")
	f.Add([]byte(`{"metadata":{"labels":{"product":"aes","profile":"main"}},"spec":{"containers":[{"env":7}]}}`), uint8(0), "emissary")
	f.Add([]byte(`{"spec":{"ports":[{"port":"80"}]}}`), uint8(1), "apps")
	f.Add([]byte(`[]`), uint8(2), "")

	w := defaultWorld(f)
	mutate, err := NewHandler(Mutating, HandlerOptions{World: w})
	require.NoError(f, err)
	validate, err := NewHandler(Validating, HandlerOptions{World: w})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, raw []byte, kind uint8, namespace string) {
		gvk := fuzzKinds[int(kind)%len(fuzzKinds)]
		req := func(obj []byte) admission.Request {
			return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID:       "fuzz",
				Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
				Operation: admissionv1.Create,
				Namespace: namespace,
				Object:    runtime.RawExtension{Raw: obj},
			}}
		}
		_ = validate.Handle(context.Background(), req(raw))
		// handle answers as admission.Webhook does, with the patch encoded.
		handle := func(obj []byte) admission.Response {
			resp := mutate.Handle(context.Background(), req(obj))
			if err := resp.Complete(req(obj)); err != nil {
				t.Fatalf("the response does not encode: %v", err)
			}
			return resp
		}
		resp := handle(raw)
		if len(resp.Patch) == 0 {
			return
		}
		p, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("the patch does not decode: %v: %s", err, resp.Patch)
		}
		patched, err := p.Apply(raw)
		if err != nil {
			t.Fatalf("the patch does not apply to the submitted object: %v\npatch: %s\nobject: %s", err, resp.Patch, raw)
		}
		again := handle(patched)
		if len(again.Patch) != 0 {
			t.Fatalf("not idempotent: a second review patches again: %s\nobject: %s", again.Patch, patched)
		}
	})
}
