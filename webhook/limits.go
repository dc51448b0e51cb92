package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Limits bound what the clients of the webhook port can make the server hold.
// The port needs no client certificate unless Options.ClientCAFile is set, so
// any pod that reaches it is a client: the limits keep a slow or greedy one
// from exhausting the replica's memory. A request over a limit is answered at
// once with an error (and the connection closed when its body was not read),
// never queued. A zero field means no limit.
type Limits struct {
	// ReadHeaderTimeout bounds the TLS handshake and the request's headers.
	ReadHeaderTimeout time.Duration
	// ReadBodyTimeout bounds reading a request's body, counted from when its
	// headers were read; a body still incomplete then is answered 408.
	ReadBodyTimeout time.Duration
	// IdleTimeout closes a kept-alive connection idle this long.
	IdleTimeout time.Duration
	// MaxRequestBytes is the largest request body accepted (413 above it, at
	// once when Content-Length says so). At most controller-runtime's 7 MiB.
	MaxRequestBytes int64
	// MaxBodyBytesInFlight bounds the bytes all request bodies hold at once,
	// counted as they arrive and until the review is answered; a body that
	// would pass it is answered 429. Bodies past smallBody bytes may use
	// only seven eighths of it, so that large bodies cannot crowd out the
	// common small reviews.
	MaxBodyBytesInFlight int64
	// MaxReviewsInFlight bounds the reviews being answered at once (counted
	// once a body is complete); a review over it is answered 429.
	MaxReviewsInFlight int
	// MaxConnections bounds the open connections of the webhook port; a new
	// connection over it is closed at once.
	MaxConnections int
}

// MaxReviewBytes is the webhook's default body limit: two objects of 3 MiB
// (the API server refuses larger request bodies, and an old object stored in
// etcd, 1.5 MiB by default, is at most about twice that as JSON) and the
// review around them.
const MaxReviewBytes = 6<<20 + 64<<10

// crMaxRequestBytes is controller-runtime's own body limit (admission.Webhook).
const crMaxRequestBytes = 7 << 20

// DefaultLimits are the limits `meshgate serve` applies unless told otherwise.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout:    5 * time.Second,
		ReadBodyTimeout:      10 * time.Second,
		IdleTimeout:          90 * time.Second, // the API server's client keeps idle connections as long
		MaxRequestBytes:      MaxReviewBytes,
		MaxBodyBytesInFlight: 32 << 20,
		MaxReviewsInFlight:   100,
		MaxConnections:       1000,
	}
}

// smallBody is the size up to which a body may use the whole of
// MaxBodyBytesInFlight (most reviews are a few KiB).
const smallBody = 64 << 10

// maxHeaderBytes bounds a request's headers (the API server sends a few
// hundred bytes); controller-runtime's server allows 1 MiB.
const maxHeaderBytes = 32 << 10

// Reasons a request is refused, as meshgate_requests_refused_total labels them.
const (
	refusedTooLarge    = "too_large"
	refusedBodyBytes   = "body_bytes_in_flight"
	refusedReviews     = "reviews_in_flight"
	refusedSlowBody    = "slow_body"
	refusedUnreadable  = "unreadable_body"
	refusedConnections = "connections"
)

// limiter enforces the per-request limits in front of the handlers.
type limiter struct {
	l       Limits
	metrics *Metrics
	log     logr.Logger

	bodyBytes atomic.Int64
	reviews   atomic.Int64
}

func newLimiter(l Limits, m *Metrics, log logr.Logger) *limiter {
	if l.MaxRequestBytes <= 0 || l.MaxRequestBytes > crMaxRequestBytes {
		l.MaxRequestBytes = crMaxRequestBytes
	}
	return &limiter{l: l, metrics: m, log: log}
}

var (
	errTooLarge  = errors.New("too large")
	errBodyBytes = errors.New("over the body bytes in flight")
)

