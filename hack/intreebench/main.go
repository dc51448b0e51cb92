// Command intreebench measures, in one run on one local control plane
// (kube-apiserver and etcd from test/e2e/cluster, meshgate in-process on
// 127.0.0.1), the latency of creating a Service that meshgate's Service
// rules review, three ways:
//
//	none     no admission for Services: the floor
//	webhook  meshgate's mutating and validating webhooks
//	in-tree  meshgate's in-tree policies (`meshgate in-tree`): a
//	         MutatingAdmissionPolicy and a ValidatingAdmissionPolicy
//	both     the webhooks and the policies: for pods what a cluster with
//	         the policies runs (pods stay with the webhook), for Services
//	         the chart's inTree.webhook=fallback
//
// and the same for an edge-proxy pod that edge-proxy-istio-certs wires
// (there the in-tree form is a MutatingAdmissionPolicy alone; in a cluster
// the webhook keeps reviewing pods too, see docs/in-tree.md).
//
// Each phase creates -creates objects of each kind (-kinds) one after
// another in its own mesh namespace, after -warmup creates: headless
// Services with an unnamed port 80, which both paths name "http" and then
// validate, and edge-proxy pods, which both paths wire. The phases take turns
// in blocks of 100, so that the load of other processes spreads over all
// of them. It reports p50, p99 and mean latency as the client sees it, and the
// CPU time the API server and this process (the client, and meshgate in the
// webhook phase) used per create. It stops after -max-seconds whatever
// happened, and stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

func main() {
	creates := flag.Int("creates", 1000, "objects of each kind created per phase")
	kinds := flag.String("kinds", "service,pod,plain-pod", "what to create, comma-separated: service, pod (an edge proxy), plain-pod (any other pod)")
	warmup := flag.Int("warmup", 50, "creates per phase before measuring")
	maxSeconds := flag.Int("max-seconds", 300, "stop after this many seconds, whatever happened")
	flag.Parse()
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*maxSeconds)*time.Second)
	defer cancel()
	var ws []workload
	for _, k := range strings.Split(*kinds, ",") {
		w, ok := workloads[strings.TrimSpace(k)]
		if !ok {
			fmt.Fprintf(os.Stderr, "intreebench: -kinds: unknown kind %q (service, pod, plain-pod)\n", k)
			os.Exit(2)
		}
		ws = append(ws, w)
	}
	if err := run(ctx, ws, *creates, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "intreebench:", err)
		os.Exit(1)
	}
}

type result struct {
	phase           string
	p50, p99, mean  time.Duration
	apiCPU, selfCPU time.Duration // per create
	creates         int
}

