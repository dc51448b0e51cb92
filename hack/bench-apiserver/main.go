// Command bench-apiserver measures what meshgate costs the objects created
// through a real kube-apiserver. It starts the local control plane (envtest,
// test/e2e/cluster: kube-apiserver and etcd from bin/k8s) with meshgate
// in-process, and a no-op webhook server beside it, then creates objects
// (internal/benchdata's, as a client submits them: ordinary pods and Emissary
// pods, Services and Mappings) with three registrations in turn:
//
//	none      no webhook configuration
//	no-op     webhook.Configurations pointing at the no-op server: the same
//	          rules, selectors, conditions, timeouts and failure policy as meshgate's
//	meshgate  webhook.Configurations pointing at meshgate
//
// Each (kind, registration) gets -creates creates from -clients clients, in
// -rounds rounds that alternate the registrations, so that the machine's other
// load weighs on all of them alike. It reports creates/s and p50/p99/p99.9
// create latency, and the requests meshgate received, from its /metrics
// (controller-runtime's webhook request counter per path,
// meshgate_reviews_total, and meshgate_world_live_reads_total: the lookups its
// cache could not answer). Everything runs on 127.0.0.1 and stops by itself;
// -max-seconds bounds the whole run.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshgate/meshgate/internal/benchdata"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

type config struct {
	creates    int
	clients    int
	rounds     int
	maxSeconds float64
}

func main() {
	c := config{}
	flag.IntVar(&c.creates, "creates", 1000, "creates per kind and registration")
	flag.IntVar(&c.clients, "clients", 1, "concurrent clients")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds the creates are split into, alternating the registrations")
	flag.Float64Var(&c.maxSeconds, "max-seconds", 1200, "upper bound of the whole run")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if _, err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-apiserver:", err)
		os.Exit(1)
	}
}

// kind is one kind of object created.
type kind struct {
	name   string
	object string
	// deleteAfter: the objects are deleted after each round (untimed): a
	// Service takes a cluster IP, and envtest's range has 254.
	deleteAfter bool
}

var kinds = []kind{
	{"ordinary pod", benchdata.OrdinaryPod, false},
	{"Emissary pod", benchdata.EmissaryPod, false},
	{"Service", benchdata.Service, true},
	{"Mapping", benchdata.Mapping, false},
}

// Registrations.
const (
	regNone     = "none"
	regNoop     = "no-op"
	regMeshgate = "meshgate"
)

var registrations = []string{regNone, regNoop, regMeshgate}

// sample is what one (kind, registration) measured.
type sample struct {
	lat      []time.Duration
	elapsed  time.Duration
	received map[string]float64
}

// results are the samples by kind name and registration.
type results map[string]map[string]*sample

func run(c config, out io.Writer) (results, error) {
	if c.creates <= 0 || c.clients <= 0 || c.rounds <= 0 || c.maxSeconds <= 0 {
		return nil, errors.New("-creates, -clients, -rounds and -max-seconds must be positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.maxSeconds*float64(time.Second)))
	defer cancel()
	fmt.Fprintln(out, "bench-apiserver: starting the local control plane (kube-apiserver + etcd) and meshgate...")
	k, err := cluster.Start(cluster.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := k.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-apiserver: stop:", err)
		}
	}()
	noop, err := startNoop(ctx, k.Env.WebhookInstallOptions.LocalServingCertDir)
	if err != nil {
		return nil, err
	}
	ca := k.Env.WebhookInstallOptions.LocalServingCAData
	b := &bench{c: c, k: k, noop: noop}
	b.configs = map[string][2]client.Object{}
	for reg, url := range map[string]string{regMeshgate: k.WebhookURL, regNoop: noop.url + noopPrefix} {
		m, v := webhook.Configurations(webhook.RegistrationOptions{ClientConfig: webhook.URLClientConfig(url, ca), TimeoutSeconds: 10})
		b.configs[reg] = [2]client.Object{m, v}
	}
	if err := b.setUp(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "kube-apiserver %s; %d creates per kind and registration, %d client(s), %d alternating rounds\n",
		k.Config.Host, c.creates, c.clients, c.rounds)

	samples := results{}
	for _, kd := range kinds {
		samples[kd.name] = map[string]*sample{}
		for _, reg := range registrations {
			samples[kd.name][reg] = &sample{received: map[string]float64{}}
		}
	}
	perRound := (c.creates + c.rounds - 1) / c.rounds
	for round := range c.rounds {
		n := min(perRound, c.creates-round*perRound)
		if n <= 0 {
			break
		}
		for _, reg := range registrations {
			if err := b.register(ctx, reg); err != nil {
				return nil, err
			}
			for _, kd := range kinds {
				if err := b.measure(ctx, kd, reg, round, n, samples[kd.name][reg]); err != nil {
					return nil, fmt.Errorf("%s, %s: %w", kd.name, reg, err)
				}
			}
		}
		fmt.Fprintf(out, "round %d/%d done\n", round+1, c.rounds)
	}
	report(out, samples)
	return samples, nil
}

// bench holds the running parts.
type bench struct {
	c       config
	k       *cluster.Cluster
	noop    *noopServer
	configs map[string][2]client.Object
}

// setUp creates what the rules look up (benchdata's World objects) and the
// service accounts the pods run as, and waits until meshgate's cache knows
// them: an Emissary pod created with a dry run comes back wired.
func (b *bench) setUp(ctx context.Context) error {
	objs, err := benchdata.WorldObjects()
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := b.k.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("create %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	for _, sa := range []struct{ ns, name string }{{"apps", "default"}, {"emissary", "default"}, {"emissary", "emissary-ingress"}} {
		if err := b.k.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: sa.ns, Name: sa.name}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create service account %s/%s: %w", sa.ns, sa.name, err)
		}
	}
	return poll(ctx, 60*time.Second, "meshgate wires an Emissary pod", func() (bool, error) {
		pod, err := b.probe(ctx)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "istio-certs" }), nil
	})
}

