package cluster

import (
	"fmt"
	"sync"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WarningClient returns an admin client of the cluster whose API server
// warnings are collected in the returned Warnings.
func (c *Cluster) WarningClient() (client.Client, *Warnings, error) {
	w := &Warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = w
	cl, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return nil, nil, fmt.Errorf("client with warnings: %w", err)
	}
	return cl, w, nil
}

// Warnings collects the warnings the API server sends back (admission warnings
// among them). Set it as a rest.Config's WarningHandler; it is safe for
// concurrent use.
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *Warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// Get returns the warnings collected so far.
func (w *Warnings) Get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// Drain returns the warnings collected so far and forgets them.
func (w *Warnings) Drain() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}
