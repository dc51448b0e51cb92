// Command demo is `make demo`: it starts a local control plane (a real
// kube-apiserver, etcd and kube-controller-manager, through envtest) with the
// Istio, Gateway API, cert-manager and Emissary CRDs, runs meshgate in-process
// and registers its webhooks, applies examples/ one object at a time, and
// shows what happened: what meshgate changed (as a diff against what the API
// server handed it), each rejection with its message, and each warning; for a
// Deployment, the pod its ReplicaSet created. Then it keeps running,
// with a KUBECONFIG to try your own manifests, until Ctrl-C (-oneshot or
// DEMO_ONESHOT=1: exit after the show).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

type options struct {
	examples string
	oneshot  bool
}

func main() {
	o := options{}
	flag.StringVar(&o.examples, "examples", filepath.Join(cluster.RepoRoot(), "examples"), "directory of manifests to apply")
	flag.BoolVar(&o.oneshot, "oneshot", os.Getenv("DEMO_ONESHOT") != "", "exit after the show (default $DEMO_ONESHOT)")
	flag.Parse()
	// meshgate's and the control plane's own log lines would drown the show:
	// errors only, on stderr.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// recorder keeps, per object, what the API server sent meshgate's mutating
// webhook (the "before" of the diff) and who asked.
type recorder struct {
	mu     sync.Mutex
	before map[string]observed
}

type observed struct {
	raw  []byte
	user string
}

// key names an object; a controller creates its pods with generateName, so
// those are known by it until they are stored.
func key(kind, ns, name string) string { return kind + " " + ns + "/" + name }

func (r *recorder) observe(ob webhook.Observation) {
	if ob.Direction != webhook.Mutating || ob.Request.Operation != admissionv1.Create || len(ob.Response.Patch) == 0 {
		return
	}
	name := ob.Request.Name
	if name == "" {
		var m struct {
			Metadata struct {
				GenerateName string `json:"generateName"`
			} `json:"metadata"`
		}
		if utiljson.Unmarshal(ob.Request.Object.Raw, &m) == nil {
			name = m.Metadata.GenerateName
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before[key(ob.Request.Kind.Kind, ob.Request.Namespace, name)] = observed{raw: ob.Request.Object.Raw, user: ob.Request.UserInfo.Username}
}

func (r *recorder) take(kind, ns, name string) observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key(kind, ns, name)
	b := r.before[k]
	delete(r.before, k)
	return b
}

type tally struct{ created, changed, rejected, warned int }

func run(ctx context.Context, out io.Writer, o options) error {
	objs, err := loadExamples(o.examples)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "meshgate demo: starting a local control plane (kube-apiserver, etcd, kube-controller-manager) and meshgate...")
	rec := &recorder{before: map[string]observed{}}
	start := time.Now()
	k, err := cluster.Start(cluster.Options{Meshgate: webhook.Options{Observer: rec.observe}, ControllerManager: true})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "\nstopping the control plane...")
		if err := k.Stop(); err != nil {
			fmt.Fprintln(out, "demo: stop:", err)
		}
	}()
	fmt.Fprintf(out, "ready in %s: API server %s, meshgate %s\n\n", time.Since(start).Round(100*time.Millisecond), k.Config.Host, k.WebhookURL)

	w := &cluster.Warnings{}
	cfg := rest.CopyConfig(k.Config)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	// No pause between objects: a lookup the World's cache cannot answer yet
	// (an object applied a moment before) is read from the API server.
	t := &tally{}
	fmt.Fprintf(out, "Applying %s, one object at a time:\n", o.examples)
	var deployments []*unstructured.Unstructured
	for _, obj := range objs {
		if apply(ctx, out, c, w, rec, obj, t) && obj.GetAPIVersion() == "apps/v1" && obj.GetKind() == "Deployment" {
			deployments = append(deployments, obj)
		}
	}
	fmt.Fprintf(out, "\n%d objects stored (%d changed by meshgate), %d rejected, %d warnings.\n", t.created, t.changed, t.rejected, t.warned)

	if len(deployments) > 0 {
		fmt.Fprintln(out, "\nThe pods kube-controller-manager's ReplicaSet controller created for each Deployment:")
		for _, d := range deployments {
			showReplicaSetPod(ctx, out, c, rec, d)
		}
		fmt.Fprintln(out, "\n  (The pods stay Pending: the local control plane runs no node to schedule them on.)")
	}

	if o.oneshot {
		return nil
	}
	fmt.Fprintf(out, `
The control plane keeps running with meshgate registered. Try your own manifests:

  export KUBECONFIG=%s
  %s apply -f your.yaml
  %s apply --dry-run=server -f your.yaml

Ctrl-C stops it.
`, k.Kubeconfig, k.Kubectl, k.Kubectl)
	<-ctx.Done()
	return nil
}

// apply creates obj and reports what the API server answered; it returns
// whether obj was stored.
func apply(ctx context.Context, out io.Writer, c client.Client, w *cluster.Warnings, rec *recorder, obj *unstructured.Unstructured, t *tally) (stored bool) {
	name := obj.GetKind() + " " + obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = obj.GetKind() + " " + ns + "/" + obj.GetName()
	}
	submitted := obj.DeepCopy()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := c.Create(cctx, obj)
	warns := w.Drain()
	switch {
	case err != nil && strings.Contains(err.Error(), "denied the request"):
		t.rejected++
		fmt.Fprintf(out, "\n  ✗ REJECTED %s\n%s\n", name, indent(err.Error(), "      "))
	case err != nil:
		fmt.Fprintf(out, "\n  ! could not create %s: %v\n", name, err)
	default:
		stored = true
		t.created++
		before := rec.take(submitted.GetKind(), obj.GetNamespace(), obj.GetName())
		if before.raw == nil {
			fmt.Fprintf(out, "  ✓ created  %s\n", name)
			break
		}
		t.changed++
		fmt.Fprintf(out, "\n  ✓ created  %s, changed by meshgate:\n", name)
		printDiff(out, before.raw, obj)
	}
	for _, warn := range warns {
		t.warned++
		fmt.Fprintf(out, "    ⚠ warning: %s\n", warn)
	}
	return stored
}