// probe creates an Emissary pod with a dry run and returns what the API server
// would store.
func (b *bench) probe(ctx context.Context) (*corev1.Pod, error) {
	obj, err := benchdata.Object(benchdata.EmissaryPod)
	if err != nil {
		return nil, err
	}
	u := benchdata.ForCreate(obj, "probe")
	if err := b.k.Client.Create(ctx, u, client.DryRunAll); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	pod := &corev1.Pod{}
	if err := fromUnstructured(u, pod); err != nil {
		return nil, err
	}
	return pod, nil
}

// register makes reg the registration in force, and waits until the API
// server calls whom it names (and, for none, nobody): a dry-run probe (an
// Emissary pod, which every registration sends to its webhooks) must reach
// the no-op server exactly when reg is no-op, and meshgate exactly when it is
// meshgate.
func (b *bench) register(ctx context.Context, reg string) error {
	for _, o := range b.configs[regMeshgate] {
		// Both registrations share the configurations' names.
		del := o.DeepCopyObject().(client.Object)
		if err := b.k.Client.Delete(ctx, del); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("unregister: %w", err)
		}
	}
	if reg != regNone {
		for _, o := range b.configs[reg] {
			c := o.DeepCopyObject().(client.Object)
			if err := b.k.Client.Create(ctx, c); err != nil {
				return fmt.Errorf("register %s: %w", reg, err)
			}
		}
	}
	return poll(ctx, 60*time.Second, "registration "+reg+" in force", func() (bool, error) {
		noop0 := b.noop.requests.Load()
		mesh0, err := received(ctx, b.k.MetricsURL)
		if err != nil {
			return false, err
		}
		if _, err := b.probe(ctx); err != nil {
			return false, err
		}
		mesh1, err := received(ctx, b.k.MetricsURL)
		if err != nil {
			return false, err
		}
		toNoop := b.noop.requests.Load() > noop0
		toMesh := mesh1[pathAny] > mesh0[pathAny]
		if toNoop == (reg == regNoop) && toMesh == (reg == regMeshgate) {
			return true, nil
		}
		return false, fmt.Errorf("a probe reached the no-op server: %t, meshgate: %t", toNoop, toMesh)
	})
}

