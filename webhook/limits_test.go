package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limitedServer is a hookServer on 127.0.0.1 serving handler behind the
// limiter, as NewServer wires them.
type limitedServer struct {
	addr    string
	lim     *limiter
	metrics *Metrics
}

func startLimited(t *testing.T, l Limits, handler http.Handler, edit ...func(*hookServerOptions)) *limitedServer {
	t.Helper()
	dir := t.TempDir()
	writeCert(t, dir)
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	o := hookServerOptions{
		Host: "127.0.0.1", Port: freePort(t), CertDir: dir, TLSOpts: TLSOptions(tls.VersionTLS13, false),
		Limits: l, Metrics: m, Log: logr.Discard(), RequestLog: logr.Discard(),
	}
	for _, e := range edit {
		e(&o)
	}
	srv := newHookServer(o)
	lim := newLimiter(l, m, logr.Discard())
	srv.Register("/review", lim.wrap(handler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool { return srv.StartedChecker()(nil) == nil }, 10*time.Second, 20*time.Millisecond)
	return &limitedServer{addr: srv.addr(), lim: lim, metrics: m}
}

// echoBody answers 200 with the length of the body it read.
var echoBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%d", len(b))
})

func dialTLS(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startRequest writes a POST's headers (contentLength < 0: chunked) and
// returns the connection to write the body on.
func startRequest(t *testing.T, c net.Conn, contentLength int) {
	t.Helper()
	h := "POST /review HTTP/1.1\r\nHost: meshgate\r\nContent-Type: application/json\r\n"
	if contentLength >= 0 {
		h += "Content-Length: " + strconv.Itoa(contentLength) + "\r\n"
	} else {
		h += "Transfer-Encoding: chunked\r\n"
	}
	_, err := io.WriteString(c, h+"\r\n")
	require.NoError(t, err)
}

func readResponse(t *testing.T, c net.Conn, within time.Duration) (*http.Response, string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(within)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "an answer within %s", within)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !(asNetError(err, &ne) && ne.Timeout())
}

func asNetError(err error, target *net.Error) bool {
	ne, ok := err.(net.Error) //nolint:errorlint // tls wraps no further
	if ok {
		*target = ne
	}
	return ok
}

func refusedCount(m *Metrics, reason string) float64 {
	return testutil.ToFloat64(m.Refused.WithLabelValues(reason))
}

func TestLimitsAnswerOverLimitRequestsAtOnce(t *testing.T) {
	l := Limits{
		ReadHeaderTimeout: 300 * time.Millisecond, ReadBodyTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute,
		MaxRequestBytes: 1 << 20, MaxBodyBytesInFlight: 4 << 20, MaxReviewsInFlight: 10, MaxConnections: 100,
	}
	s := startLimited(t, l, echoBody)

	t.Run("a body declared over the limit is refused before it is read", func(t *testing.T) {
		c := dialTLS(t, s.addr)
		startRequest(t, c, 1<<20+1)
		resp, body := readResponse(t, c, time.Second)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Contains(t, body, "over meshgate's limit of 1048576 bytes")
		assert.True(t, resp.Close, "the connection is closed")
	})
	t.Run("a chunked body over the limit is refused", func(t *testing.T) {
		c := dialTLS(t, s.addr)
		startRequest(t, c, -1)
		go func() {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for range 20 {
				if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					return
				}
			}
		}()
		resp, _ := readResponse(t, c, 5*time.Second)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
	t.Run("a body that does not arrive in time is cut off", func(t *testing.T) {
		c := dialTLS(t, s.addr)
		startRequest(t, c, 1000)
		_, err := io.WriteString(c, "{")
		require.NoError(t, err)
		start := time.Now()
		resp, body := readResponse(t, c, 3*time.Second)
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, body)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("headers that do not arrive in time are cut off", func(t *testing.T) {
		c := dialTLS(t, s.addr)
		_, err := io.WriteString(c, "POST /review HTTP/1.1\r\nHost: meshgate\r\n")
		require.NoError(t, err)
		assert.True(t, closedWithin(c, 3*time.Second), "closed after the header timeout")
	})
	t.Run("a TLS handshake that never comes is cut off", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		require.NoError(t, err)
		defer c.Close()
		assert.True(t, closedWithin(c, 3*time.Second), "closed after the header timeout")
	})
	t.Run("a good request is answered", func(t *testing.T) {
		c := dialTLS(t, s.addr)
		startRequest(t, c, 5)
		_, err := io.WriteString(c, `{"a":`)
		require.NoError(t, err)
		resp, body := readResponse(t, c, 3*time.Second)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "5", body)
	})
	assert.Positive(t, refusedCount(s.metrics, refusedTooLarge))
	assert.Positive(t, refusedCount(s.metrics, refusedSlowBody))
	assert.Eventually(t, func() bool { return s.lim.bodyBytes.Load() == 0 }, time.Second, 10*time.Millisecond, "every body released")
}

