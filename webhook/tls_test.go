package webhook

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certutil "k8s.io/client-go/util/cert"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// writeCert writes a fresh self-signed serving certificate for 127.0.0.1 into
// dir and returns its DER bytes.
func writeCert(t *testing.T, dir string) []byte {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	require.NoError(t, err)
	// Write to temporary names and rename, as kubelet's secret volumes do, so
	// the watcher never reads a half-written pair.
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		tmp := filepath.Join(dir, "."+name)
		require.NoError(t, os.WriteFile(tmp, data, 0o600))
		require.NoError(t, os.Rename(tmp, filepath.Join(dir, name)))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return pair.Certificate[0]
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startHooks runs a controller-runtime webhook server with meshgate's TLS
// options, as Server does, and returns its address.
func startHooks(t *testing.T, certDir string, minVersion uint16, http2 bool) string {
	t.Helper()
	port := freePort(t)
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir, TLSOpts: TLSOptions(minVersion, http2)})
	srv.Register(MutatePath, &admission.Webhook{Handler: noopHandler})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the webhook server stopped with an error: %v", err)
		}
	})
	require.Eventually(t, func() bool { return srv.StartedChecker()(nil) == nil }, 10*time.Second, 20*time.Millisecond)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func handshake(addr string, c *tls.Config) (tls.ConnectionState, error) {
	c.InsecureSkipVerify = true // the test inspects what the server offers
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	first := writeCert(t, dir)
	addr := startHooks(t, dir, tls.VersionTLS12, false)

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		_, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS11})
		assert.Error(t, err)
	})
	t.Run("TLS 1.2 is accepted", func(t *testing.T) {
		st, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS12})
		require.NoError(t, err)
		assert.Equal(t, uint16(tls.VersionTLS12), st.Version)
	})
	t.Run("HTTP/2 is off by default", func(t *testing.T) {
		st, err := handshake(addr, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		require.NoError(t, err)
		assert.Equal(t, "http/1.1", st.NegotiatedProtocol)
	})
	t.Run("a rotated certificate is served without a restart", func(t *testing.T) {
		st, err := handshake(addr, &tls.Config{})
		require.NoError(t, err)
		require.Equal(t, first, st.PeerCertificates[0].Raw)
		second := writeCert(t, dir)
		require.Eventually(t, func() bool {
			st, err := handshake(addr, &tls.Config{})
			return err == nil && string(st.PeerCertificates[0].Raw) == string(second)
		}, 15*time.Second, 50*time.Millisecond)
	})
}

func TestServerTLSOptions(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir)
	t.Run("minimum 1.3 refuses 1.2", func(t *testing.T) {
		addr := startHooks(t, dir, tls.VersionTLS13, false)
		_, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS12})
		assert.Error(t, err)
	})
	t.Run("HTTP/2 when enabled", func(t *testing.T) {
		addr := startHooks(t, dir, tls.VersionTLS12, true)
		st, err := handshake(addr, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		require.NoError(t, err)
		assert.Equal(t, "h2", st.NegotiatedProtocol)
	})
}

func TestServerTLSDefaultsAndCipherSuites(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir)
	defaultMin, err := ParseTLSVersion("")
	require.NoError(t, err)
	tls13 := startHooks(t, dir, defaultMin, false)
	tls12 := startHooks(t, dir, tls.VersionTLS12, false)
	cbc := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
	cases := []struct {
		name        string
		addr        string
		client      *tls.Config
		wantVersion uint16 // 0: refused
	}{
		{"by default TLS 1.3 is spoken", tls13, &tls.Config{}, tls.VersionTLS13},
		{"by default TLS 1.2 is refused", tls13, &tls.Config{MaxVersion: tls.VersionTLS12}, 0},
		{"with 1.2 allowed, ECDHE AES-GCM is accepted", tls12, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, tls.VersionTLS12},
		{"with 1.2 allowed, ECDHE ChaCha20-Poly1305 is accepted", tls12, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}, tls.VersionTLS12},
		{"with 1.2 allowed, CBC and RSA key exchange suites are refused", tls12, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}, 0},
		{"with 1.2 allowed, 1.3 is still preferred", tls12, &tls.Config{}, tls.VersionTLS13},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := handshake(tc.addr, tc.client)
			if tc.wantVersion == 0 {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantVersion, st.Version)
			if st.Version == tls.VersionTLS12 {
				assert.Contains(t, AEADCipherSuites, st.CipherSuite)
			}
		})
	}
}
