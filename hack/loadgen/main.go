// Command loadgen is a bounded load test of meshgate's mutating handler over
// TLS on 127.0.0.1. It starts controller-runtime's webhook server with
// meshgate's TLS settings and three handlers side by side:
//
//	/mutate       meshgate, patch = the engine's own RFC 6902 operations
//	/mutate-diff  meshgate, patch = PatchResponseFromRaw's document diff
//	/noop         allows everything: the floor
//
// and sends each the AdmissionReview of an Emissary pod in a sidecar
// namespace, from -concurrency keep-alive clients, until -requests reviews or
// -max-seconds have passed, whichever comes first. It reports reviews/s and
// p50/p99 latency per variant, then stops by itself. With -target it instead
// loads a running `meshgate serve` (loopback addresses only).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	certutil "k8s.io/client-go/util/cert"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/webhook"
)

const namespaceYAML = `
apiVersion: v1
kind: Namespace
metadata: {name: emissary, labels: {istio-injection: enabled}}`

// podYAML is an Emissary pod of the Helm chart's shape.
const podYAML = `
apiVersion: v1
kind: Pod
metadata:
  name: emissary-ingress-7d9f8c6b5d-x2x7k
  namespace: emissary
  labels: {app.kubernetes.io/name: emissary-ingress, product: aes, profile: main, pod-template-hash: 7d9f8c6b5d}
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  serviceAccountName: emissary-ingress
  containers:
  - name: emissary-ingress
    image: docker.io/emissaryingress/emissary:3.10.0
    imagePullPolicy: IfNotPresent
    ports:
    - {name: http, containerPort: 8080, protocol: TCP}
    - {name: https, containerPort: 8443, protocol: TCP}
    - {name: admin, containerPort: 8877, protocol: TCP}
    env:
    - name: HOST_IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
    - name: AMBASSADOR_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    livenessProbe:
      httpGet: {path: /ambassador/v0/check_alive, port: admin}
    readinessProbe:
      httpGet: {path: /ambassador/v0/check_ready, port: admin}
    resources:
      limits: {cpu: "1", memory: 600Mi}
      requests: {cpu: 200m, memory: 300Mi}
    volumeMounts:
    - {name: ambassador-pod-info, mountPath: /tmp/ambassador-pod-info, readOnly: true}
  volumes:
  - name: ambassador-pod-info
    downwardAPI:
      items:
      - fieldRef: {fieldPath: metadata.labels}
        path: labels`

type config struct {
	requests    int
	maxSeconds  float64
	concurrency int
	target      string
}

func main() {
	c := config{}
	flag.IntVar(&c.requests, "requests", 20000, "reviews per variant (upper bound)")
	flag.Float64Var(&c.maxSeconds, "max-seconds", 20, "seconds per variant (upper bound)")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent keep-alive clients")
	flag.StringVar(&c.target, "target", "", "load a running meshgate at this loopback URL (e.g. https://127.0.0.1:9443/mutate) instead; its certificate is not verified")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(c config, out io.Writer) error {
	if c.requests <= 0 || c.maxSeconds <= 0 || c.concurrency <= 0 {
		return errors.New("-requests, -max-seconds and -concurrency must be positive")
	}
	body, err := review()
	if err != nil {
		return err
	}
	if c.target != "" {
		if err := loopbackOnly(c.target); err != nil {
			return err
		}
		client := &http.Client{Transport: transport(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, c.concurrency)} // a loopback test target with its own certificate
		res, err := load(client, c.target, body, c)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, header())
		fmt.Fprintln(out, res.row("target"))
		return nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, pool, err := serve(ctx)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: transport(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, c.concurrency)}
	fmt.Fprintf(out, "loadgen: %d reviews or %gs per variant, %d clients, TLS 1.2+, HTTP/1.1, 127.0.0.1\n", c.requests, c.maxSeconds, c.concurrency)
	fmt.Fprintln(out, header())
	for _, v := range []struct{ name, path string }{
		{"engine ops (/mutate)", "/mutate"},
		{"PatchResponseFromRaw", "/mutate-diff"},
		{"no-op", "/noop"},
	} {
		res, err := load(client, base+v.path, body, c)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		fmt.Fprintln(out, res.row(v.name))
	}
	return nil
}

