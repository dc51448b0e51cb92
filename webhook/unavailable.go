package webhook

import (
	"context"
	"net/http"
	"sync"
)

// A review that fails because the World cannot answer must not become a
// verdict: the API server should see a failed call, so that the webhook
// configuration's failurePolicy decides (Fail rejects the request with the
// reason, Ignore lets it through). controller-runtime answers every review with
// HTTP 200, so failClosed turns such a review into an HTTP 503 instead.

type unavailableKey struct{}

// unavailable carries the reason of a review that could not be decided.
type unavailable struct {
	mu     sync.Mutex
	reason string
}

// markUnavailable records on ctx (when it comes through failClosed) that the
// review could not be decided, and why. It reports whether ctx carried the
// mark, that is whether the HTTP answer will be a failure.
func markUnavailable(ctx context.Context, reason string) bool {
	u, ok := ctx.Value(unavailableKey{}).(*unavailable)
	if !ok {
		return false
	}
	u.mu.Lock()
	u.reason = reason
	u.mu.Unlock()
	return true
}

func (u *unavailable) get() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reason
}

// failClosed serves next, and answers HTTP 503 with the reason instead of
// next's answer when next marked the review as undecidable.
func failClosed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := &unavailable{}
		ctx := context.WithValue(r.Context(), unavailableKey{}, u)
		next.ServeHTTP(&unavailableWriter{ResponseWriter: w, u: u}, r.WithContext(ctx))
	})
}

// unavailableWriter replaces the answer by a 503 once the review is marked.
type unavailableWriter struct {
	http.ResponseWriter
	u       *unavailable
	decided bool
	replace bool
}

func (w *unavailableWriter) decide() {
	if w.decided {
		return
	}
	w.decided = true
	reason := w.u.get()
	if reason == "" {
		return
	}
	w.replace = true
	http.Error(w.ResponseWriter, "meshgate could not review this request: "+reason, http.StatusServiceUnavailable)
}

func (w *unavailableWriter) WriteHeader(code int) {
	w.decide()
	if !w.replace {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *unavailableWriter) Write(b []byte) (int, error) {
	w.decide()
	if w.replace {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