// measure creates n objects of kd with registration reg in force, from the
// configured clients, and adds the latencies and meshgate's received requests
// to s.
func (b *bench) measure(ctx context.Context, kd kind, reg string, round, n int, s *sample) error {
	proto, err := benchdata.Object(kd.object)
	if err != nil {
		return err
	}
	objs := make([]*unstructured.Unstructured, n)
	for i := range objs {
		objs[i] = benchdata.ForCreate(proto, fmt.Sprintf("bench-%s-r%d-%d", strings.ReplaceAll(reg, "-", ""), round, i))
	}
	before, err := received(ctx, b.k.MetricsURL)
	if err != nil {
		return err
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	lat := make([]time.Duration, n)
	start := time.Now()
	for range b.c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				err := b.k.Client.Create(ctx, objs[i])
				lat[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("create %s: %w", objs[i].GetName(), err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	after, err := received(ctx, b.k.MetricsURL)
	if err != nil {
		return err
	}
	s.lat = append(s.lat, lat...)
	s.elapsed += elapsed
	for k, v := range after {
		s.received[k] += v - before[k]
	}
	if kd.deleteAfter {
		for _, o := range objs {
			if err := b.k.Client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete %s: %w", o.GetName(), err)
			}
		}
	}
	return nil
}

// Keys of the received-requests counts.
const (
	pathMutate   = webhook.MutatePath
	pathValidate = webhook.ValidatePath
	// pathAny counts meshgate's requests on every path.
	pathAny = "any"
	// noopPrefix prefixes the no-op server's paths.
	noopPrefix = "/noop"
)

// received scrapes meshgate's /metrics: the requests its webhook server
// received per path (controller_runtime_webhook_requests_total), and the
// reviews its engine made per direction and kind (meshgate_reviews_total,
// keyed "reviews <direction> <kind>").
func received(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape meshgate's metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse meshgate's metrics: %w", err)
	}
	out := map[string]float64{}
	if f := families["controller_runtime_webhook_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			path := label(m.GetLabel(), "webhook")
			if strings.HasPrefix(path, noopPrefix+"/") {
				continue
			}
			out[path] += m.GetCounter().GetValue()
			out[pathAny] += m.GetCounter().GetValue()
		}
	}
	if f := families["meshgate_world_live_reads_total"]; f != nil {
		for _, m := range f.GetMetric() {
			out["live reads "+label(m.GetLabel(), "kind")] += m.GetCounter().GetValue()
		}
	}
	if f := families["meshgate_reviews_total"]; f != nil {
		for _, m := range f.GetMetric() {
			out["reviews "+label(m.GetLabel(), "direction")+" "+label(m.GetLabel(), "kind")] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// namedValue is a Prometheus label pair.
type namedValue interface {
	GetName() string
	GetValue() string
}

func label[L namedValue](ls []L, name string) string {
	for _, l := range ls {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// noopServer is a webhook server that allows everything and counts the
// requests it answered.
type noopServer struct {
	url      string
	requests atomic.Int64
}

// startNoop serves /mutate and /validate on 127.0.0.1 with the certificate
// envtest made for meshgate (it is for 127.0.0.1), as meshgate's server does
// (controller-runtime's webhook server, meshgate's TLS settings).
func startNoop(ctx context.Context, certDir string) (*noopServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tlsOpts := webhook.TLSOptions(tls.VersionTLS12, false)
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir, TLSOpts: tlsOpts})
	n := &noopServer{url: "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	allow := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		n.requests.Add(1)
		return admission.Allowed("")
	})}
	// Every path under noopPrefix: the no-op configurations are meshgate's with
	// this prefix, so that controller-runtime's request counter, which both
	// servers in this process share, tells them apart.
	srv.Register(noopPrefix+"/", allow)
	go func() {
		if err := srv.Start(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "bench-apiserver: no-op server:", err)
		}
	}()
	err = poll(ctx, 10*time.Second, "the no-op webhook server starts", func() (bool, error) {
		return srv.StartedChecker()(nil) == nil, nil
	})
	return n, err
}

func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting until %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("waiting until %s: not after %s (last error: %v)", what, timeout, last)
}

func report(out io.Writer, samples results) {
	fmt.Fprintf(out, "\n%-13s %-9s %7s %9s %9s %9s %9s   %s\n", "kind", "webhooks", "creates", "creates/s", "p50", "p99", "p99.9", "meshgate received: all (/mutate, /validate); engine reviews; World live reads")
	for _, kd := range kinds {
		for _, reg := range registrations {
			s := samples[kd.name][reg]
			slices.Sort(s.lat)
			fmt.Fprintf(out, "%-13s %-9s %7d %9.0f %9s %9s %9s   %.0f (%.0f, %.0f); %s\n", kd.name, reg, len(s.lat), float64(len(s.lat))/s.elapsed.Seconds(),
				quantile(s.lat, 0.50), quantile(s.lat, 0.99), quantile(s.lat, 0.999), s.received[pathAny], s.received[pathMutate], s.received[pathValidate], reviews(s.received))
		}
	}
	fmt.Fprintf(out, "\n%-13s %-22s %9s %9s %9s\n", "kind", "difference", "p50", "p99", "p99.9")
	for _, kd := range kinds {
		m := samples[kd.name][regMeshgate]
		for _, base := range []string{regNone, regNoop} {
			o := samples[kd.name][base]
			fmt.Fprintf(out, "%-13s %-22s %9s %9s %9s\n", kd.name, "meshgate - "+base,
				diff(m.lat, o.lat, 0.50), diff(m.lat, o.lat, 0.99), diff(m.lat, o.lat, 0.999))
		}
	}
}

// reviews renders the engine's reviews and the World's live reads (lookups
// the cache could not answer) from r.
func reviews(r map[string]float64) string {
	var parts []string
	for k, v := range r {
		if (strings.HasPrefix(k, "reviews ") || strings.HasPrefix(k, "live reads ")) && v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimPrefix(k, "reviews "), v))
		}
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(q*float64(len(lat))))].Round(10 * time.Microsecond)
}

func diff(a, b []time.Duration, q float64) string {
	d := quantile(a, q) - quantile(b, q)
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + d.String()
}

// fromUnstructured converts u into the typed obj.
func fromUnstructured(u *unstructured.Unstructured, obj any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return fmt.Errorf("read %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}
