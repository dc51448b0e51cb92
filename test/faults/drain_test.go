package faults

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/webhook"
)

// endpointClient is a keep-alive client that, like the API server calling a
// webhook Service, dials whatever address endpoint holds when it opens a
// connection and keeps using its open connections afterwards.
func endpointClient(t *testing.T, caPEM []byte, endpoint *atomic.Value) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, endpoint.Load().(string))
		},
		MaxIdleConns: 4, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestStoppingUnderLoad stops a meshgate replica while keep-alive clients
// send it reviews and, a moment later (the time the endpoints take to change),
// switch to a second replica: with a drain delay no review fails; without
// one, the reviews that reach the stopped replica in that moment do.
func TestStoppingUnderLoad(t *testing.T) {
	needCluster(t)
	const lag = 300 * time.Millisecond // stop → endpoints changed
	tests := []struct {
		name       string
		drainDelay time.Duration
		wantFailed bool
	}{
		{name: "drained: every review answered", drainDelay: 2 * time.Second},
		{name: "no drain delay: reviews fail", drainDelay: 0, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			old := startOwnMeshgate(t, ownOptions{ca: ca, drainDelay: tt.drainDelay})
			next := startOwnMeshgate(t, ownOptions{ca: ca})
			var endpoint atomic.Value
			endpoint.Store(old.addr)
			clients := make([]*http.Client, 8)
			for i := range clients {
				clients[i] = endpointClient(t, ca.pem, &endpoint)
			}
			load := &stream{}
			stop := make(chan struct{})
			load.run(clients, "https://meshgate.invalid"+webhook.ValidatePath, 100000, stop)
			defer func() {
				select {
				case <-stop:
				default:
					close(stop)
					load.wg.Wait()
				}
			}()

			// The old replica serves for a while (the first answers take
			// TLS handshakes on a busy machine).
			require.Eventually(t, func() bool { return load.ok.Load() >= 200 }, 20*time.Second, 10*time.Millisecond,
				"the load reaches the old replica")
			before := load.ok.Load()
			stopAt := time.Now()
			old.cancel()
			time.Sleep(lag)
			notReady := isReady(old.health)
			endpoint.Store(next.addr)
			select {
			case err := <-old.done:
				old.stopped = true
				require.NoError(t, err)
			case <-time.After(tt.drainDelay + 30*time.Second):
				t.Fatal("the old replica did not stop")
			}
			stoppedAfter := time.Since(stopAt)
			time.Sleep(300 * time.Millisecond) // the next replica serves
			close(stop)
			load.wg.Wait()

			t.Logf("drain %s: stopped after %s; %d reviews sent, %d answered (%d before the stop), %d failed, %d answers closed their connection; failures: %v",
				tt.drainDelay, stoppedAfter.Round(time.Millisecond), load.sent.Load(), load.ok.Load(), before,
				load.failed(), load.closed.Load(), load.failures)
			if tt.wantFailed {
				assert.Greater(t, load.failed(), int64(0), "without a drain delay the reviews sent to the stopped replica fail")
				return
			}
			assert.Zero(t, load.failed(), "reviews failed while the replica drained: %v", load.failures)
			assert.Error(t, notReady, "the draining replica reports not ready")
			assert.GreaterOrEqual(t, stoppedAfter, tt.drainDelay, "the replica answered through the drain delay")
			assert.Greater(t, load.closed.Load(), int64(0), "draining answers close their connections")
		})
	}
}