func loopbackOnly(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	if u.Scheme != "https" {
		return errors.New("-target: must be an https URL")
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-target: %s is not a loopback address: loadgen only loads servers on this machine", host)
}

// review is the AdmissionReview the API server would send for the pod.
func review() ([]byte, error) {
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(podYAML), &m); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "loadgen", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Operation: admissionv1.Create, Namespace: "emissary", Name: "emissary-ingress-7d9f8c6b5d-x2x7k",
			Object: runtime.RawExtension{Raw: raw},
		},
	})
}

// serve starts the webhook server with the three variants and returns its
// base URL and the pool that trusts its certificate.
func serve(ctx context.Context) (string, *x509.CertPool, error) {
	dir, err := os.MkdirTemp("", "meshgate-loadgen-")
	if err != nil {
		return "", nil, err
	}
	go func() { <-ctx.Done(); os.RemoveAll(dir) }()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		return "", nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)

	w := world.NewMemory("default")
	ns := map[string]any{}
	if err := yaml.Unmarshal([]byte(namespaceYAML), &ns); err != nil {
		return "", nil, err
	}
	if _, err := w.Add(&unstructured.Unstructured{Object: ns}); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir, TLSOpts: webhook.TLSOptions(tls.VersionTLS12, false)})
	h, err := webhook.NewHandler(webhook.Mutating, webhook.HandlerOptions{World: w})
	if err != nil {
		return "", nil, err
	}
	srv.Register("/mutate", &admission.Webhook{Handler: h})
	srv.Register("/mutate-diff", &admission.Webhook{Handler: diffHandler(engine.New(nil), w)})
	srv.Register("/noop", &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})})
	go func() {
		if err := srv.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: server:", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for srv.StartedChecker()(nil) != nil {
		if time.Now().After(deadline) {
			return "", nil, errors.New("the webhook server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), pool, nil
}

func transport(tc *tls.Config, conns int) *http.Transport {
	return &http.Transport{TLSClientConfig: tc, MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
}

type result struct {
	n        int
	elapsed  time.Duration
	p50, p99 time.Duration
}

func header() string {
	return fmt.Sprintf("%-22s %9s %10s %10s %10s", "variant", "reviews", "reviews/s", "p50", "p99")
}

func (r result) row(name string) string {
	return fmt.Sprintf("%-22s %9d %10.0f %10s %10s", name, r.n, float64(r.n)/r.elapsed.Seconds(),
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
}

// load sends body to url until c.requests reviews or c.maxSeconds, after a
// short warm-up, and measures each review.
func load(client *http.Client, url string, body []byte, c config) (result, error) {
	for range 200 {
		if _, err := post(client, url, body); err != nil {
			return result{}, err
		}
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, c.requests)
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(time.Duration(c.maxSeconds * float64(time.Second)))
	start := time.Now()
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, c.requests/c.concurrency+1)
			for next.Add(1) <= int64(c.requests) && time.Now().Before(deadline) {
				d, err := post(client, url, body)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local = append(local, d)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	if len(lat) == 0 {
		return result{}, errors.New("no review completed")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{n: len(lat), elapsed: elapsed, p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}, nil
}

func post(client *http.Client, url string, body []byte) (time.Duration, error) {
	start := time.Now()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	var ar admissionv1.AdmissionReview
	err = json.NewDecoder(resp.Body).Decode(&ar)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("decode the answer: %w", err)
	}
	if ar.Response == nil || !ar.Response.Allowed {
		return 0, fmt.Errorf("unexpected answer: %+v", ar.Response)
	}
	return d, nil
}

// diffHandler is the reference the engine's ops are measured against: the
// same review, answered with PatchResponseFromRaw's diff of the submitted and
// the final documents.
func diffHandler(e *engine.Engine, w policy.World) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(req.Object.Raw); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		res, err := e.Review(ctx, engine.Input{Object: obj, Namespace: req.Namespace, Operation: engine.Operation(req.Operation)}, w)
		if err != nil {
			return admission.Errored(http.StatusUnprocessableEntity, err)
		}
		if !res.Changed() {
			return admission.Allowed("")
		}
		final, err := json.Marshal(res.Object.Object)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		return admission.PatchResponseFromRaw(req.Object.Raw, final)
	})
}
