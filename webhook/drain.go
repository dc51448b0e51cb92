package webhook

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// Draining. The API server keeps its HTTP/1.1 connections to a webhook pod
// open and reuses them after the pod stopped being an endpoint (kube-proxy
// keeps established connections to it). A server that closes such an idle
// connection while the API server sends a review on it fails that review, so
// stopping (a rollout, a drained node) must not begin by closing connections.
//
// When its context ends, the server drains for Options.DrainDelay before it
// shuts down: it keeps accepting connections and answering reviews, /readyz
// fails (the pod leaves the Service's endpoints), and every answer carries
// "Connection: close", so each connection the API server still uses is closed
// by the answer to its next review, the way HTTP lets a server end a
// connection without a race. Connections left idle through the whole delay
// are closed by the graceful shutdown that follows.

// drain is the server's draining state.
type drain struct {
	on atomic.Bool
}

// wrap makes h close its connection after each answer once draining began.
func (d *drain) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.on.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// readyCheck fails while draining, so that the pod leaves the endpoints.
func (d *drain) readyCheck(*http.Request) error {
	if d.on.Load() {
		return errors.New("draining: shutting down")
	}
	return nil
}

// after returns a context that ends delay after parent ends; draining begins
// when parent ends. A delay of 0 ends it with parent.
func (d *drain) after(parent context.Context, delay time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-parent.Done():
		}
		d.on.Store(true)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}
