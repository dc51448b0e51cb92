package faults

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

const drillLabel = "faults.meshgate.io/drill"

// drillObjects are one object of each kind meshgate's webhooks receive,
// labelled for the drill's registration: a Service and an edge proxy in the
// mesh namespace, a Mapping and a VirtualService.
func drillObjects(label, suffix string) map[string]string {
	l := drillLabel + ": " + label
	return map[string]string{
		"Service": service(meshNamespace, "drill-svc-"+suffix, "http", map[string]string{drillLabel: label}),
		"edge-proxy Pod": `
apiVersion: v1
kind: Pod
metadata: {name: drill-edge-` + suffix + `, namespace: ` + meshNamespace + `, labels: {service: ambassador, ` + l + `}}
spec: {containers: [{name: ambassador, image: docker.io/emissaryingress/emissary:3.10, env: [{name: AMBASSADOR_NAMESPACE, value: ` + meshNamespace + `}]}]}`,
		"Mapping": `
apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: drill-mapping-` + suffix + `, namespace: plain, labels: {` + l + `}}
spec: {prefix: /q/, service: quote}`,
		"VirtualService": `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: drill-vs-` + suffix + `, namespace: plain, labels: {` + l + `}}
spec: {hosts: [quote], http: [{route: [{destination: {host: quote}}]}]}`,
	}
}

// drillResult is what one create did.
type drillResult struct {
	kind    string
	err     error
	elapsed time.Duration
}

// createAll creates every manifest at once and returns what each did; what
// was created is deleted when t ends.
func createAll(t *testing.T, manifests map[string][]string) []drillResult {
	t.Helper()
	var mu sync.Mutex
	var out []drillResult
	var wg sync.WaitGroup
	for kind, ms := range manifests {
		for _, m := range ms {
			obj := cluster.MustDecode(t, m)
			wg.Add(1)
			go func(kind string, obj *unstructured.Unstructured) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				start := time.Now()
				err := k.Client.Create(ctx, obj)
				r := drillResult{kind: kind, err: err, elapsed: time.Since(start)}
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}(kind, obj)
			t.Cleanup(func() { _ = k.Client.Delete(context.Background(), obj) })
		}
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		return out[i].kind < out[j].kind || out[i].kind == out[j].kind && out[i].elapsed < out[j].elapsed
	})
	return out
}

// summary is one line per kind: created and rejected, and the slowest of each.
func summary(rs []drillResult) map[string]string {
	type agg struct {
		created, rejected   int
		slowOK, slowRefused time.Duration
	}
	by := map[string]*agg{}
	for _, r := range rs {
		a := by[r.kind]
		if a == nil {
			a = &agg{}
			by[r.kind] = a
		}
		if r.err == nil {
			a.created++
			a.slowOK = max(a.slowOK, r.elapsed)
		} else {
			a.rejected++
			a.slowRefused = max(a.slowRefused, r.elapsed)
		}
	}
	out := map[string]string{}
	for kind, a := range by {
		out[kind] = fmt.Sprintf("%d created (slowest %s), %d rejected (slowest %s)", a.created, a.slowOK.Round(100*time.Millisecond), a.rejected, a.slowRefused.Round(100*time.Millisecond))
	}
	return out
}

// register registers meshgate's webhooks at baseURL for the objects labelled
// drillLabel=label, with o's failure policy and timeout (empty: each
// webhook's own), until t ends.
func register(t *testing.T, label, baseURL string, ca []byte, o webhook.RegistrationOptions) {
	t.Helper()
	o.Name = "drill-" + strings.ToLower(label)
	o.ClientConfig = webhook.URLClientConfig(baseURL, ca)
	o.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{drillLabel: label}}
	mutating, validating := webhook.Configurations(o)
	ctx := context.Background()
	require.NoError(t, k.Client.Create(ctx, mutating))
	require.NoError(t, k.Client.Create(ctx, validating))
	t.Cleanup(func() {
		_ = k.Client.Delete(context.Background(), mutating)
		_ = k.Client.Delete(context.Background(), validating)
	})
}

