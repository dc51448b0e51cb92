package chart_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// generatedTLS is what a render without cert-manager generates.
type generatedTLS struct {
	serving, ca     corev1.Secret
	caBundle        []byte
	servingCert     *x509.Certificate
	bundle          []*x509.Certificate
	notAfter, caEnd int64
}

func readGeneratedTLS(t *testing.T, objs []*unstructured.Unstructured) generatedTLS {
	t.Helper()
	var g generatedTLS
	named(t, objs, "Secret", "meshgate-tls", &g.serving)
	named(t, objs, "Secret", "meshgate-webhook-ca", &g.ca)
	var mut admissionregistrationv1.MutatingWebhookConfiguration
	one(t, objs, "MutatingWebhookConfiguration", &mut)
	g.caBundle = mut.Webhooks[0].ClientConfig.CABundle
	g.servingCert = parseCert(t, g.serving.Data["tls.crt"])
	for rest := g.caBundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		g.bundle = append(g.bundle, c)
	}
	var err error
	if g.notAfter, err = strconv.ParseInt(g.serving.Annotations["meshgate.io/not-after"], 10, 64); err != nil {
		t.Fatalf("serving Secret meshgate.io/not-after: %v", err)
	}
	if g.caEnd, err = strconv.ParseInt(g.ca.Annotations["meshgate.io/not-after"], 10, 64); err != nil {
		t.Fatalf("CA Secret meshgate.io/not-after: %v", err)
	}
	return g
}

// verifies reports whether the serving certificate verifies against the caBundle.
func (g generatedTLS) verifies() bool {
	roots := x509.NewCertPool()
	for _, c := range g.bundle {
		roots.AddCert(c)
	}
	_, err := g.servingCert.Verify(x509.VerifyOptions{DNSName: "meshgate", Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}

// TestGeneratedCertificateLifetimes: without cert-manager the serving
// certificate lasts tls.validityDays (a year), the CA tls.caValidityDays
// (ten years), each recorded in meshgate.io/not-after for the next upgrade;
// the CA's key stays in a Secret the pods do not mount.
func TestGeneratedCertificateLifetimes(t *testing.T) {
	tests := []struct {
		name                 string
		values               string
		wantDays, wantCADays int
	}{
		{name: "defaults", values: noCertManager, wantDays: 365, wantCADays: 3650},
		{name: "shorter", values: noCertManager + "\ntls: {validityDays: 90, caValidityDays: 730}", wantDays: 90, wantCADays: 730},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			g := readGeneratedTLS(t, objs)
			now := time.Now()
			near := func(got time.Time, days int) bool {
				want := now.Add(time.Duration(days) * 24 * time.Hour)
				return got.After(want.Add(-time.Hour)) && got.Before(want.Add(time.Hour))
			}
			if !near(g.servingCert.NotAfter, tt.wantDays) || !near(time.Unix(g.notAfter, 0), tt.wantDays) {
				t.Errorf("serving certificate ends %s (annotation %s), want in %d days", g.servingCert.NotAfter, time.Unix(g.notAfter, 0), tt.wantDays)
			}
			caCert := parseCert(t, g.ca.Data["tls.crt"])
			if !caCert.IsCA || !near(caCert.NotAfter, tt.wantCADays) || !near(time.Unix(g.caEnd, 0), tt.wantCADays) {
				t.Errorf("CA ends %s (annotation %s), want a CA ending in %d days", caCert.NotAfter, time.Unix(g.caEnd, 0), tt.wantCADays)
			}
			if len(g.bundle) != 1 || !g.bundle[0].Equal(caCert) || !g.verifies() {
				t.Error("the caBundle is not the CA that signed the serving certificate")
			}
			if len(g.ca.Data["tls.key"]) == 0 {
				t.Error("the CA's key is not kept: the next renewal could not reuse the CA")
			}
			var tlsVolume string
			for _, o := range ofKind(objs, "Deployment") {
				vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
				for _, v := range vols {
					if name, _, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName"); name != "" {
						tlsVolume += name + " "
					}
				}
			}
			if tlsVolume != "meshgate-tls " {
				t.Errorf("the pods mount Secrets %q, want only meshgate-tls (never the CA's key)", tlsVolume)
			}
		})
	}
}

// TestGeneratedTLSRenewsNearExpiry: helm upgrade keeps the certificates
// while they are far from expiry, issues a new serving certificate from the
// same CA (the caBundle unchanged) within tls.renewDaysBefore, and a new CA
// within tls.caRenewDaysBefore, with the old CA kept in the caBundle beside
// it, so the pods' current certificate stays trusted until they reload.
func TestGeneratedTLSRenewsNearExpiry(t *testing.T) {
	c, cfg := apiServer(t)
	ctx := context.Background()
	day := int64(86400)
	now := time.Now().Unix()
	tests := []struct {
		name              string
		servingEnd, caEnd int64
		wantNewServing    bool
		wantNewCA         bool
		wantBundleLen     int
	}{
		{name: "far from expiry: kept", servingEnd: now + 200*day, caEnd: now + 3000*day, wantBundleLen: 1},
		{name: "serving certificate within 60 days: re-issued by the same CA", servingEnd: now + 30*day, caEnd: now + 3000*day, wantNewServing: true, wantBundleLen: 1},
		{name: "CA within a year: new CA, both in the caBundle", servingEnd: now + 200*day, caEnd: now + 100*day, wantNewServing: true, wantNewCA: true, wantBundleLen: 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := "renew-" + strconv.Itoa(i)
			createNamespace(t, c, ns)
			first := renderWithCluster(t, cfg, ns, noCertManager, false)
			for _, s := range ofKind(first, "Secret") {
				end := tt.servingEnd
				if s.GetName() == "meshgate-webhook-ca" {
					end = tt.caEnd
				}
				s.SetAnnotations(map[string]string{"meshgate.io/not-after": strconv.FormatInt(end, 10)})
				if err := c.Create(ctx, s.DeepCopy()); err != nil {
					t.Fatalf("create %s: %v", s.GetName(), err)
				}
			}
			var before corev1.Secret
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "meshgate-tls"}, &before); err != nil {
				t.Fatal(err)
			}
			var beforeCA corev1.Secret
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "meshgate-webhook-ca"}, &beforeCA); err != nil {
				t.Fatal(err)
			}
			g := readGeneratedTLS(t, renderWithCluster(t, cfg, ns, noCertManager, true))
			newServing := string(g.serving.Data["tls.crt"]) != string(before.Data["tls.crt"])
			newCA := string(g.ca.Data["tls.crt"]) != string(beforeCA.Data["tls.crt"])
			if newServing != tt.wantNewServing || newCA != tt.wantNewCA {
				t.Errorf("new serving certificate %v, new CA %v; want %v, %v", newServing, newCA, tt.wantNewServing, tt.wantNewCA)
			}
			if len(g.bundle) != tt.wantBundleLen || !g.verifies() {
				t.Errorf("caBundle holds %d certificates (verifies the new serving certificate: %v), want %d", len(g.bundle), g.verifies(), tt.wantBundleLen)
			}
			// The pods' current certificate stays trusted by the new caBundle.
			old := generatedTLS{servingCert: parseCert(t, before.Data["tls.crt"]), bundle: g.bundle}
			if !old.verifies() {
				t.Error("the new caBundle does not trust the certificate the pods still serve")
			}
			if !tt.wantNewServing && g.notAfter != tt.servingEnd {
				t.Errorf("kept certificate's not-after changed: %d, want %d", g.notAfter, tt.servingEnd)
			}
		})
	}
}
