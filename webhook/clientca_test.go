package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientCA issues client certificates.
type clientCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newClientCA(t *testing.T, name string) *clientCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &clientCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// client returns a client certificate for name signed by ca.
func (ca *clientCA) client(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestClientCAFileRequiresClientCertificates(t *testing.T) {
	ca := newClientCA(t, "kube-apiserver client CA")
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))
	for _, minVersion := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		s := startLimited(t, DefaultLimits(), echoBody, func(o *hookServerOptions) {
			o.ClientCAFile = caFile
			o.TLSOpts = TLSOptions(minVersion, false)
		})
		cases := []struct {
			name   string
			certs  []tls.Certificate
			wantOK bool
		}{
			{"a client without a certificate is refused", nil, false},
			{"a client certificate of another CA is refused", []tls.Certificate{newClientCA(t, "other").client(t, "kube-apiserver")}, false},
			{"a client certificate of the client CA is accepted", []tls.Certificate{ca.client(t, "kube-apiserver")}, true},
		}
		for _, tc := range cases {
			t.Run(tls.VersionName(minVersion)+": "+tc.name, func(t *testing.T) {
				c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
					TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: tc.certs, MaxVersion: minVersion}, //nolint:gosec // test server
				}}
				resp, err := c.Post("https://"+s.addr+"/review", "application/json", strings.NewReader("{}"))
				if !tc.wantOK {
					assert.Error(t, err)
					return
				}
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			})
		}
	}
}

func TestClientCAFileMustHoldACertificate(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(bad, []byte("not PEM"), 0o600))
	for name, path := range map[string]string{"absent": filepath.Join(t.TempDir(), "absent.crt"), "not PEM": bad} {
		t.Run(name, func(t *testing.T) {
			_, err := loadCAs(path)
			assert.ErrorContains(t, err, "client CA file")
		})
	}
}