// TestOutageDrill measures on the real API server what an outage of
// meshgate blocks, and for how long, with the registration's own failure
// policies and timeouts (the Pod mutation Fail and 5s, the rest Ignore and
// 3s) against the former one for every webhook (Fail, 10s):
//   - meshgate stopped: only edge-proxy Pods are rejected, at once
//     (connection refused); Services, Mappings and VirtualServices are
//     admitted unchecked;
//   - one of two replicas hangs (each webhook call goes to either, at
//     random): a call that reaches it waits for the timeout, then the
//     object is admitted (Ignore) or rejected (Fail).
func TestOutageDrill(t *testing.T) {
	needCluster(t)
	m := startOwnMeshgate(t)

	t.Run("stopped", func(t *testing.T) {
		m.stop(t)
		register(t, "stopped", m.url, m.ca.pem, webhook.RegistrationOptions{})
		// Wait until the registration is in force: the API server calls it.
		probe := drillObjects("stopped", "probe")["edge-proxy Pod"]
		require.Eventually(t, func() bool {
			err := k.Client.Create(context.Background(), cluster.MustDecode(t, probe), client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), "failed calling webhook")
		}, 30*time.Second, 100*time.Millisecond)
		manifests := map[string][]string{}
		for kind, mf := range drillObjects("stopped", "stopped") {
			manifests[kind] = []string{mf}
		}
		rs := createAll(t, manifests)
		for _, r := range rs {
			if r.kind == "edge-proxy Pod" {
				require.Error(t, r.err, r.kind)
				assert.Contains(t, r.err.Error(), `failed calling webhook "edge-proxy-pods-injection.mutate.meshgate.io"`)
			} else {
				assert.NoError(t, r.err, "%s: admitted unchecked while meshgate is down", r.kind)
			}
			assert.Less(t, r.elapsed, 3*time.Second, "%s: answered at once, not after the timeout", r.kind)
		}
		for kind, s := range summary(rs) {
			t.Logf("meshgate stopped, own policies: %-15s %s", kind, s)
		}
	})

	t.Run("one replica hangs", func(t *testing.T) {
		good := startOwnMeshgate(t)
		proxy := hangingHalf(t, good)
		const n = 4
		for _, reg := range []struct {
			label string
			opts  webhook.RegistrationOptions
			// timeout is the longest wait one call may add.
			fail, ignore time.Duration
		}{
			{label: "own", fail: 5 * time.Second, ignore: 3 * time.Second},
			{label: "failten", opts: webhook.RegistrationOptions{FailurePolicy: admissionregistrationv1.Fail, TimeoutSeconds: 10}, fail: 10 * time.Second},
		} {
			t.Run(reg.label, func(t *testing.T) {
				register(t, reg.label, proxy.URL, good.ca.pem, reg.opts)
				time.Sleep(3 * time.Second) // the API server's webhook informer picks the registration up
				manifests := map[string][]string{}
				for i := range n {
					for kind, mf := range drillObjects(reg.label, fmt.Sprintf("%s-%d", reg.label, i)) {
						manifests[kind] = append(manifests[kind], mf)
					}
				}
				rs := createAll(t, manifests)
				for _, r := range rs {
					// A create makes at most two calls (mutating, validating), each waiting at most its timeout.
					assert.Less(t, r.elapsed, 2*max(reg.fail, reg.ignore)+2*time.Second, r.kind)
					if r.err == nil {
						continue
					}
					assert.Contains(t, r.err.Error(), "failed calling webhook", r.kind)
					assert.GreaterOrEqual(t, r.elapsed, reg.fail-500*time.Millisecond, "%s: rejected only after the timeout", r.kind)
					if reg.label == "own" {
						assert.Equal(t, "edge-proxy Pod", r.kind, "only the Pod mutation fails closed: %v", r.err)
					}
				}
				for kind, s := range summary(rs) {
					t.Logf("one replica hangs, %s policies: %-15s %s", reg.label, kind, s)
				}
			})
		}
	})
}

// hangingHalf serves meshgate's webhooks at an HTTPS address that sends each
// call, at random (a fixed seed), either to good or to a replica that never
// answers: two replicas behind the Service, one of them hung.
func hangingHalf(t *testing.T, good *ownMeshgate) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	good.ca.issue(t, dir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(good.ca.pem)
	target, err := url.Parse(good.url)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hung := rng.IntN(2) == 0
		mu.Unlock()
		if !hung {
			rp.ServeHTTP(w, r)
			return
		}
		select { // hangs until the API server gives up (bounded)
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(func() {
		// http.Server.Close closes every connection at once (httptest's
		// Close would wait for the API server's pooled ones).
		srv.Config.SetKeepAlivesEnabled(false)
		_ = srv.Config.Close()
	})
	return srv
}
