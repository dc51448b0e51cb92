package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

// TestBrownfieldUpdates installs meshgate in a cluster that already holds a
// Service it would deny: created before meshgate was registered. An update
// that changes something else passes with a warning naming the finding; an
// update that adds a bad port is denied; with updates.allowExistingFindings
// off, every update of it is denied. Each configuration gets its own control
// plane (meshgate's configuration is read at start).
func TestBrownfieldUpdates(t *testing.T) {
	type step struct {
		name        string
		change      func(svc *corev1.Service)
		wantAllowed bool
		wantWarning string // a substring of the one warning; "" means none
		wantDenial  string
	}
	label := func(svc *corev1.Service) { svc.Labels = map[string]string{"team": "reviews"} }
	addBad := func(svc *corev1.Service) {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9090})
	}
	fix := func(svc *corev1.Service) { svc.Spec.Ports[0].Name = "http-web" }
	const old = "[service-port-name] Service apps/legacy: spec.ports[0].name: port name \"web\""
	tests := []struct {
		name   string
		config string
		steps  []step
	}{
		{name: "existing findings allowed (default)", steps: []step{
			{name: "an unrelated label", change: label, wantAllowed: true, wantWarning: old},
			{name: "a new bad port", change: addBad, wantDenial: "spec.ports[1].name"},
			{name: "the fix", change: fix, wantAllowed: true},
		}},
		{name: "existing findings deny", config: "updates: {allowExistingFindings: false}", steps: []step{
			{name: "an unrelated label", change: label, wantDenial: "spec.ports[0].name"},
			{name: "a new bad port", change: addBad, wantDenial: "spec.ports[1].name"},
			{name: "the fix", change: fix, wantAllowed: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, err := policy.ParseConfig([]byte(tt.config))
			require.NoError(t, err)
			c, err := cluster.Start(cluster.Options{
				CRDDirs:      []string{cluster.CRDDir("istio"), cluster.EmissaryCRDDir()},
				Meshgate:     webhook.Options{Config: cfg, Namespace: ownNamespace, ServiceAccount: ownServiceAccount},
				Unregistered: true,
			})
			require.NoError(t, err)
			defer func() { assert.NoError(t, c.Stop()) }()
			require.NoError(t, c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: map[string]string{"istio-injection": "enabled"}}}))
			legacy := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "apps"},
				Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "legacy"}, Ports: []corev1.ServicePort{{Name: "web", Port: 8080}}},
			}
			require.NoError(t, c.Client.Create(ctx, legacy), "before meshgate is installed")

			// Install: register the webhooks as the chart does, and wait
			// until the API server calls them.
			mutating, validating := webhook.Configurations(webhook.RegistrationOptions{
				ClientConfig:   webhook.URLClientConfig(c.WebhookURL, c.Env.WebhookInstallOptions.LocalServingCAData),
				TimeoutSeconds: 10,
				Config:         cfg,
			})
			require.NoError(t, c.Client.Create(ctx, mutating))
			require.NoError(t, c.Client.Create(ctx, validating))
			probe := legacy.DeepCopy()
			probe.Name, probe.ResourceVersion = "probe", ""
			require.Eventually(t, func() bool {
				err := c.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
				return err != nil && strings.Contains(err.Error(), "admission webhook")
			}, 30*time.Second, 200*time.Millisecond, "meshgate must deny a new Service with the same port")

			wc, warnings, err := c.WarningClient()
			require.NoError(t, err)
			for _, s := range tt.steps {
				t.Run(s.name, func(t *testing.T) {
					cur := &corev1.Service{}
					require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(legacy), cur))
					s.change(cur)
					warnings.Drain()
					err := wc.Update(ctx, cur)
					if !s.wantAllowed {
						require.Error(t, err)
						assert.Contains(t, err.Error(), s.wantDenial)
						assert.NotContains(t, err.Error(), policy.ExistingNote, "the denial names only what the update adds")
						return
					}
					require.NoError(t, err)
					got := warnings.Drain()
					if s.wantWarning == "" {
						assert.Empty(t, got)
						return
					}
					require.Len(t, got, 1, "%q", got)
					assert.Contains(t, got[0], s.wantWarning)
					assert.Contains(t, got[0], policy.ExistingNote)
				})
			}
		})
	}
}
