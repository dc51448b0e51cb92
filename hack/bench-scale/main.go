// Command bench-scale measures meshgate's memory and start-up against a real
// API server (kube-apiserver and etcd through envtest, on 127.0.0.1) holding a
// cluster's worth of objects: `make bench-scale`.
//
// It fills the API server step by step (-sizes: N Services in N/10
// namespaces each), and before the largest step also 5,000 Mappings, 1,000
// VirtualServices and 500 Gateway API Gateways (-extras). At each step it
// starts `meshgate serve` (the binary given with -meshgate) once per
// -gomemlimit value (e.g. ",230MiB": none, then 90% of the chart's default
// 256Mi limit), as a process of its own, and reports for each: the time until /readyz passes, the CPU it took, the
// resident set (RSS) and its peak, the Go heap (live after the last GC, and
// in use) once ready, the latency of reviews sent while the World syncs, then
// -reviews Mapping reviews at -concurrency (reviews/s, p50/p99) and the RSS
// after them. Everything is bounded (-max-minutes) and stopped at the end.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshgate/meshgate/internal/benchdata"
	"github.com/meshgate/meshgate/test/e2e/cluster"
)

type options struct {
	meshgate    string
	sizes       []int
	extras      bool
	clusterIPs  bool
	reviews     int
	concurrency int
	workers     int
	gomemlimits []string
	maxMinutes  int
}