func TestLimitsBoundTheBytesBodiesHold(t *testing.T) {
	l := Limits{ReadHeaderTimeout: 5 * time.Second, ReadBodyTimeout: 5 * time.Second, MaxRequestBytes: 1 << 20, MaxBodyBytesInFlight: 256 << 10}
	s := startLimited(t, l, echoBody)

	// A client sends most of a 200 KiB body and holds the rest back.
	held := dialTLS(t, s.addr)
	startRequest(t, held, 200<<10)
	_, err := held.Write(bytes.Repeat([]byte("x"), 200<<10-1))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.lim.bodyBytes.Load() >= 200<<10 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, float64(s.lim.bodyBytes.Load()), testutil.ToFloat64(s.metrics.BodyBytes))

	// Meanwhile a 100 KiB body does not fit: 429 at once, retry in 1 s.
	c := dialTLS(t, s.addr)
	startRequest(t, c, 100<<10)
	go func() { _, _ = c.Write(bytes.Repeat([]byte("y"), 100<<10)) }()
	resp, body := readResponse(t, c, 2*time.Second)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, body, "bytes of request bodies already")
	// ...while a small one does, even past the seven eighths large bodies
	// may use (200 KiB + 40 KiB > 224 KiB).
	small := dialTLS(t, s.addr)
	startRequest(t, small, 40<<10)
	_, err = small.Write(bytes.Repeat([]byte("z"), 40<<10))
	require.NoError(t, err)
	resp, body = readResponse(t, small, 2*time.Second)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, strconv.Itoa(40<<10), body)

	// Once the held body is gone, the large one fits.
	require.NoError(t, held.Close())
	require.Eventually(t, func() bool { return s.lim.bodyBytes.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
	c = dialTLS(t, s.addr)
	startRequest(t, c, 100<<10)
	go func() { _, _ = c.Write(bytes.Repeat([]byte("y"), 100<<10)) }()
	resp, body = readResponse(t, c, 2*time.Second)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, strconv.Itoa(100<<10), body)
	assert.Equal(t, 1.0, refusedCount(s.metrics, refusedBodyBytes))
}

func TestLimitsBoundTheReviewsInFlight(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	blocking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Done()
		<-release
		w.WriteHeader(http.StatusOK)
	})
	s := startLimited(t, Limits{MaxReviewsInFlight: 2, ReadHeaderTimeout: 5 * time.Second}, blocking)
	post := func() (*http.Response, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second} //nolint:gosec // test server
		return c.Post("https://"+s.addr+"/review", "application/json", strings.NewReader("{}"))
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := post()
			if assert.NoError(t, err) {
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		})
	}
	entered.Wait()
	start := time.Now()
	resp, err := post()
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Less(t, time.Since(start), time.Second, "refused at once, not queued")
	close(release)
	wg.Wait()
	assert.Equal(t, 1.0, refusedCount(s.metrics, refusedReviews))
}

func TestLimitsBoundTheConnections(t *testing.T) {
	s := startLimited(t, Limits{MaxConnections: 3, ReadHeaderTimeout: 5 * time.Second}, echoBody)
	// The readiness check's own connections come and go; hold three. The
	// bounds are generous for a loaded machine (a TLS handshake can take
	// seconds there); a passing run takes milliseconds.
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	var held []*tls.Conn
	require.Eventually(t, func() bool {
		c, err := tls.DialWithDialer(dialer, "tcp", s.addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
		if err != nil {
			return false
		}
		held = append(held, c)
		return len(held) == 3
	}, 60*time.Second, 10*time.Millisecond)
	_, err := tls.DialWithDialer(dialer, "tcp", s.addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	assert.Error(t, err, "a fourth connection is closed at once")
	assert.Positive(t, refusedCount(s.metrics, refusedConnections))
	require.NoError(t, held[0].Close())
	assert.Eventually(t, func() bool {
		c, err := tls.DialWithDialer(dialer, "tcp", s.addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 60*time.Second, 20*time.Millisecond, "a connection is accepted again once one closed")
	for _, c := range held[1:] {
		_ = c.Close()
	}
}

func TestHookServerServesHTTP2WhenEnabled(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		s := startLimited(t, DefaultLimits(), echoBody, func(o *hookServerOptions) { o.TLSOpts = TLSOptions(tls.VersionTLS13, h2) })
		for _, clientH2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("server HTTP/2 %t, client HTTP/2 %t", h2, clientH2), func(t *testing.T) {
				tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: clientH2} //nolint:gosec // test server
				defer tr.CloseIdleConnections()
				resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Post("https://"+s.addr+"/review", "application/json", strings.NewReader("{}"))
				require.NoError(t, err)
				defer resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				want := 1
				if h2 && clientH2 {
					want = 2
				}
				assert.Equal(t, want, resp.ProtoMajor)
			})
		}
	}
}
