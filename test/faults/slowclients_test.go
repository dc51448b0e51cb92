package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/test/e2e/cluster"
	"github.com/meshgate/meshgate/webhook"
)

// The slow-client attack: what any pod that reaches the webhook port could
// send. Each kind is held open (or trickled) for attackHold unless the server
// answers or closes it first.
var attackKinds = []struct {
	name  string
	count int
	// contentLength < 0: no request at all, only a TCP connection (no TLS
	// handshake); 0: headers never finished.
	contentLength int
	// send is how many body bytes are sent before holding.
	send int
	// whole, when set, is a whole review sent at once (contentLength and
	// send are its length).
	whole bool
}{
	{name: "no TLS handshake", count: 50, contentLength: -1},
	{name: "headers never finished", count: 150, contentLength: 0},
	{name: "64 KiB body, 1 KiB sent", count: 100, contentLength: 64 << 10, send: 1 << 10},
	{name: "6 MiB body, last byte held", count: 30, contentLength: 6 << 20, send: 6<<20 - 1},
	{name: "7 MiB body, last byte held", count: 30, contentLength: 7 << 20, send: 7<<20 - 1},
	{name: "6 MiB review, sent whole", count: 20, whole: true},
}

// bigReview is a review of a Service whose annotation makes it about 6 MiB,
// under meshgate's body limit.
var bigReview = sync.OnceValue(func() []byte {
	obj := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"big","namespace":"apps","annotations":{"a":"` +
		strings.Repeat("x", 6<<20-4<<10) + `"}},"spec":{"selector":{"app":"big"},"ports":[{"name":"http","port":9080}]}}`
	return review(serviceKind, "services", meshNamespace, []byte(obj))
})

const attackHold = 15 * time.Second

// TestSlowClientsCannotExhaustMemory runs the real `meshgate serve` binary
// twice against the local API server, under the pod's memory limit
// (GOMEMLIMIT as the chart's 256Mi gives it): once with controller-runtime's
// server settings (flags), once with meshgate's defaults. Each time 380
// connections from 127.0.0.1 are held open slowly or with large bodies for
// 15 s while two clients keep sending good reviews. With the defaults no good
// review fails, the resident memory stays bounded, and the process keeps
// running and ready.
func TestSlowClientsCannotExhaustMemory(t *testing.T) {
	needCluster(t)
	bin := buildMeshgate(t)
	runs := []struct {
		name    string
		args    []string
		bounded bool
	}{
		{name: "controller-runtime's settings", args: []string{
			"--read-header-timeout=32s", "--read-body-timeout=0", "--max-request-bytes=7340032",
			"--max-body-bytes-in-flight=0", "--max-reviews-in-flight=0", "--max-connections=0",
		}},
		{name: "meshgate's defaults", bounded: true},
	}
	peaks := map[bool]int64{}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			r := attack(t, bin, run.args)
			peaks[run.bounded] = r.peakRSS
			t.Logf("RSS %d MiB before, peak %d MiB, %d MiB after the attack; good reviews: %d sent, %d failed, p50 %s p99 %s max %s",
				r.rssBefore>>20, r.peakRSS>>20, r.rssAfter>>20, r.sent, r.failed, r.p50, r.p99, r.max)
			for _, k := range attackKinds {
				t.Logf("  %-28s x%d: %s", k.name, k.count, r.outcomes[k.name])
			}
			if r.failed > 0 {
				t.Logf("good review failures: %v", r.failures)
			}
			if !run.bounded {
				return
			}
			assert.Zero(t, r.failed, "no good review failed")
			assert.Positive(t, r.sent, "good reviews were sent")
			assert.Less(t, r.p99, time.Second, "p99 of the good reviews")
			assert.Less(t, r.peakRSS, int64(240<<20), "peak RSS under the 256Mi limit (the machine's load moves it: 163-206 MiB measured)")
			assert.True(t, r.alive, "meshgate kept running")
			assert.NoError(t, r.ready, "meshgate stayed ready")
		})
	}
	if peaks[false] > 0 && peaks[true] > 0 {
		assert.Less(t, peaks[true], peaks[false], "the limits hold less memory than controller-runtime's settings")
	}
}

// buildMeshgate builds the meshgate binary into a temporary directory.
func buildMeshgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/meshgate")
	cmd.Dir = cluster.RepoRoot()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