func main() {
	var o options
	var sizes, gomemlimits string
	flag.StringVar(&o.meshgate, "meshgate", "", "the meshgate binary to measure (required)")
	flag.StringVar(&sizes, "sizes", "10000,20000", "Services at each step, ascending (N Services in N/10 namespaces)")
	flag.BoolVar(&o.extras, "extras", true, "before the largest step, also create 5,000 Mappings, 1,000 VirtualServices and 500 Gateways")
	flag.BoolVar(&o.clusterIPs, "cluster-ips", false, "give nine Services in ten a cluster IP (else all are headless): the API server's IP allocator costs time linear in the Services on each create, slow past about 20,000; meshgate's cache does not keep the IP")
	flag.IntVar(&o.reviews, "reviews", 5000, "Mapping reviews sent once the server is ready")
	flag.IntVar(&o.concurrency, "concurrency", 4, "concurrent clients for those reviews")
	flag.IntVar(&o.workers, "workers", 32, "concurrent clients creating the objects")
	flag.StringVar(&gomemlimits, "gomemlimit", "", "GOMEMLIMIT for the server (empty: none, as without a container limit); a comma-separated list measures each, e.g. \",230MiB\"")
	flag.IntVar(&o.maxMinutes, "max-minutes", 40, "give up after this long")
	flag.Parse()
	var err error
	if o.sizes, err = parseSizes(sizes); err == nil && o.meshgate == "" {
		err = errors.New("-meshgate is required (make bench-scale builds it)")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
	o.gomemlimits = strings.Split(gomemlimits, ",")
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	// Ctrl-C or SIGTERM stops the run, and with it the control plane.
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sig, time.Duration(o.maxMinutes)*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 10 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("-sizes %q: want ascending numbers of Services, at least 10", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, o options) error {
	assets, err := cluster.Assets()
	if err != nil {
		return err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{cluster.CRDDir("istio"), cluster.CRDDir("gateway-api"), cluster.EmissaryCRDDir()},
			ErrorIfPathMissing: true,
		},
	}
	// A /12 of Service IPs (as kubeadm's default) instead of envtest's /24,
	// which holds 254 Services.
	env.ControlPlane.GetAPIServer().Configure().Set("advertise-address", "127.0.0.1").
		Set("endpoint-reconciler-type", "none").Set("service-cluster-ip-range", "10.96.0.0/12")
	fmt.Println("starting kube-apiserver and etcd ...")
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return fmt.Errorf("start the control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()

	work, err := os.MkdirTemp("", "meshgate-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	kubeconfig, err := writeKubeconfig(env, work)
	if err != nil {
		return err
	}
	certDir, pool, err := writeCert(work)
	if err != nil {
		return err
	}

	p, err := newPopulator(cfg, o.workers, o.clusterIPs)
	if err != nil {
		return err
	}
	if err := p.base(ctx); err != nil {
		return err
	}

	var results []result
	have := 0
	for i, n := range o.sizes {
		start := time.Now()
		if err := p.services(ctx, have, n); err != nil {
			return err
		}
		took := time.Since(start)
		// Objects per second: the Services and their namespaces.
		rate := float64(n-have+(n+9)/10-(have+9)/10) / took.Seconds()
		fmt.Printf("created Services %d..%d and namespaces %d..%d (%.1fs, %.0f objects/s)\n", have, n, (have+9)/10, (n+9)/10, took.Seconds(), rate)
		have = n
		if o.extras && i == len(o.sizes)-1 {
			start := time.Now()
			if err := p.extras(ctx, n); err != nil {
				return err
			}
			fmt.Printf("created 5,000 Mappings, 1,000 VirtualServices, 500 Gateways (%.1fs)\n", time.Since(start).Seconds())
		}
		for _, limit := range o.gomemlimits {
			r, err := measure(ctx, o, strings.TrimSpace(limit), n, i == len(o.sizes)-1 && o.extras, kubeconfig, certDir, pool, work)
			if err != nil {
				return fmt.Errorf("%d Services, %s: %w", n, r.label(), err)
			}
			r.createRate = rate
			results = append(results, r)
			r.print()
		}
	}
	printSummary(results, o)
	return nil
}

// result is one server's measurement.
type result struct {
	gomemlimit string // the server's GOMEMLIMIT, empty for none
	services   int
	extras     bool
	// createRate is the objects (Services and namespaces) a second the
	// populator created in the step before this measurement.
	createRate float64

	ready        time.Duration
	cpuToReady   time.Duration
	rssReady     uint64
	peakReady    uint64
	heapLive     uint64
	heapInuse    uint64
	duringSync   []time.Duration
	duringStatus map[int]int

	reviews    int
	failed     int
	reviewTime time.Duration
	latencies  []time.Duration
	rssAfter   uint64
	peakAfter  uint64
	liveAfter  uint64
	// liveReads are the World lookups the cache could not answer during the
	// reviews after ready, read from the API server instead, by kind.
	liveReads map[string]uint64
}

// label names the server measured: its GOMEMLIMIT, if set.
func (r result) label() string {
	if r.gomemlimit == "" {
		return "serve"
	}
	return "serve GOMEMLIMIT=" + r.gomemlimit
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (r result) print() {
	fmt.Printf("  %-5s %6d Services: ready %.2fs (CPU %.2fs), RSS %s (peak %s), Go heap live %s, in use %s\n",
		r.label(), r.services, r.ready.Seconds(), r.cpuToReady.Seconds(), mib(r.rssReady), mib(r.peakReady), mib(r.heapLive), mib(r.heapInuse))
	if len(r.duringSync) > 0 {
		fmt.Printf("        %d reviews while syncing: p50 %s, p99 %s, max %s, HTTP status %v\n",
			len(r.duringSync), pct(r.duringSync, 50), pct(r.duringSync, 99), pct(r.duringSync, 100), r.duringStatus)
	}
	fmt.Printf("        %d reviews after ready (%d failed): %.0f/s, p50 %s, p99 %s, API server reads %v; then RSS %s (peak %s), heap live %s\n",
		r.reviews, r.failed, float64(r.reviews)/r.reviewTime.Seconds(), pct(r.latencies, 50), pct(r.latencies, 99), r.liveReads,
		mib(r.rssAfter), mib(r.peakAfter), mib(r.liveAfter))
}

func printSummary(rs []result, o options) {
	fmt.Println()
	fmt.Printf("| server | Services | namespaces | created/s | ready | CPU to ready | RSS ready | peak RSS | heap live | reviews during sync p50 / p99 | reviews p50 / p99 | RSS after %d reviews |\n", o.reviews)
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		svc := strconv.Itoa(r.services)
		if r.extras {
			svc += " + extras"
		}
		sync := "-"
		if len(r.duringSync) > 0 {
			sync = fmt.Sprintf("%s / %s (%d)", pct(r.duringSync, 50), pct(r.duringSync, 99), len(r.duringSync))
		}
		fmt.Printf("| %s | %s | %d | %.0f | %.2f s | %.2f s | %s | %s | %s | %s | %s / %s | %s |\n", r.label(), svc, (r.services+9)/10, r.createRate, r.ready.Seconds(),
			r.cpuToReady.Seconds(), mib(r.rssReady), mib(max(r.peakReady, r.peakAfter)), mib(r.heapLive), sync,
			pct(r.latencies, 50), pct(r.latencies, 99), mib(r.rssAfter))
	}
	// The cost of each further 1,000 Services, between consecutive steps.
	var labels []string
	for _, r := range rs {
		if !slices.Contains(labels, r.label()) {
			labels = append(labels, r.label())
		}
	}
	for _, label := range labels {
		var prev *result
		for i := range rs {
			r := &rs[i]
			if r.label() != label {
				continue
			}
			if prev != nil && !r.extras {
				k := float64(r.services-prev.services) / 1000
				fmt.Printf("%s: %d -> %d Services: RSS %+.2f MiB, heap live %+.2f MiB per 1,000 Services\n", label, prev.services, r.services,
					(float64(r.rssReady)-float64(prev.rssReady))/(1<<20)/k, (float64(r.heapLive)-float64(prev.heapLive))/(1<<20)/k)
			}
			prev = r
		}
	}
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	i = max(0, min(i, len(s)-1))
	return s[i].Round(10 * time.Microsecond).String()
}

// measure starts one server against the filled API server and measures it.
func measure(ctx context.Context, o options, gomemlimit string, services int, extras bool, kubeconfig, certDir string, pool *x509.CertPool, work string) (result, error) {
	r := result{gomemlimit: gomemlimit, services: services, extras: extras, duringStatus: map[int]int{}}
	ports, err := freePorts(3)
	if err != nil {
		return r, err
	}
	hook := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	health := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	metrics := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))
	args := []string{"serve", "--kubeconfig", kubeconfig, "--cert-dir", certDir, "--host", "127.0.0.1",
		"--port", strconv.Itoa(ports[0]), "--health-probe-bind-address", health, "--metrics-bind-address", metrics,
		"--metrics-secure=false", "--namespace", "meshgate", "--service-account", "meshgate", "--drain-delay", "0s"}
	logPath := filepath.Join(work, fmt.Sprintf("meshgate-%s-%d.log", gomemlimit, services))
	logFile, err := os.Create(logPath)
	if err != nil {
		return r, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, o.meshgate, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// No container limit here: GOMEMLIMIT only when asked for.
	cmd.Env = append(os.Environ(), "AUTOMEMLIMIT=off", "GOMEMLIMIT="+gomemlimit)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start meshgate: %w", err)
	}
	// exited is closed once the process has exited, with waitErr set.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	pid := cmd.Process.Pid

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: o.concurrency,
	}}
	url := "https://" + hook + "/mutate"
	review := newReviewer(services)

	// Reviews while the World syncs: one client, one after the other.
	var ready atomic.Bool
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		for !ready.Load() && ctx.Err() == nil {
			t0 := time.Now()
			code, err := post(client, url, review())
			if err != nil {
				time.Sleep(5 * time.Millisecond) // not listening yet
				continue
			}
			if ready.Load() {
				return
			}
			r.duringSync = append(r.duringSync, time.Since(t0))
			r.duringStatus[code]++
		}
	}()

	healthClient := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-exited:
			return r, fmt.Errorf("meshgate exited before it was ready (%v); log: %s", waitErr, tail(logPath))
		case <-ctx.Done():
			return r, fmt.Errorf("not ready in time: %w; log: %s", ctx.Err(), tail(logPath))
		default:
		}
		resp, err := healthClient.Get("http://" + health + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.ready = time.Since(start)
	ready.Store(true)
	<-syncDone
	r.cpuToReady = cpuTime(pid)
	// Let the post-sync garbage collection and the scavenger settle.
	time.Sleep(3 * time.Second)
	r.rssReady, r.peakReady = rss(pid)
	m, err := scrape("http://" + metrics + "/metrics")
	if err != nil {
		return r, err
	}
	r.heapLive, r.heapInuse = m["go_gc_heap_live_bytes"], m["go_memstats_heap_inuse_bytes"]
	if r.heapLive == 0 {
		return r, fmt.Errorf("no go_gc_heap_live_bytes on %s (%d samples)", metrics, len(m))
	}
	readsBefore := liveReads(m)

	// Reviews once ready.
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range o.concurrency {
		wg.Go(func() {
			var mine []time.Duration
			failed := 0
			for next.Add(1) <= int64(o.reviews) && ctx.Err() == nil {
				s := time.Now()
				code, err := post(client, url, review())
				if err != nil || code != http.StatusOK {
					failed++
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			r.latencies = append(r.latencies, mine...)
			r.failed += failed
			mu.Unlock()
		})
	}
	wg.Wait()
	r.reviewTime = time.Since(t0)
	r.reviews = len(r.latencies) + r.failed
	time.Sleep(time.Second)
	r.rssAfter, r.peakAfter = rss(pid)
	if m, err = scrape("http://" + metrics + "/metrics"); err == nil {
		r.liveAfter = m["go_gc_heap_live_bytes"]
		r.liveReads = liveReads(m)
		for k, v := range readsBefore {
			r.liveReads[k] -= v
		}
	}
	if r.failed > 0 {
		return r, fmt.Errorf("%d of %d reviews failed; log: %s", r.failed, r.reviews, tail(logPath))
	}
	return r, nil
}

// newReviewer returns a function that makes the AdmissionReview of a Mapping
// (in a mesh namespace) whose upstream is a random Service of the cluster
// without a port, so mapping-istio-tls looks up the Service, its namespace,
// the PeerAuthentications, the TLSContext and the Module.
func newReviewer(services int) func() []byte {
	var n atomic.Int64
	return func() []byte {
		i := n.Add(1)
		s := rand.IntN(services)
		m := map[string]any{
			"apiVersion": "getambassador.io/v3alpha1", "kind": "Mapping",
			"metadata": map[string]any{"name": fmt.Sprintf("bench-%d", i), "namespace": nsOf(0)},
			"spec":     map[string]any{"hostname": "*", "prefix": "/s/", "service": fmt.Sprintf("svc-%06d.%s", s, nsOf(s))},
		}
		raw, _ := json.Marshal(m)
		ar := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID:       types.UID("bench-" + strconv.FormatInt(i, 10)),
				Kind:      metav1.GroupVersionKind{Group: "getambassador.io", Version: "v3alpha1", Kind: "Mapping"},
				Resource:  metav1.GroupVersionResource{Group: "getambassador.io", Version: "v3alpha1", Resource: "mappings"},
				Namespace: nsOf(0), Name: fmt.Sprintf("bench-%d", i), Operation: admissionv1.Create,
				UserInfo: authenticationv1.UserInfo{Username: "bench-scale"}, Object: runtime.RawExtension{Raw: raw},
			},
		}
		body, _ := json.Marshal(ar)
		return body
	}
}

