package intree

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/webhook"
)

const brownfieldNS = "brownfield"

// applyGroups creates the policies and bindings of groupPolicies(cfg,
// group) for each group, and waits until the API server denies a bad
// Service of each.
func applyGroups(ctx context.Context, t *testing.T, cfgs map[string]*policy.Config) {
	t.Helper()
	for group, cfg := range cfgs {
		set := groupPolicies(t, cfg, group)
		for _, rs := range set.Rules {
			if rs.Rule != policy.ServicePortName {
				continue
			}
			for _, o := range rs.Objects() {
				require.NoError(t, k.Client.Create(ctx, o.(client.Object)))
			}
		}
	}
	for group := range cfgs {
		probe := brownfieldService("probe-"+group, group, "web")
		require.Eventually(t, func() bool {
			c, w, err := k.WarningClient()
			require.NoError(t, err)
			err = c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
			return (err != nil && strings.Contains(err.Error(), "service-port-name")) || len(w.Get()) > 0
		}, 60*time.Second, 100*time.Millisecond, "the API server never applied group %s", group)
	}
}

func brownfieldService(name, group string, ports ...string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: brownfieldNS, Labels: map[string]string{groupLabel: group}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}},
	}
	for i, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p, Port: int32(8080 + i)})
	}
	return svc
}

// TestBrownfieldUpdatesInTree: the in-tree policies judge an UPDATE as the
// engine does (engine.Input.OldObject): a Service created before they were
// installed, with a port Istio cannot read, takes an unrelated change with a
// warning naming the finding, is denied a new bad port, and with
// updates.allowExistingFindings off is denied any change; in each case the
// verdict, the denial and the warning are the engine's.
func TestBrownfieldUpdatesInTree(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, client.IgnoreAlreadyExists(k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: brownfieldNS, Labels: map[string]string{"istio-injection": "enabled"},
	}})))
	cfgs := map[string]*policy.Config{}
	for group, doc := range map[string]string{"bf-on": "", "bf-off": "updates: {allowExistingFindings: false}", "bf-warn": "rules: {service-port-name: warn}"} {
		cfg, err := policy.ParseConfig([]byte(doc))
		require.NoError(t, err)
		cfgs[group] = cfg
	}
	// Created before the policies exist.
	for group := range cfgs {
		require.NoError(t, k.Client.Create(ctx, brownfieldService("legacy-"+group, group, "web")))
	}
	applyGroups(ctx, t, cfgs)
	// applyGroups saw each group's policy deny a CREATE; the twins match
	// UPDATEs only: wait until they warn too.
	for _, group := range []string{"bf-on", "bf-warn"} {
		require.Eventually(t, func() bool {
			cur := &corev1.Service{}
			require.NoError(t, k.Client.Get(ctx, client.ObjectKey{Namespace: brownfieldNS, Name: "legacy-" + group}, cur))
			cur.Labels["probe"] = "x"
			c, w, err := k.WarningClient()
			require.NoError(t, err)
			_ = c.Update(ctx, cur, client.DryRunAll)
			return slices.ContainsFunc(w.Get(), func(s string) bool { return strings.Contains(s, "-existing.") })
		}, 60*time.Second, 100*time.Millisecond, "the API server never applied group %s's -existing policy", group)
	}

	nsObj := &unstructured.Unstructured{}
	nsObj.SetAPIVersion("v1")
	nsObj.SetKind("Namespace")
	nsObj.SetName(brownfieldNS)
	nsObj.SetLabels(map[string]string{"istio-injection": "enabled"})
	w := world.NewMemory("default")
	_, err := w.Add(nsObj)
	require.NoError(t, err)
	w.MarkKnown(policy.KindNamespace)

	label := func(svc *corev1.Service) { svc.Labels["team"] = "reviews" }
	addBad := func(svc *corev1.Service) {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9090})
	}
	fix := func(svc *corev1.Service) { svc.Spec.Ports[0].Name = "http-web" }
	tests := []struct {
		group, name string
		change      func(*corev1.Service)
		wantAllowed bool
		wantWarned  bool
	}{
		{"bf-on", "an unrelated label", label, true, true},
		{"bf-on", "a new bad port", addBad, false, true},
		{"bf-on", "the fix", fix, true, false},
		{"bf-off", "an unrelated label", label, false, false},
		{"bf-off", "a new bad port", addBad, false, false},
		{"bf-off", "the fix", fix, true, false},
		{"bf-warn", "an unrelated label", label, true, true},
		{"bf-warn", "a new bad port", addBad, true, true},
	}
	counts := map[string][2]int{}
	for _, tc := range tests {
		t.Run(tc.group+"/"+tc.name, func(t *testing.T) {
			old := &corev1.Service{}
			require.NoError(t, k.Client.Get(ctx, client.ObjectKey{Namespace: brownfieldNS, Name: "legacy-" + tc.group}, old))
			cur := old.DeepCopy()
			tc.change(cur)

			// The engine's verdict on the same update, as the webhook gives it.
			res, err := engine.New(cfgs[tc.group]).Review(ctx, engine.Input{
				Object: toUnstructured(t, cur), OldObject: toUnstructured(t, old), Operation: policy.Update,
			}, w)
			require.NoError(t, err)
			var deny, warn []policy.Finding
			for _, f := range res.Findings {
				switch f.Mode {
				case policy.Enforce:
					deny = append(deny, f)
				case policy.Warn:
					warn = append(warn, f)
				}
			}

			c, warnings, err := k.WarningClient()
			require.NoError(t, err)
			err = c.Update(ctx, cur, client.DryRunAll)
			var got []string
			for _, w := range warnings.Get() {
				got = append(got, warningPrefix.ReplaceAllString(w, ""))
			}
			n := counts[tc.group]
			if tc.wantAllowed {
				require.NoError(t, err)
				assert.Empty(t, deny, "the engine allows it too")
				n[0]++
			} else {
				require.Error(t, err)
				require.NotEmpty(t, deny, "the engine denies it too")
				assert.Equal(t, strings.ReplaceAll(webhook.DenialMessage(deny), "\n", " "), deniedPrefix.ReplaceAllString(err.Error(), ""))
				n[1]++
			}
			counts[tc.group] = n
			assert.Equal(t, tc.wantWarned, len(warn) > 0, "the engine warns: %v", warn)
			if !tc.wantAllowed {
				return
			}
			// One warning per policy: the new findings (warn mode) and the
			// ones the old object had (the twin), each as the engine words it.
			want := webhook.Warnings(warn)
			slices.Sort(want)
			slices.Sort(got)
			assert.Equal(t, want, got, "the same warnings")
		})
	}
	t.Logf("updates of a Service created with a bad port, allowed/denied by the in-tree policy: %v", counts)
}