// wrap reads the body of each request within the limits before next sees it.
func (lim *limiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > lim.l.MaxRequestBytes {
			lim.refuse(w, http.StatusRequestEntityTooLarge, refusedTooLarge, true,
				fmt.Sprintf("request body too large: %d bytes, over meshgate's limit of %d bytes", r.ContentLength, lim.l.MaxRequestBytes))
			return
		}
		rc := http.NewResponseController(w)
		if lim.l.ReadBodyTimeout > 0 {
			_ = rc.SetReadDeadline(time.Now().Add(lim.l.ReadBodyTimeout))
		}
		body, held, err := lim.readBody(r)
		defer lim.release(held)
		if err == nil {
			// The server's background read must not time out while the
			// review runs.
			_ = rc.SetReadDeadline(time.Time{})
		}
		var ne net.Error
		switch {
		case errors.Is(err, errTooLarge):
			lim.refuse(w, http.StatusRequestEntityTooLarge, refusedTooLarge, true,
				fmt.Sprintf("request body too large: over meshgate's limit of %d bytes", lim.l.MaxRequestBytes))
			return
		case errors.Is(err, errBodyBytes):
			lim.refuse(w, http.StatusTooManyRequests, refusedBodyBytes, true,
				fmt.Sprintf("meshgate holds %d bytes of request bodies already (limit %d): retry", lim.bodyBytes.Load(), lim.l.MaxBodyBytesInFlight))
			return
		case errors.As(err, &ne) && ne.Timeout():
			lim.refuse(w, http.StatusRequestTimeout, refusedSlowBody, true,
				fmt.Sprintf("request body not received within %s", lim.l.ReadBodyTimeout))
			return
		case err != nil:
			lim.refuse(w, http.StatusBadRequest, refusedUnreadable, true, "cannot read the request body: "+err.Error())
			return
		}
		if n := lim.reviews.Add(1); lim.l.MaxReviewsInFlight > 0 && n > int64(lim.l.MaxReviewsInFlight) {
			lim.reviews.Add(-1)
			lim.refuse(w, http.StatusTooManyRequests, refusedReviews, false,
				fmt.Sprintf("meshgate is answering %d reviews already: retry", lim.l.MaxReviewsInFlight))
			return
		}
		defer lim.reviews.Add(-1)
		if len(body) == 0 {
			r.Body = http.NoBody
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request over a limit with code and reason, closing the
// connection when the body was left unread.
func (lim *limiter) refuse(w http.ResponseWriter, code int, reason string, closeConn bool, msg string) {
	lim.metrics.refused(reason)
	lim.log.Info("request refused", "reason", reason, "status", code, "error", msg)
	if closeConn {
		w.Header().Set("Connection", "close")
	}
	if code == http.StatusTooManyRequests {
		// client-go (so the API server) retries such an answer after this
		// many seconds, within the webhook's timeout.
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, "meshgate: "+msg, code)
}

// readBody reads r's body into a buffer that grows as bytes arrive; every
// growth is charged to the body bytes in flight first. It returns the body and
// the bytes charged, to release once the answer is written.
func (lim *limiter) readBody(r *http.Request) (body []byte, held int64, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, 0, nil
	}
	limit := lim.l.MaxRequestBytes + 1 // one more byte tells a body over the limit
	size := int64(16 << 10)
	if r.ContentLength >= 0 {
		size = min(size, r.ContentLength+1)
	}
	for {
		if !lim.charge(size-held, size > smallBody) {
			return nil, held, errBodyBytes
		}
		held = size
		grown := make([]byte, len(body), size)
		copy(grown, body)
		body = grown
		for len(body) < cap(body) {
			n, rerr := r.Body.Read(body[len(body):cap(body)])
			body = body[:len(body)+n]
			if errors.Is(rerr, io.EOF) {
				if int64(len(body)) >= limit {
					return nil, held, errTooLarge
				}
				return body, held, nil
			}
			if rerr != nil {
				return nil, held, rerr
			}
		}
		if int64(len(body)) >= limit {
			return nil, held, errTooLarge
		}
		size = min(2*size, limit)
		if r.ContentLength >= 0 {
			size = min(size, r.ContentLength+1)
		}
		if size <= int64(len(body)) {
			size = int64(len(body)) + 1
		}
	}
}

// charge takes n bytes of the body bytes in flight; false when they would
// pass the limit (for a large body, seven eighths of it).
func (lim *limiter) charge(n int64, large bool) bool {
	limit := lim.l.MaxBodyBytesInFlight
	if large {
		limit -= limit / 8
	}
	for {
		cur := lim.bodyBytes.Load()
		if limit > 0 && cur+n > limit {
			return false
		}
		if lim.bodyBytes.CompareAndSwap(cur, cur+n) {
			lim.metrics.addBodyBytes(n)
			return true
		}
	}
}

func (lim *limiter) release(n int64) {
	if n > 0 {
		lim.bodyBytes.Add(-n)
		lim.metrics.addBodyBytes(-n)
	}
}

// capListener closes, as soon as it is accepted, each connection over max
// open ones.
type capListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func()
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			_ = c.Close()
			l.refused()
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

type countedConn struct {
	net.Conn
	once sync.Once
	l    *capListener
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