func post(c *http.Client, url string, body []byte) (int, error) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var ar admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, fmt.Errorf("decode the response: %w", err)
	}
	return resp.StatusCode, nil
}

// rss returns the process's resident set and its peak (VmRSS, VmHWM).
func rss(pid int) (cur, peak uint64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return cur, peak
}

// cpuTime returns the process's user + system CPU time so far.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (in parentheses): utime and stime are the
	// 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// liveReads returns meshgate_world_live_reads_total by kind.
func liveReads(m map[string]uint64) map[string]uint64 {
	const prefix = `meshgate_world_live_reads_total{kind="`
	out := map[string]uint64{}
	for k, v := range m {
		if kind, ok := strings.CutPrefix(k, prefix); ok {
			out[strings.TrimSuffix(kind, `"}`)] = v
		}
	}
	return out
}

// scrape reads the samples of a Prometheus text endpoint (a labelled sample
// is keyed by its name and labels).
func scrape(url string) (map[string]uint64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: HTTP %d", resp.StatusCode)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = uint64(v)
		}
	}
	return out, sc.Err()
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return "\n" + string(data)
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "meshgate-bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// writeCert writes a self-signed serving certificate for 127.0.0.1 into
// dir/certs and returns that directory and a pool that trusts it.
func writeCert(dir string) (string, *x509.CertPool, error) {
	certDir := filepath.Join(dir, "certs")
	pool, err := benchdata.WriteServingCert(certDir)
	return certDir, pool, err
}