func run(ctx context.Context, ws []workload, creates, warmup int) error {
	k, err := cluster.Start(cluster.Options{CRDDirs: []string{}, Meshgate: webhook.Options{Config: policy.DefaultConfig()}})
	if err != nil {
		return err
	}
	defer func() {
		if err := k.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "intreebench: stop:", err)
		}
	}()
	api, err := apiServerPID()
	if err != nil {
		return err
	}
	c := k.Client
	phases := []string{"webhook", "none", "in-tree", "both"}
	for _, name := range phases {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-" + name, Labels: map[string]string{"istio-injection": "enabled"}}}
		if err := c.Create(ctx, ns); err != nil {
			return fmt.Errorf("namespace %s: %w", ns.Name, err)
		}
	}
	// meshgate's webhooks see bench-webhook and bench-both only, its
	// policies bench-in-tree and bench-both only: the phases share the API
	// server and take turns.
	if err := onlyNamespaces(ctx, c, "bench-webhook", "bench-both"); err != nil {
		return err
	}
	set, err := intree.Generate(policy.DefaultConfig(), intree.Options{ExcludeNamespaces: []string{"bench-none", "bench-webhook"}})
	if err != nil {
		return err
	}
	for _, o := range set.Objects() {
		if err := c.Create(ctx, o.(client.Object)); err != nil {
			return fmt.Errorf("create the policies: %w", err)
		}
	}
	for _, w := range ws {
		for _, ns := range []string{"bench-webhook", "bench-in-tree", "bench-both"} {
			if err := waitDone(ctx, c, w, ns); err != nil {
				return fmt.Errorf("%s: meshgate never %s a %s: %w", ns, w.done, w.what, err)
			}
		}
	}

	for _, w := range ws {
		// Warm up, then take turns in blocks of `block` creates, so that the
		// load of the others on this shared machine spreads over every phase.
		stats := map[string]*phaseStats{}
		for _, name := range phases {
			stats[name] = &phaseStats{}
			if _, err := block(ctx, c, w, name, 1_000_000, warmup, api); err != nil {
				return err
			}
		}
		const blockSize = 100
		for done := 0; done < creates; done += blockSize {
			n := min(blockSize, creates-done)
			for _, name := range phases {
				b, err := block(ctx, c, w, name, done, n, api)
				if err != nil {
					return err
				}
				stats[name].add(b)
			}
		}
		fmt.Printf("%s create latency, %d creates per phase in turns of %d (after %d warm-up), one kube-apiserver v1.37.1 on 127.0.0.1:\n", w.what, creates, blockSize, warmup)
		fmt.Printf("%-8s %9s %9s %9s %22s %24s\n", "phase", "p50", "p99", "mean", "kube-apiserver CPU/op", "client+meshgate CPU/op")
		for _, name := range phases {
			r := stats[name].result(name)
			fmt.Printf("%-8s %9s %9s %9s %22s %24s\n", r.phase, ms(r.p50), ms(r.p99), ms(r.mean), us(r.apiCPU), us(r.selfCPU))
		}
	}
	return nil
}

// workload is one kind of object the phases create.
type workload struct {
	what string // for the report
	done string // what meshgate does to it, for errors
	// object is the i-th object to create in namespace ns.
	object func(ns string, i int) client.Object
	// reviewed reports whether meshgate (webhook or policy) changed o.
	reviewed func(o client.Object) bool
}

var workloads = map[string]workload{
	"service": {what: "Service", done: "named the port of", object: service,
		reviewed: func(o client.Object) bool { return o.(*corev1.Service).Spec.Ports[0].Name == "http" }},
	// An ordinary pod: meshgate's webhooks never see it (their match
	// conditions leave it out), but edge-proxy-istio-certs's policy is
	// evaluated on every pod create, and this measures what that costs.
	"plain-pod": {what: "Ordinary (non-edge) pod", done: "left alone", object: plainPod,
		reviewed: func(o client.Object) bool { return len(o.(*corev1.Pod).Spec.Volumes) == 0 }},
	"pod": {what: "Edge-proxy pod", done: "wired", object: edgePod,
		reviewed: func(o client.Object) bool {
			vs := o.(*corev1.Pod).Spec.Volumes
			return len(vs) > 0 && vs[len(vs)-1].Name == "istio-certs"
		}},
}

// onlyNamespaces limits meshgate's webhook configurations to namespaces ns.
func onlyNamespaces(ctx context.Context, c client.Client, ns ...string) error {
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: ns,
	}}}
	var ms admissionregistrationv1.MutatingWebhookConfigurationList
	if err := c.List(ctx, &ms); err != nil {
		return err
	}
	for i := range ms.Items {
		for j := range ms.Items[i].Webhooks {
			ms.Items[i].Webhooks[j].NamespaceSelector = sel
		}
		if err := c.Update(ctx, &ms.Items[i]); err != nil {
			return err
		}
	}
	var vs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &vs); err != nil {
		return err
	}
	for i := range vs.Items {
		for j := range vs.Items[i].Webhooks {
			vs.Items[i].Webhooks[j].NamespaceSelector = sel
		}
		if err := c.Update(ctx, &vs.Items[i]); err != nil {
			return err
		}
	}
	return nil
}

type phaseStats struct {
	lat             []time.Duration
	apiCPU, selfCPU time.Duration
}

func (s *phaseStats) add(b *phaseStats) {
	s.lat = append(s.lat, b.lat...)
	s.apiCPU += b.apiCPU
	s.selfCPU += b.selfCPU
}

