package webhook

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		m := map[string]any{}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	return out
}

func TestClientErrorsAreLoggedOnceWithoutStackRateLimited(t *testing.T) {
	// The production logger of `meshgate serve` (JSON, stack traces from the
	// error level up).
	out := &syncBuffer{}
	log := zap.New(zap.WriteTo(out))
	reqLog := clientLogger(log.WithName("webhook"))
	h, err := NewHandler(Validating, HandlerOptions{World: defaultWorld(t)})
	require.NoError(t, err)
	hook := serveReviews(h, &drain{}, newLimiter(DefaultLimits(), nil, reqLog), reqLog)

	gvk := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	malformed := []struct {
		name        string
		body        []byte
		contentType string
	}{
		{"empty body", nil, "application/json"},
		{"wrong content type", []byte(`{}`), "text/plain"},
		{"not JSON", []byte(`{"apiVersion":`), "application/json"},
		{"body over the limit", bytes.Repeat([]byte(" "), MaxReviewBytes+1), "application/json"},
		{"object is not a JSON object", reviewRaw(t, []byte(`"svc"`), gvk, admissionv1.Create, "apps", "jane"), "application/json"},
	}
	send := func(body []byte, contentType string) int {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
		if body == nil {
			r = httptest.NewRequest(http.MethodPost, "/validate", nil)
		}
		r.Header.Set("Content-Type", contentType)
		hook.ServeHTTP(rec, r)
		return rec.Code
	}
	for _, m := range malformed {
		send(m.body, m.contentType)
	}
	lines := out.lines(t)
	// The object that is no JSON object is answered (400) by meshgate's
	// handler, which logs nothing; each of the other four is one line.
	require.Len(t, lines, 4, "one line per malformed request the server refused: %v", lines)
	for _, l := range lines {
		assert.Equal(t, "info", l["level"], "a client's error is not the server's: %v", l)
		assert.NotContains(t, l, "stacktrace", "no stack trace: %v", l)
		assert.NotEmpty(t, l["error"], "the error is said: %v", l)
	}
	assert.Contains(t, lines[3]["error"], "over meshgate's limit")

	// A flood of them is rate-limited; what was dropped is counted.
	for range 100 {
		send([]byte(`{"apiVersion":`), "application/json")
	}
	flood := out.lines(t)[4:]
	assert.LessOrEqual(t, len(flood), clientLogBurst, "at most the burst at once")
	assert.Positive(t, len(flood))
	// The next line allowed (a second later) carries the count of those
	// dropped.
	time.Sleep(1100 * time.Millisecond)
	send(nil, "application/json")
	all := out.lines(t)
	last := all[len(all)-1]
	assert.Equal(t, float64(100-len(flood)), last["suppressed"], "%v", last)
	for _, l := range all {
		assert.Equal(t, "info", l["level"])
	}
}