// populator creates the objects.
type populator struct {
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	workers int
	// clusterIPs gives nine Services in ten a cluster IP; else all are headless.
	clusterIPs bool
}

// newPopulator returns a populator whose clients are not rate limited (the
// control plane is the bench's own); built-in objects travel as protobuf,
// which costs the API server less to decode than JSON.
func newPopulator(cfg *rest.Config, workers int, clusterIPs bool) (*populator, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	dynCfg := rest.CopyConfig(cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(dynCfg)
	if err != nil {
		return nil, err
	}
	return &populator{kube: kube, dyn: dyn, workers: workers, clusterIPs: clusterIPs}, nil
}

func nsOf(service int) string { return fmt.Sprintf("ns-%05d", service/10) }

// parallel runs fn(i) for i in [from, to) on the populator's workers and
// returns the first error.
func (p *populator) parallel(ctx context.Context, from, to int, fn func(context.Context, int) error) error {
	var next atomic.Int64
	next.Store(int64(from) - 1)
	var first atomic.Value
	var wg sync.WaitGroup
	for range p.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i >= to || ctx.Err() != nil || first.Load() != nil {
					return
				}
				if err := retry(ctx, func() error { return fn(ctx, i) }); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return ctx.Err()
}

// retry runs create until it succeeds, the object already exists, or it
// failed 10 times: a busy API server answers some creates with a timeout.
func retry(ctx context.Context, create func() error) error {
	var err error
	for attempt := range 10 {
		if err = create(); err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return err
}

// base creates what the reviews need besides Services: the Emissary and
// Istio namespaces, the TLSContext and Module the Mapping rules read, and a
// mesh-wide STRICT PeerAuthentication.
func (p *populator) base(ctx context.Context) error {
	for _, ns := range []string{"emissary", "istio-system", "meshgate"} {
		if _, err := p.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	objs := []*unstructured.Unstructured{
		obj("getambassador.io/v3alpha1", "TLSContext", "emissary", "istio-upstream", map[string]any{
			"secret": "istio-certs", "alpn_protocols": "istio", "secret_namespacing": false}),
		obj("getambassador.io/v3alpha1", "Module", "emissary", "ambassador", map[string]any{
			"config": map[string]any{"diagnostics": map[string]any{"enabled": false}}}),
		obj("security.istio.io/v1", "PeerAuthentication", "istio-system", "default", map[string]any{
			"mtls": map[string]any{"mode": "STRICT"}}),
	}
	for _, u := range objs {
		if err := p.create(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

func obj(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

var resources = map[string]schema.GroupVersionResource{
	"TLSContext":         {Group: "getambassador.io", Version: "v3alpha1", Resource: "tlscontexts"},
	"Module":             {Group: "getambassador.io", Version: "v3alpha1", Resource: "modules"},
	"Mapping":            {Group: "getambassador.io", Version: "v3alpha1", Resource: "mappings"},
	"PeerAuthentication": {Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"},
	"VirtualService":     {Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
	"Gateway":            {Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"},
}

func (p *populator) create(ctx context.Context, u *unstructured.Unstructured) error {
	_, err := p.dyn.Resource(resources[u.GetKind()]).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// services creates Services [from, to) and their namespaces: ten Services a
// namespace, every other namespace in the sidecar mesh; each Service is
// shaped like a Helm chart's (five labels, two annotations, two ports).
func (p *populator) services(ctx context.Context, from, to int) error {
	err := p.parallel(ctx, from/10, (to+9)/10, func(ctx context.Context, i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsOf(i * 10), Labels: map[string]string{
			"kubernetes.io/metadata.name": nsOf(i * 10), "team": fmt.Sprintf("team-%d", i%50)}}}
		if i%2 == 0 {
			ns.Labels["istio-injection"] = "enabled"
		}
		_, err := p.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	h2c := "kubernetes.io/h2c"
	err = p.parallel(ctx, from, to, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("svc-%06d", i)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: nsOf(i),
				Labels: map[string]string{
					"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "prod",
					"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/version": "1.4.2",
					"helm.sh/chart": "backend-1.4.2",
				},
				Annotations: map[string]string{"meta.helm.sh/release-name": "prod", "meta.helm.sh/release-namespace": nsOf(i)},
			},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "prod"},
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
					{Name: "grpc", Port: 9090, TargetPort: intstr.FromInt32(9090), AppProtocol: &h2c},
				},
			},
		}
		if i%10 == 9 || !p.clusterIPs {
			svc.Spec.ClusterIP = corev1.ClusterIPNone // headless
		}
		_, err := p.kube.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("create Services: %w", err)
	}
	return nil
}

// extras creates 5,000 Mappings, 1,000 VirtualServices and 500 Gateway API
// Gateways (two listeners each) across the first namespaces.
func (p *populator) extras(ctx context.Context, services int) error {
	namespaces := services / 10
	err := p.parallel(ctx, 0, 6500, func(ctx context.Context, i int) error {
		ns := nsOf((i % namespaces) * 10)
		switch {
		case i < 5000:
			return p.create(ctx, obj("getambassador.io/v3alpha1", "Mapping", ns, fmt.Sprintf("m-%d", i), map[string]any{
				"hostname": "*", "prefix": fmt.Sprintf("/m%d/", i), "service": fmt.Sprintf("svc-%06d:80", (i%namespaces)*10),
				"tls": "istio-upstream"}))
		case i < 6000:
			return p.create(ctx, obj("networking.istio.io/v1", "VirtualService", ns, fmt.Sprintf("vs-%d", i), map[string]any{
				"hosts": []any{fmt.Sprintf("vs-%d.example.com", i)}, "gateways": []any{"istio-system/public"},
				"http": []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{
					"host": fmt.Sprintf("svc-%06d", (i%namespaces)*10), "port": map[string]any{"number": int64(80)}}}}}},
			}))
		default:
			return p.create(ctx, obj("gateway.networking.k8s.io/v1", "Gateway", ns, fmt.Sprintf("gw-%d", i), map[string]any{
				"gatewayClassName": "istio",
				"listeners": []any{
					map[string]any{"name": "http", "port": int64(80), "protocol": "HTTP",
						"allowedRoutes": map[string]any{"namespaces": map[string]any{"from": "Same"}}},
					map[string]any{"name": "https", "port": int64(443), "protocol": "HTTPS", "hostname": "*.example.com",
						"tls": map[string]any{"mode": "Terminate", "certificateRefs": []any{map[string]any{"name": "cert"}}}},
				},
			}))
		}
	})
	if err != nil {
		return fmt.Errorf("create the extras: %w", err)
	}
	return nil
}
