package faults

import (
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/webhook"
)

// certReloadBound is how long controller-runtime's certwatcher may take to
// serve new files: it watches them with fsnotify and re-reads them every 10s
// in case an event was missed.
const certReloadBound = 10 * time.Second

// TestCertificateRotationUnderLoad replaces meshgate's serving certificate
// ten times while four clients (two on kept-alive connections, two opening a
// connection and a TLS handshake per request) send reviews: no request
// fails, and each new certificate is served to new handshakes within the
// reload bound.
func TestCertificateRotationUnderLoad(t *testing.T) {
	needCluster(t)
	m := startOwnMeshgate(t)

	load := &stream{}
	stop := make(chan struct{})
	clients := []*http.Client{
		tlsClient(t, m.ca.pem, true), tlsClient(t, m.ca.pem, true),
		tlsClient(t, m.ca.pem, false), tlsClient(t, m.ca.pem, false),
	}
	start := time.Now()
	load.run(clients, m.url+webhook.ValidatePath, 50000, stop)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			load.wg.Wait()
		}
	}
	defer stopLoad()

	const rotations = 10
	var took []time.Duration
	for i := 0; i < rotations; i++ {
		time.Sleep(150 * time.Millisecond) // load on the current certificate
		serial := m.ca.issue(t, m.certDir)
		written := time.Now()
		for {
			got, err := servedSerial(m.addr, m.ca.pem)
			require.NoError(t, err, "rotation %d", i+1)
			if got.Cmp(serial) == 0 {
				took = append(took, time.Since(written))
				break
			}
			require.Less(t, time.Since(written), certReloadBound+5*time.Second,
				"rotation %d: serial %s still served, want %s", i+1, got, serial)
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(150 * time.Millisecond)
	stopLoad()
	elapsed := time.Since(start)

	sorted := append([]time.Duration(nil), took...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("%d rotations in %s: %d requests sent, %d answered, %d failed (%.0f req/s); new certificate served after median %s, max %s (all: %v)",
		rotations, elapsed.Round(time.Millisecond), load.sent.Load(), load.ok.Load(), load.failed(),
		float64(load.sent.Load())/elapsed.Seconds(), sorted[len(sorted)/2].Round(time.Millisecond),
		sorted[len(sorted)-1].Round(time.Millisecond), took)
	assert.Zero(t, load.failed(), "requests failed during rotation: %v", load.failures)
	assert.Greater(t, load.ok.Load(), int64(rotations), "the load ran across the rotations")
	for i, d := range took {
		assert.LessOrEqual(t, d, certReloadBound, "rotation %d served after %s", i+1, d)
	}
	assert.NoError(t, isReady(m.health))
}