func printDiff(out io.Writer, before []byte, stored *unstructured.Unstructured) {
	diff, err := unifiedDiff(before, stored)
	if err != nil {
		fmt.Fprintf(out, "      (no diff: %v)\n", err)
		return
	}
	fmt.Fprintln(out, indent(diff, "      "))
}

// showReplicaSetPod waits (bounded) for a pod of Deployment d, created by its
// ReplicaSet, and shows what meshgate changed in it; or why the ReplicaSet
// could not create one.
func showReplicaSetPod(ctx context.Context, out io.Writer, c client.Client, rec *recorder, d *unstructured.Unstructured) {
	dname := d.GetNamespace() + "/" + d.GetName()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var (
		rs   *appsv1.ReplicaSet
		pods []corev1.Pod
		last string
	)
	err := wait.PollUntilContextCancel(wctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var sets appsv1.ReplicaSetList
		if err := c.List(ctx, &sets, client.InNamespace(d.GetNamespace())); err != nil {
			last = err.Error()
			return false, nil
		}
		rs = nil
		for i := range sets.Items {
			if metav1.IsControlledBy(&sets.Items[i], d) {
				rs = &sets.Items[i]
			}
		}
		if rs == nil {
			last = "the Deployment controller has not created a ReplicaSet yet"
			return false, nil
		}
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue {
				last = cond.Message
			}
		}
		var list corev1.PodList
		if err := c.List(ctx, &list, client.InNamespace(d.GetNamespace())); err != nil {
			last = err.Error()
			return false, nil
		}
		pods = pods[:0]
		for i := range list.Items {
			if metav1.IsControlledBy(&list.Items[i], rs) {
				pods = append(pods, list.Items[i])
			}
		}
		// The controller creates pods in growing batches: wait for all.
		want := int32(1)
		if rs.Spec.Replicas != nil {
			want = *rs.Spec.Replicas
		}
		return int32(len(pods)) >= want, nil
	})
	if err != nil && len(pods) == 0 {
		fmt.Fprintf(out, "\n  ! Deployment %s: no pod within 60s: %s\n", dname, last)
		return
	}
	pod := pods[0]
	fmt.Fprintf(out, "\n  ✓ ReplicaSet %s/%s created %d pod(s) for Deployment %s, e.g. %s (phase %s)",
		rs.Namespace, rs.Name, len(pods), dname, pod.Name, pod.Status.Phase)
	before := rec.take("Pod", pod.Namespace, pod.GenerateName)
	if before.raw == nil {
		fmt.Fprintln(out, ", unchanged by meshgate")
		return
	}
	fmt.Fprintf(out, "; requested by %s, changed by meshgate:\n", before.user)
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&pod)
	if err != nil {
		fmt.Fprintf(out, "      (no diff: %v)\n", err)
		return
	}
	stored := &unstructured.Unstructured{Object: u}
	stored.SetAPIVersion("v1")
	stored.SetKind("Pod")
	printDiff(out, before.raw, stored)
}

// unifiedDiff shows the object as the API server handed it to meshgate
// against the object as stored.
func unifiedDiff(before []byte, stored *unstructured.Unstructured) (string, error) {
	var m map[string]any
	if err := utiljson.Unmarshal(before, &m); err != nil {
		return "", err
	}
	a, err := storedYAML(m)
	if err != nil {
		return "", err
	}
	b, err := storedYAML(stored.DeepCopy().Object)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: "as submitted", ToFile: "as stored", Context: 3,
	})
}

// storedYAML renders an object as YAML without the fields the API server
// fills in when it stores it.
func storedYAML(m map[string]any) (string, error) {
	u := &unstructured.Unstructured{Object: m}
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	delete(u.Object, "status")
	if u.GetGenerateName() != "" {
		// Named by the API server after admission.
		unstructured.RemoveNestedField(u.Object, "metadata", "name")
	}
	if u.GetAPIVersion() == "v1" && u.GetKind() == "Service" {
		// Allocated by the API server when it stores the Service, after admission.
		for _, f := range []string{"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"} {
			unstructured.RemoveNestedField(u.Object, "spec", f)
		}
	}
	b, err := yaml.Marshal(u.Object)
	return string(b), err
}

// rank orders the examples: namespaces, then what the World holds (CRD-backed
// objects and Services), then everything that is checked against it.
func rank(u *unstructured.Unstructured) int {
	switch u.GroupVersionKind().GroupKind().String() {
	case "Namespace":
		return 0
	case "TLSContext.getambassador.io", "PeerAuthentication.security.istio.io", "Gateway.networking.istio.io", "Gateway.gateway.networking.k8s.io":
		return 1
	case "Service":
		return 2
	}
	return 3
}

func loadExamples(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("examples: %w", err)
	}
	var objs []*unstructured.Unstructured
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("examples: %w", err)
		}
		got, err := manifest.Decode(path, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("examples: %w", err)
		}
		objs = append(objs, got...)
	}
	if len(objs) == 0 {
		return nil, errors.New("examples: no manifests in " + dir)
	}
	sort.SliceStable(objs, func(i, j int) bool { return rank(objs[i]) < rank(objs[j]) })
	return objs, nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