type attackResult struct {
	rssBefore, peakRSS, rssAfter int64
	sent, failed                 int64
	failures                     []string
	p50, p99, max                time.Duration
	outcomes                     map[string]string
	alive                        bool
	ready                        error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// attack starts `meshgate serve` with args, measures its memory, runs the
// attack and the good reviews, and stops it.
func attack(t *testing.T, bin string, args []string) attackResult {
	ca := newTestCA(t)
	certDir := t.TempDir()
	ca.issue(t, certDir)
	addr, health := freeAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"serve", "--kubeconfig", k.Kubeconfig, "--host", "127.0.0.1", "--port", port,
		"--cert-dir", certDir, "--health-probe-bind-address", health, "--metrics-bind-address", "0",
		"--namespace", ownNamespace, "--service-account", ownServiceAccount}, args...)...)
	// The memory limit the chart's 256Mi gives the Go runtime.
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=241591910")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			t.Logf("meshgate stopped: %v", err)
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Logf("meshgate killed: %v", <-exited)
		}
	}
	t.Cleanup(stop)
	require.Eventually(t, func() bool { return isReady("http://"+health) == nil }, 60*time.Second, 100*time.Millisecond, "meshgate ready; logs:\n%s", &logs)

	var r attackResult
	r.rssBefore = procStatus(t, cmd.Process.Pid, "VmRSS")
	url := "https://" + addr + webhook.ValidatePath

	// The good reviews: two kept-alive clients, latencies recorded.
	good := goodReviews(t, ca.pem, url)
	time.Sleep(time.Second)

	outcomes := map[string]*outcomeCounts{}
	var attackers sync.WaitGroup
	done := make(chan struct{})
	for _, kind := range attackKinds {
		oc := &outcomeCounts{}
		outcomes[kind.name] = oc
		for range kind.count {
			attackers.Go(func() { oc.add(slowClient(addr, kind.contentLength, kind.send, kind.whole, done)) })
		}
	}
	time.Sleep(attackHold)
	close(done)
	attackers.Wait()
	r.peakRSS = procStatus(t, cmd.Process.Pid, "VmHWM")
	time.Sleep(3 * time.Second)
	r.sent, r.failed, r.failures, r.p50, r.p99, r.max = good.stop()
	r.rssAfter = procStatus(t, cmd.Process.Pid, "VmRSS")
	r.ready = isReady("http://" + health)
	select {
	case err := <-exited:
		exited <- err
		t.Logf("meshgate exited: %v; logs:\n%s", err, lastLines(logs.String(), 20))
	default:
		r.alive = true
	}
	r.outcomes = map[string]string{}
	for name, oc := range outcomes {
		r.outcomes[name] = oc.String()
	}
	stop()
	return r
}

// slowClient opens a connection and sends what its kind says, then holds it
// until done is closed or the server answers or closes; it returns what the
// server did ("HTTP 413", "closed", "held").
func slowClient(addr string, contentLength, send int, whole bool, done <-chan struct{}) string {
	if whole {
		contentLength, send = len(bigReview()), len(bigReview())
	}
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "refused"
	}
	defer raw.Close()
	conn := raw
	if contentLength >= 0 {
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the attacker does not care
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return "closed in the handshake"
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
		h := "POST " + webhook.ValidatePath + " HTTP/1.1\r\nHost: meshgate\r\nContent-Type: application/json\r\n"
		if contentLength > 0 {
			h += "Content-Length: " + strconv.Itoa(contentLength) + "\r\n\r\n"
		}
		if _, err := io.WriteString(conn, h); err != nil {
			return "closed"
		}
	}
	answer := make(chan string, 1)
	go func() {
		if contentLength <= 0 {
			_, _ = io.Copy(io.Discard, conn)
			answer <- "closed"
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answer <- "closed"
			return
		}
		resp.Body.Close()
		answer <- "HTTP " + strconv.Itoa(resp.StatusCode)
	}()
	switch {
	case whole:
		_, _ = conn.Write(bigReview())
	case send > 0:
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for left := send; left > 0; {
			n := min(left, len(chunk))
			if _, err := conn.Write(chunk[:n]); err != nil {
				break
			}
			left -= n
		}
	}
	select {
	case a := <-answer:
		return a
	case <-done:
		return "held"
	}
}

type outcomeCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomeCounts) add(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[s]++
}

func (o *outcomeCounts) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	keys := make([]string, 0, len(o.n))
	for k := range o.n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, o.n[k]))
	}
	return strings.Join(parts, ", ")
}

// goodStream sends good reviews and records their latencies.
type goodStream struct {
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	sent      atomic.Int64
	mu        sync.Mutex
	latencies []time.Duration
	failures  []string
}

func goodReviews(t *testing.T, caPEM []byte, url string) *goodStream {
	ctx, cancel := context.WithCancel(context.Background())
	g := &goodStream{cancel: cancel}
	body := goodServiceReview()
	for range 2 {
		c := tlsClient(t, caPEM, true)
		g.wg.Go(func() {
			for ctx.Err() == nil && g.sent.Load() < 100000 {
				g.sent.Add(1)
				start := time.Now()
				a, err := post(c, url, "application/json", bytes.NewReader(body))
				d := time.Since(start)
				g.mu.Lock()
				switch {
				case err != nil:
					g.failures = append(g.failures, err.Error())
				case !a.allowed():
					g.failures = append(g.failures, fmt.Sprintf("HTTP %d: %.200s", a.status, a.body))
				default:
					g.latencies = append(g.latencies, d)
				}
				g.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return g
}

func (g *goodStream) stop() (sent, failed int64, failures []string, p50, p99, maxLatency time.Duration) {
	g.cancel()
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	slices.Sort(g.latencies)
	if n := len(g.latencies); n > 0 {
		p50, p99, maxLatency = g.latencies[n/2], g.latencies[n*99/100], g.latencies[n-1]
	}
	f := g.failures
	if len(f) > 10 {
		f = f[:10]
	}
	return g.sent.Load(), int64(len(g.failures)), f, p50, p99, maxLatency
}

// procStatus reads a size field (kB) of /proc/pid/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
