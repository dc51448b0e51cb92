package faults

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/webhook"
)

// nested is a JSON value nested depth arrays deep.
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// TestBadInputOverTLS sends malformed requests to the running meshgate's TLS
// port while two clients stream good reviews at it: every bad request gets a
// 4xx (as HTTP status or as the review's result), no good review fails, no
// handler panics, and meshgate stays ready.
func TestBadInputOverTLS(t *testing.T) {
	needCluster(t)
	ca := k.Env.WebhookInstallOptions.LocalServingCAData
	panicsBefore, _ := metricSum(t, k.MetricsURL, "controller_runtime_webhook_panics_total")

	// The concurrent stream of good reviews (bounded: 20,000 requests or
	// until the bad input is done).
	good := &stream{}
	stop := make(chan struct{})
	good.run([]*http.Client{tlsClient(t, ca, true), tlsClient(t, ca, false)}, k.WebhookURL+webhook.ValidatePath, 20000, stop)
	defer func() {
		close(stop)
		good.wg.Wait()
		t.Logf("good reviews during the bad input: sent %d, allowed %d, failed %d", good.sent.Load(), good.ok.Load(), good.failed())
		assert.Zero(t, good.failed(), "good reviews failed: %v", good.failures)
		assert.Positive(t, good.ok.Load(), "the good stream must have run")
	}()

	svc := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"apps"%s},"spec":%s}`
	goodSpec := `{"selector":{"app":"s"},"ports":[{"name":"http","port":9080}]}`
	huge := strings.Repeat("x", 1<<20)
	hugeAnnotations := `,"annotations":{"a":"` + huge + `","b":"` + huge + `","c":"` + huge + `"}`

	cases := []struct {
		name        string
		contentType string
		body        []byte
		// wantCode is the 4xx expected; 0 means a verdict (allowed or
		// denied) is the right answer.
		wantCode int
		wantMsg  string
	}{
		{name: "empty body", contentType: "application/json", body: nil, wantCode: 400, wantMsg: "request body is empty"},
		{name: "8 MiB body", contentType: "application/json", body: bytes.Repeat([]byte(" "), 8<<20), wantCode: 413, wantMsg: "too large"},
		{name: "wrong content type", contentType: "text/plain", body: goodServiceReview(), wantCode: 400, wantMsg: "contentType=text/plain"},
		{name: "no content type", contentType: "", body: goodServiceReview(), wantCode: 400, wantMsg: "contentType="},
		{name: "broken JSON", contentType: "application/json", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":`), wantCode: 400},
		{name: "a JSON array instead of a review", contentType: "application/json", body: []byte(`[1,2,3]`), wantCode: 400},
		{name: "a review with no request", contentType: "application/json", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), wantCode: 400, wantMsg: "carries no request"},
		{name: "a request with no object", contentType: "application/json", body: review(serviceKind, "services", "apps", nil), wantCode: 400, wantMsg: "carries no object"},
		{name: "an object that is a JSON string", contentType: "application/json", body: review(serviceKind, "services", "apps", []byte(`"a Service"`)), wantCode: 400, wantMsg: "not a JSON object"},
		{name: "an object that is null", contentType: "application/json", body: review(serviceKind, "services", "apps", []byte(`null`)), wantCode: 400},
		{name: "a Service whose ports are a string", contentType: "application/json",
			body: review(serviceKind, "services", "apps", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"apps"},"spec":{"ports":"eighty"}}`)), wantCode: 422},
		{name: "a Service whose metadata is a list", contentType: "application/json",
			body: review(serviceKind, "services", "apps", []byte(`{"apiVersion":"v1","kind":"Service","metadata":[1],"spec":{"ports":[{"name":"http","port":80}]}}`)), wantCode: 422},
		{name: "JSON nested 100,000 deep in the object", contentType: "application/json",
			body: review(serviceKind, "services", "apps", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"x":`+nested(100000)+`}}`)), wantCode: 400},
		{name: "JSON nested 100,000 deep around the review", contentType: "application/json", body: []byte(`{"request":` + nested(100000) + `}`), wantCode: 400},
		{name: "three 1 MiB annotation values get a verdict", contentType: "application/json",
			body: review(serviceKind, "services", "apps", []byte(strings.Replace(strings.Replace(svc, "%s", hugeAnnotations, 1), "%s", goodSpec, 1)))},
	}
	for _, path := range []string{webhook.MutatePath, webhook.ValidatePath} {
		c := tlsClient(t, ca, true)
		for _, tc := range cases {
			t.Run(strings.TrimPrefix(path, "/")+": "+tc.name, func(t *testing.T) {
				start := time.Now()
				a, err := post(c, k.WebhookURL+path, tc.contentType, bytes.NewReader(tc.body))
				require.NoError(t, err)
				elapsed := time.Since(start)
				assert.Less(t, elapsed, 5*time.Second, "answered in %s", elapsed)
				code, msg := a.refusal()
				if tc.wantCode == 0 {
					require.Equal(t, http.StatusOK, a.status, "%.300s", a.body)
					require.NotNil(t, a.review, "a verdict: %.300s", a.body)
					return
				}
				assert.Equal(t, tc.wantCode, code, "HTTP %d: %.300s", a.status, a.body)
				assert.Contains(t, msg, tc.wantMsg)
				t.Logf("HTTP %d, code %d in %s: %.120s", a.status, code, elapsed.Round(time.Millisecond), msg)
			})
		}
	}

	panics, found := metricSum(t, k.MetricsURL, "controller_runtime_webhook_panics_total")
	assert.True(t, found, "meshgate's metrics have controller_runtime_webhook_panics_total")
	assert.Equal(t, panicsBefore, panics, "no handler panicked")
	assert.NoError(t, isReady(k.HealthURL), "meshgate is still ready")
	assert.True(t, k.Running(), "meshgate's Start has not returned")
}
