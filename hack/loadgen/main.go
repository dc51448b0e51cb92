// Command loadgen is a bounded load test of meshgate's admission handlers over
// TLS on 127.0.0.1. It starts controller-runtime's webhook server with
// meshgate's TLS settings and these handlers side by side:
//
//	/mutate, /validate  meshgate (the mutating patch is the engine's own RFC 6902 operations)
//	/mutate-diff        meshgate's engine, patch = PatchResponseFromRaw's document diff
//	/noop               allows everything: the floor
//
// For each variant (an object of internal/benchdata, shaped as kube-apiserver
// sends it, and the webhook the API server calls for it) it sends the same
// AdmissionReview to meshgate and to the no-op handler, in alternating rounds,
// from -concurrency keep-alive clients, each run until -requests reviews or
// -max-seconds have passed, whichever comes first. It reports reviews/s,
// p50/p99 latency and the process's CPU time per review for each, and the
// ratio of meshgate's throughput to the no-op's, measured and as the CPU time
// per review predicts it (the steadier figure when other processes share the
// cores), then stops by itself. -cpuprofile and -memprofile write pprof
// profiles of the whole process (server and clients) during the load. With
// -target it instead loads a running `meshgate serve` (loopback addresses
// only) with the Emissary pod.
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
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshgate/meshgate/internal/benchdata"
	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/webhook"
)

// variant is one object sent to one of meshgate's handlers.
type variant struct {
	name   string
	object string
	// path is meshgate's handler; the no-op gets the same body.
	path string
	// validating: the body is the object as the mutating webhook left it.
	validating bool
}

var variants = []variant{
	{"emissary-pod mutating", benchdata.EmissaryPod, "/mutate", false},
	{"emissary-pod mutating (diff patch)", benchdata.EmissaryPod, "/mutate-diff", false},
	{"emissary-pod validating", benchdata.EmissaryPod, "/validate", true},
	{"ordinary-pod mutating", benchdata.OrdinaryPod, "/mutate", false},
	{"service mutating", benchdata.Service, "/mutate", false},
	{"service validating", benchdata.Service, "/validate", true},
	{"virtualservice validating", benchdata.VirtualService, "/validate", true},
	{"httproute validating", benchdata.HTTPRoute, "/validate", true},
	{"mapping mutating", benchdata.Mapping, "/mutate", false},
	{"mapping validating", benchdata.Mapping, "/validate", true},
}

type config struct {
	requests    int
	maxSeconds  float64
	concurrency int
	rounds      int
	only        string
	target      string
	cpuProfile  string
	memProfile  string
}