func toUnstructured(t *testing.T, svc *corev1.Service) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(svc)
	require.NoError(t, err)
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("v1")
	u.SetKind("Service")
	return u
}

// TestServicePortNamePolicyOnHostileServices: a Service with 20,000 ports
// costs the API server little (dry-run, timed against the same Service no
// policy matches): in enforce mode it is denied, in warn mode it passes with
// a warning that it was not checked.
func TestServicePortNamePolicyOnHostileServices(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, client.IgnoreAlreadyExists(k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: brownfieldNS, Labels: map[string]string{"istio-injection": "enabled"},
	}})))
	cfgs := map[string]*policy.Config{}
	for group, doc := range map[string]string{"hostile-enforce": "", "hostile-warn": "rules: {service-port-name: warn}"} {
		cfg, err := policy.ParseConfig([]byte(doc))
		require.NoError(t, err)
		cfgs[group] = cfg
	}
	applyGroups(ctx, t, cfgs)
	const n = 20000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("web-%05d", i)
	}
	send := func(group string) (time.Duration, []string, error) {
		c, w, err := k.WarningClient()
		require.NoError(t, err)
		svc := brownfieldService("hostile", group, names...)
		start := time.Now()
		err = c.Create(ctx, svc, client.DryRunAll)
		return time.Since(start), w.Get(), err
	}
	base, _, err := send("no-policy")
	require.NoError(t, err)
	enforce, _, err := send("hostile-enforce")
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("this Service has %d ports, more than the", n))
	warnT, warnings, err := send("hostile-warn")
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], fmt.Sprintf("this Service has %d ports, more than the", n))
	t.Logf("dry-run create of a %d-port Service: no policy %s, enforce %s, warn %s", n, base, enforce, warnT)
	// The policy's share is its CEL on a bounded list: well under the
	// evaluation time the limits allow (~1s per policy).
	assert.Less(t, enforce, base+time.Second)
	assert.Less(t, warnT, base+time.Second)
}
