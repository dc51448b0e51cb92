package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUpgradeThenUninstall(t *testing.T) {
	needCluster(t)
	t.Run("helm upgrade with changed configuration rolls the pods and applies it (service-port-name enforce -> warn)", func(t *testing.T) {
		before := map[string]bool{}
		for _, p := range meshgatePods(t) {
			before[p.Name] = true
		}
		a := []string{"upgrade", release, chart, "-n", namespace, "--reuse-values", "--wait", "--timeout", "5m",
			"--set", "webhook.timeoutSeconds=7", "--set", "config.rules.service-port-name=warn"}
		out, err := run("", "helm", a...)
		require.NoError(t, err, out)
		assert.Equal(t, "7", kubectl(t, "", "get", "validatingwebhookconfigurations", "-l", "app.kubernetes.io/instance="+release, "-o", "jsonpath={.items[0].webhooks[0].timeoutSeconds}"))
		pods := meshgatePods(t)
		require.Len(t, pods, 2)
		for _, p := range pods {
			assert.False(t, before[p.Name], "pod %s was replaced by the upgrade", p.Name)
		}
		// The replaced pods drain (server.drainSeconds, 5 s) after helm
		// returns: the API server's open connections to them still get the
		// old configuration's verdict until they have stopped.
		upgraded := time.Now()
		for {
			out, err = run(`{apiVersion: v1, kind: Service, metadata: {name: after-upgrade, namespace: apps}, spec: {ports: [{name: http2foo, port: 9080}]}}`, "kubectl", "apply", "--dry-run=server", "-f", "-")
			if err == nil || time.Since(upgraded) > 40*time.Second {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("the new configuration answered %s after helm upgrade returned", time.Since(upgraded).Round(100*time.Millisecond))
		require.NoError(t, err, "service-port-name is now warn: admitted; %s", out)
		assert.Contains(t, out, "Warning: [service-port-name] Service apps/after-upgrade: ")
	})
	t.Run("helm uninstall leaves no webhook configuration behind and pods are created again", func(t *testing.T) {
		out, err := run("", "helm", "uninstall", release, "-n", namespace, "--wait", "--timeout", "3m")
		require.NoError(t, err, out)
		for _, kind := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} {
			assert.Empty(t, strings.TrimSpace(kubectl(t, "", "get", kind, "-o", "name")), "no %s left", kind)
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "after-uninstall-", Namespace: "apps"},
			Spec: corev1.PodSpec{NodeName: "does-not-exist", Containers: []corev1.Container{{Name: "c", Image: "localhost/meshgate-cluster/pause:1"}}}}
		created, err := kube.CoreV1().Pods("apps").Create(context.Background(), p, metav1.CreateOptions{})
		require.NoError(t, err, "pod creation works without meshgate")
		_ = kube.CoreV1().Pods("apps").Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
}

// selfSigned is a CA and a serving certificate for the webhook Service of
// release in ns, PEM-encoded.
func selfSigned(t *testing.T, release, ns string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	svc := release
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: svc + "." + ns + ".svc"},
		DNSNames:  []string{svc, svc + "." + ns, svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestOtherTLSVariantsInstall(t *testing.T) {
	needCluster(t)
	cases := []struct {
		name string
		// prepare returns the extra helm arguments.
		prepare func(t *testing.T, ns string) []string
	}{
		{name: "generated TLS (certManager.enabled=false)", prepare: func(*testing.T, string) []string {
			return []string{"--set", "certManager.enabled=false"}
		}},
		{name: "a user-provided Secret (tls.existingSecret + tls.caBundle)", prepare: func(t *testing.T, ns string) []string {
			caPEM, certPEM, keyPEM := selfSigned(t, release, ns)
			dir := t.TempDir()
			for n, b := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, n), b, 0o600))
			}
			kubectl(t, "", "-n", ns, "create", "secret", "tls", "my-meshgate-tls", "--cert", filepath.Join(dir, "tls.crt"), "--key", filepath.Join(dir, "tls.key"))
			return []string{"--set", "certManager.enabled=false", "--set", "tls.existingSecret=my-meshgate-tls",
				"--set", "tls.caBundle=" + base64.StdEncoding.EncodeToString(caPEM)}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := []string{"meshgate-generated", "meshgate-byo"}[i]
			kubectl(t, "", "create", "namespace", ns)
			kubectl(t, "", "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
			t.Cleanup(func() {
				_, _ = run("", "helm", "uninstall", release, "-n", ns, "--wait", "--timeout", "3m")
				_, _ = run("", "kubectl", "delete", "namespace", ns, "--wait=false")
			})
			out, err := helmInstall(release, ns, tc.prepare(t, ns)...)
			require.NoError(t, err, out)
			// helm --wait returns once the pods are ready; kube-proxy may
			// program the new Service's rules a moment later, so a call
			// right after the install can be refused: ask until meshgate
			// answers (bounded), and say how long that took.
			installed := time.Now()
			for {
				out, err = run(`{apiVersion: v1, kind: Service, metadata: {name: variant, namespace: apps}, spec: {ports: [{name: http2foo, port: 9080}]}}`, "kubectl", "apply", "--dry-run=server", "-f", "-")
				if err != nil && strings.Contains(out, deniedBy) || time.Since(installed) > 30*time.Second {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			t.Logf("meshgate answered %s after helm install returned", time.Since(installed).Round(100*time.Millisecond))
			require.Error(t, err, out)
			assert.Contains(t, out, deniedBy, "the API server reaches meshgate through its Service and trusts its certificate")
			out, err = run("", "helm", "uninstall", release, "-n", ns, "--wait", "--timeout", "3m")
			require.NoError(t, err, out)
			var left bytes.Buffer
			for _, kind := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"} {
				left.WriteString(strings.TrimSpace(kubectl(t, "", "get", kind, "-o", "name")))
			}
			assert.Empty(t, left.String(), "uninstall leaves no webhook configuration")
		})
	}
}