func main() {
	c := config{}
	flag.IntVar(&c.requests, "requests", 10000, "reviews per variant and handler (upper bound)")
	flag.Float64Var(&c.maxSeconds, "max-seconds", 10, "seconds per variant and handler (upper bound)")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent keep-alive clients")
	flag.IntVar(&c.rounds, "rounds", 2, "alternating meshgate/no-op rounds the budget of a variant is split into")
	flag.StringVar(&c.only, "variants", "", "comma-separated variant names to run (default: all); e.g. \"emissary-pod mutating\"")
	flag.StringVar(&c.target, "target", "", "load a running meshgate at this loopback URL (e.g. https://127.0.0.1:9443/mutate) instead; its certificate is not verified")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the load to this file")
	flag.StringVar(&c.memProfile, "memprofile", "", "write an allocation profile of the load to this file")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(c config, out io.Writer) error {
	if c.requests <= 0 || c.maxSeconds <= 0 || c.concurrency <= 0 || c.rounds <= 0 {
		return errors.New("-requests, -max-seconds, -concurrency and -rounds must be positive")
	}
	chosen, err := choose(c.only)
	if err != nil {
		return err
	}
	if c.target != "" {
		return runTarget(c, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, pool, err := serve(ctx)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: transport(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, c.concurrency)}
	bodies := make([][]byte, len(chosen))
	for i, v := range chosen {
		if bodies[i], err = reviewOf(client, base, v); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
	}
	stop, err := startProfiles(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "loadgen: %d reviews or %gs per variant and handler in %d alternating rounds, %d clients, TLS 1.2+, HTTP/1.1 keep-alive, 127.0.0.1, GOMAXPROCS %d\n",
		c.requests, c.maxSeconds, c.rounds, c.concurrency, runtime.GOMAXPROCS(0))
	fmt.Fprintln(out, header())
	for i, v := range chosen {
		mesh, noop, err := compare(client, base+v.path, base+"/noop", bodies[i], c)
		if err != nil {
			return errors.Join(fmt.Errorf("%s: %w", v.name, err), stop())
		}
		fmt.Fprintln(out, row(v.name, len(bodies[i]), mesh, noop))
	}
	return stop()
}

// choose returns the variants named in only (all when empty).
func choose(only string) ([]variant, error) {
	if only == "" {
		return variants, nil
	}
	var out []variant
	for _, name := range strings.Split(only, ",") {
		i := slices.IndexFunc(variants, func(v variant) bool { return v.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("-variants: no variant %q", name)
		}
		out = append(out, variants[i])
	}
	return out, nil
}

// runTarget loads a running meshgate with the Emissary pod's review.
func runTarget(c config, out io.Writer) error {
	if err := loopbackOnly(c.target); err != nil {
		return err
	}
	obj, err := benchdata.Object(benchdata.EmissaryPod)
	if err != nil {
		return err
	}
	body, err := benchdata.Review(obj)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: transport(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, c.concurrency)} // a loopback test target with its own certificate
	res, err := load(client, c.target, body, c.requests, c.maxSeconds, c.concurrency)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-36s %9s %10s %10s %10s\n", "variant", "reviews", "reviews/s", "p50", "p99")
	fmt.Fprintf(out, "%-36s %9d %10.0f %10s %10s\n", "target (emissary-pod)", res.n(), res.rate(), res.quantile(0.50), res.quantile(0.99))
	return nil
}

// reviewOf returns the AdmissionReview v sends. A validating variant's object
// is the benchdata object with meshgate's mutating patch applied, as the API
// server sends it to the validating webhook.
func reviewOf(client *http.Client, base string, v variant) ([]byte, error) {
	obj, err := benchdata.Object(v.object)
	if err != nil {
		return nil, err
	}
	body, err := benchdata.Review(obj)
	if err != nil || !v.validating {
		return body, err
	}
	ar, _, err := post(client, base+"/mutate", body)
	if err != nil {
		return nil, err
	}
	if len(ar.Response.Patch) > 0 {
		p, err := jsonpatch.DecodePatch(ar.Response.Patch)
		if err != nil {
			return nil, fmt.Errorf("decode the mutating patch: %w", err)
		}
		raw, err := json.Marshal(obj.Object)
		if err != nil {
			return nil, err
		}
		if raw, err = p.Apply(raw); err != nil {
			return nil, fmt.Errorf("apply the mutating patch: %w", err)
		}
		obj = &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
	}
	return benchdata.Review(obj)
}

func startProfiles(c config) (stop func() error, err error) {
	var cpu *os.File
	if c.cpuProfile != "" {
		if cpu, err = os.Create(c.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	if c.memProfile != "" {
		runtime.MemProfileRate = 64 * 1024
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if c.memProfile != "" {
			f, err := os.Create(c.memProfile)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			errs = append(errs, pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
		}
		return errors.Join(errs...)
	}, nil
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

// serve starts the webhook server with the handlers and returns its
// base URL and the pool that trusts its certificate.
func serve(ctx context.Context) (string, *x509.CertPool, error) {
	dir, err := os.MkdirTemp("", "meshgate-loadgen-")
	if err != nil {
		return "", nil, err
	}
	go func() { <-ctx.Done(); os.RemoveAll(dir) }()
	pool, err := benchdata.WriteServingCert(dir)
	if err != nil {
		return "", nil, err
	}

	w, err := benchdata.World()
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir, TLSOpts: webhook.TLSOptions(tls.VersionTLS12, false)})
	for path, dir := range map[string]webhook.Direction{"/mutate": webhook.Mutating, "/validate": webhook.Validating} {
		h, err := webhook.NewHandler(dir, webhook.HandlerOptions{World: w})
		if err != nil {
			return "", nil, err
		}
		srv.Register(path, &admission.Webhook{Handler: h})
	}
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

// result is one run's latencies, duration and the process's CPU time.
type result struct {
	lat     []time.Duration
	elapsed time.Duration
	cpu     time.Duration
}

// cpuPerReview is the process's CPU time (server and clients) per review.
func (r result) cpuPerReview() time.Duration {
	return (r.cpu / time.Duration(max(1, len(r.lat)))).Round(100 * time.Nanosecond)
}

func (r result) n() int { return len(r.lat) }

func (r result) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

// quantile returns the q-quantile latency (r.lat is sorted).
func (r result) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))].Round(time.Microsecond)
}

// add merges other (another round) into r.
func (r *result) add(other result) {
	r.lat = append(r.lat, other.lat...)
	r.elapsed += other.elapsed
	r.cpu += other.cpu
	slices.Sort(r.lat)
}

func header() string {
	return fmt.Sprintf("%-36s %6s %7s %9s %9s %9s %8s | %9s %9s %8s | %6s %6s",
		"variant", "review", "reviews", "reviews/s", "p50", "p99", "CPU/rev", "noop r/s", "noop p50", "CPU/rev", "ratio", "CPU")
}

// row is one variant's line: meshgate's figures, the no-op's, and the ratio
// of meshgate's throughput to the no-op's, measured (ratio) and as the CPU
// time per review predicts it on cores that nothing else uses (CPU).
func row(name string, size int, mesh, noop result) string {
	return fmt.Sprintf("%-36s %5.1fK %7d %9.0f %9s %9s %8s | %9.0f %9s %8s | %5.2fx %5.2fx", name, float64(size)/1024, mesh.n(), mesh.rate(),
		mesh.quantile(0.50), mesh.quantile(0.99), mesh.cpuPerReview(), noop.rate(), noop.quantile(0.50), noop.cpuPerReview(),
		mesh.rate()/noop.rate(), float64(noop.cpuPerReview())/float64(mesh.cpuPerReview()))
}

// compare loads meshgate's handler and the no-op one with the same body in
// c.rounds alternating rounds (no-op first), each with its share of the
// budget, so that the machine's other load weighs on both alike.
func compare(client *http.Client, mesh, noop string, body []byte, c config) (m, n result, err error) {
	perRound := max(1, c.requests/c.rounds)
	seconds := c.maxSeconds / float64(c.rounds)
	for range c.rounds {
		r, err := load(client, noop, body, perRound, seconds, c.concurrency)
		if err != nil {
			return m, n, fmt.Errorf("no-op: %w", err)
		}
		n.add(r)
		if r, err = load(client, mesh, body, perRound, seconds, c.concurrency); err != nil {
			return m, n, fmt.Errorf("meshgate: %w", err)
		}
		m.add(r)
	}
	return m, n, nil
}

// load sends body to url until requests reviews or maxSeconds, after a short
// warm-up, and measures each review.
func load(client *http.Client, url string, body []byte, requests int, maxSeconds float64, concurrency int) (result, error) {
	for range 200 {
		if _, _, err := post(client, url, body); err != nil {
			return result{}, err
		}
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, requests)
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(time.Duration(maxSeconds * float64(time.Second)))
	cpu0, _ := benchdata.CPUTime()
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, requests/concurrency+1)
			for next.Add(1) <= int64(requests) && time.Now().Before(deadline) {
				_, d, err := post(client, url, body)
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
	cpu1, _ := benchdata.CPUTime()
	if firstErr != nil {
		return result{}, firstErr
	}
	if len(lat) == 0 {
		return result{}, errors.New("no review completed")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{lat: lat, elapsed: elapsed, cpu: cpu1 - cpu0}, nil
}

// post sends one review and returns the answer, which must allow the object.
func post(client *http.Client, url string, body []byte) (*admissionv1.AdmissionReview, time.Duration, error) {
	start := time.Now()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	var ar admissionv1.AdmissionReview
	err = json.NewDecoder(resp.Body).Decode(&ar)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("decode the answer: %w", err)
	}
	if ar.Response == nil || !ar.Response.Allowed {
		return nil, 0, fmt.Errorf("unexpected answer: %+v", ar.Response)
	}
	return &ar, d, nil
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
		res, err := e.Review(ctx, engine.Input{Object: obj, Namespace: req.Namespace, Operation: policy.Operation(req.Operation)}, w)
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
