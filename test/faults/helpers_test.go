package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshgate/meshgate/webhook"
)

// review is an AdmissionReview (v1) body for a CREATE of obj, copied in as
// it is (even when it is no valid JSON); nil obj means no object.
func review(kind metav1.GroupVersionKind, resource, namespace string, obj []byte) []byte {
	req, err := json.Marshal(&admissionv1.AdmissionRequest{
		UID:       types.UID("faults-" + strconv.FormatInt(time.Now().UnixNano(), 36)),
		Kind:      kind,
		Resource:  metav1.GroupVersionResource{Version: kind.Version, Group: kind.Group, Resource: resource},
		Namespace: namespace,
		Operation: admissionv1.Create,
	})
	if err != nil {
		panic(err)
	}
	if obj != nil {
		req = append(append(append(req[:len(req)-1], `,"object":`...), obj...), '}')
	}
	return append(append([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":`), req...), '}')
}

var serviceKind = metav1.GroupVersionKind{Version: "v1", Kind: "Service"}

// goodServiceReview is a review of a Service meshgate allows.
func goodServiceReview() []byte {
	return review(serviceKind, "services", meshNamespace, []byte(
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"good","namespace":"apps"},`+
			`"spec":{"selector":{"app":"good"},"ports":[{"name":"http","port":9080}]}}`))
}

// answer is what one POST to a handler came back with.
type answer struct {
	status int
	body   []byte
	review *admissionv1.AdmissionReview // nil unless the body is one
	closed bool                         // the server closes the connection after it
}

// allowed reports whether the answer is an AdmissionReview that allows.
func (a answer) allowed() bool {
	return a.status == http.StatusOK && a.review != nil && a.review.Response != nil && a.review.Response.Allowed
}

// refusal is the 4xx the answer carries (HTTP status, else the review's
// result code) and its message; 0 when the answer is no refusal.
func (a answer) refusal() (int, string) {
	if a.status >= 400 && a.status < 500 {
		return a.status, string(a.body)
	}
	if a.status == http.StatusOK && a.review != nil && a.review.Response != nil && !a.review.Response.Allowed && a.review.Response.Result != nil {
		if c := int(a.review.Response.Result.Code); c >= 400 && c < 500 {
			return c, a.review.Response.Result.Message
		}
	}
	return 0, ""
}

func post(c *http.Client, url, contentType string, body io.Reader) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return answer{}, fmt.Errorf("build the request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return answer{}, fmt.Errorf("read the answer: %w", err)
	}
	a := answer{status: resp.StatusCode, body: b, closed: resp.Close}
	ar := &admissionv1.AdmissionReview{}
	if json.Unmarshal(b, ar) == nil && ar.Response != nil {
		a.review = ar
	}
	return a, nil
}

// tlsClient trusts caPEM only; keepAlive false opens a connection (and a TLS
// handshake) per request.
func tlsClient(t *testing.T, caPEM []byte, keepAlive bool) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate in the PEM data")
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		DisableKeepAlives: !keepAlive,
		MaxIdleConns:      4, MaxIdleConnsPerHost: 4,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// stream posts good reviews to url from clients goroutines until stop is
// closed or max requests were sent, and counts answers.
type stream struct {
	sent, ok atomic.Int64
	closed   atomic.Int64 // answers that closed their connection
	mu       sync.Mutex
	failures []string
	wg       sync.WaitGroup
}

func (s *stream) run(clients []*http.Client, url string, maxRequests int64, stop <-chan struct{}) {
	body := goodServiceReview()
	for _, c := range clients {
		s.wg.Add(1)
		go func(c *http.Client) {
			defer s.wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s.sent.Add(1) > maxRequests {
					s.sent.Add(-1)
					return
				}
				a, err := post(c, url, "application/json", bytes.NewReader(body))
				if err == nil && a.closed {
					s.closed.Add(1)
				}
				switch {
				case err != nil:
					s.fail(err.Error())
				case !a.allowed():
					s.fail(fmt.Sprintf("HTTP %d: %.300s", a.status, a.body))
				default:
					s.ok.Add(1)
				}
			}
		}(c)
	}
}

func (s *stream) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) < 20 {
		s.failures = append(s.failures, msg)
	}
}

func (s *stream) failed() int64 { return s.sent.Load() - s.ok.Load() }

// metricSum adds up every sample of a metric family in a Prometheus text
// exposition at url; found is false when the family has no sample.
func metricSum(t *testing.T, url, name string) (sum float64, found bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return sum, found
}

// testCA is a CA the test generates; it issues the serving certificates of
// the meshgate the test starts.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pem    []byte
	serial atomic.Int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "meshgate faults test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.serial.Store(100)
	return ca
}

// issue writes a new leaf certificate for 127.0.0.1 into dir as tls.crt and
// tls.key, each by rename (as a kubelet-projected Secret changes), key first,
// and returns its serial number.
func (ca *testCA) issue(t *testing.T, dir string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(ca.serial.Add(1))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "meshgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	writeAtomic(t, filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return serial
}

func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// servedSerial is the serial number of the certificate a fresh TLS handshake
// with addr sees.
func servedSerial(addr string, caPEM []byte) (*big.Int, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// ownMeshgate is a meshgate the test starts against the shared API server,
// serving from a certificate directory the test writes.
type ownMeshgate struct {
	ca      *testCA
	certDir string
	addr    string // host:port
	url     string // https://host:port
	server  *webhook.Server
	health  string // http://host:port of /healthz and /readyz
	metrics string // https://host:port/metrics, with ownOptions.metricsSecure
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// ownOptions change how startOwnMeshgate starts a meshgate.
type ownOptions struct {
	ca         *testCA // nil: a CA of its own
	drainDelay time.Duration
	// metricsSecure serves metrics over HTTPS with authentication and
	// authorization (else: no metrics).
	metricsSecure bool
}

// startOwnMeshgate starts a meshgate with its own certificate directory (and
// CA unless o gives one) and waits until it is ready; it is stopped when t
// ends.
func startOwnMeshgate(t *testing.T, o ...ownOptions) *ownMeshgate {
	t.Helper()
	var opts ownOptions
	if len(o) > 0 {
		opts = o[0]
	}
	if opts.ca == nil {
		opts.ca = newTestCA(t)
	}
	m := &ownMeshgate{ca: opts.ca, certDir: t.TempDir()}
	m.ca.issue(t, m.certDir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	m.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	m.url = "https://" + m.addr
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	healthAddr := hl.Addr().String()
	_ = hl.Close()
	m.health = "http://" + healthAddr
	wo := webhook.Options{
		Host: "127.0.0.1", Port: port, CertDir: m.certDir, HealthProbeBindAddress: healthAddr,
		Namespace: ownNamespace, ServiceAccount: ownServiceAccount,
		Registry:   prometheus.NewRegistry(), // the shared meshgate owns the default one
		DrainDelay: opts.drainDelay,
	}
	if opts.metricsSecure {
		ml, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wo.MetricsBindAddress, wo.MetricsSecure = ml.Addr().String(), true
		_ = ml.Close()
		m.metrics = "https://" + wo.MetricsBindAddress + "/metrics"
	}
	m.server, err = webhook.NewServer(k.Config, wo)
	if err != nil {
		t.Fatalf("meshgate: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() { m.done <- m.server.Start(ctx) }()
	t.Cleanup(func() { m.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-m.done:
			m.stopped = true
			t.Fatalf("meshgate stopped before it was ready: %v", err)
		default:
		}
		if isReady(m.health) == nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("meshgate not ready after 30s: %v", isReady(m.health))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the meshgate and waits (at most 30s) until Start returned.
func (m *ownMeshgate) stop(t *testing.T) {
	t.Helper()
	if m.stopped {
		return
	}
	m.stopped = true
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("meshgate stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("meshgate did not stop within 30s")
	}
}

// isReady asks meshgate's /readyz at health (http://host:port): nil when ready.
func isReady(health string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(health + "/readyz?verbose")
	if err != nil {
		return fmt.Errorf("/readyz: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s: %s", resp.Status, body)
	}
	return nil
}