func (s *phaseStats) result(name string) result {
	lat := append([]time.Duration(nil), s.lat...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	n := time.Duration(len(lat))
	return result{
		phase: name, creates: len(lat),
		p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], mean: sum / n,
		apiCPU: s.apiCPU / n, selfCPU: s.selfCPU / n,
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }

// edgePod is an Emissary pod as its chart renders it, in short: both paths
// wire it with Istio's certificates.
func edgePod(ns string, i int) client.Object {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "emissary-" + strconv.Itoa(i), Namespace: ns, Labels: map[string]string{"product": "aes", "profile": "main"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "emissary", Image: "docker.io/emissaryingress/emissary:3.10.0",
			Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 8877}},
			Env: []corev1.EnvVar{{Name: "AMBASSADOR_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"},
			}}},
		}}},
	}
}

// plainPod is an application pod in a mesh namespace: no edge proxy.
func plainPod(ns string, i int) client.Object {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app-" + strconv.Itoa(i), Namespace: ns, Labels: map[string]string{"app": "reviews"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "reviews", Image: "docker.io/istio/examples-bookinfo-reviews-v1:1.20.3",
			Ports: []corev1.ContainerPort{{ContainerPort: 9080}},
		}}},
	}
}

// service is a headless Service (no cluster IP to allocate) with an unnamed
// port 80: both paths name it "http", then validate it.
func service(ns string, i int) client.Object {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "svc-" + strconv.Itoa(i), Namespace: ns},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "bench"},
			Ports: []corev1.ServicePort{{Port: 80}},
		},
	}
}

// waitDone waits until an object of w created in ns comes back changed by
// meshgate (webhook or policy).
func waitDone(ctx context.Context, c client.Client, w workload, ns string) error {
	for ctx.Err() == nil {
		o := w.object(ns, -1)
		err := c.Create(ctx, o, client.DryRunAll)
		if err == nil && w.reviewed(o) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ctx.Err()
}

// block creates n objects of w in phase name's namespace, numbered from
// first, and measures each create and the CPU time used.
func block(ctx context.Context, c client.Client, w workload, name string, first, n int, api int) (*phaseStats, error) {
	apiBefore, err := cpuOf(api)
	if err != nil {
		return nil, err
	}
	selfBefore, err := cpuOf(os.Getpid())
	if err != nil {
		return nil, err
	}
	b := &phaseStats{lat: make([]time.Duration, 0, n)}
	for i := first; i < first+n; i++ {
		o := w.object("bench-"+name, i)
		start := time.Now()
		if err := c.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("%s: create %s %d: %w", name, w.what, i, err)
		}
		b.lat = append(b.lat, time.Since(start))
		if name != "none" && !w.reviewed(o) {
			return nil, fmt.Errorf("%s: create %s %d: meshgate has not %s it", name, w.what, i, w.done)
		}
	}
	apiAfter, err := cpuOf(api)
	if err != nil {
		return nil, err
	}
	selfAfter, err := cpuOf(os.Getpid())
	if err != nil {
		return nil, err
	}
	b.apiCPU, b.selfCPU = apiAfter-apiBefore, selfAfter-selfBefore
	return b, nil
}

// apiServerPID finds the kube-apiserver this process started.
func apiServerPID() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := statFields(string(stat))
		if len(f) > 2 && f[0] == "kube-apiserver" && f[2] == strconv.Itoa(os.Getpid()) {
			return pid, nil
		}
	}
	return 0, errors.New("no kube-apiserver child process found")
}

// statFields returns /proc/<pid>/stat's fields from comm on (comm without
// its parentheses): comm, state, ppid, ...
func statFields(stat string) []string {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return nil
	}
	return append([]string{stat[open+1 : end]}, strings.Fields(stat[end+1:])...)
}

// cpuOf returns the user+system CPU time of process pid.
func cpuOf(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of %d: %w", pid, err)
	}
	f := statFields(string(stat))
	if len(f) < 14 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[12], 10, 64)
	stime, _ := strconv.ParseInt(f[13], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}
