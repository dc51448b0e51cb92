package emissary

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReadMapping(t *testing.T) {
	tests := []struct {
		name string
		obj  map[string]any
		want Mapping
	}{
		{name: "v3alpha1 with service and tls name",
			obj:  map[string]any{"spec": map[string]any{"service": "quote:80", "tls": "istio-upstream"}},
			want: Mapping{Spec: true, Service: "quote:80", HasService: true, TLS: TLS{Kind: TLSName, Name: "istio-upstream"}}},
		{name: "v2 boolean tls",
			obj:  map[string]any{"spec": map[string]any{"service": "quote", "tls": true}},
			want: Mapping{Spec: true, Service: "quote", HasService: true, TLS: TLS{Kind: TLSBool, Bool: true}}},
		{name: "empty tls string is unset",
			obj:  map[string]any{"spec": map[string]any{"service": "quote", "tls": ""}},
			want: Mapping{Spec: true, Service: "quote", HasService: true}},
		{name: "tls of another type is invalid",
			obj:  map[string]any{"spec": map[string]any{"service": "quote", "tls": map[string]any{"x": 1}}},
			want: Mapping{Spec: true, Service: "quote", HasService: true, TLS: TLS{Kind: TLSInvalid}}},
		{name: "service of the wrong type reads as absent",
			obj:  map[string]any{"spec": map[string]any{"service": int64(80)}},
			want: Mapping{Spec: true}},
		{name: "spec of the wrong type", obj: map[string]any{"spec": "x"}, want: Mapping{}},
		{name: "nil object", obj: nil, want: Mapping{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ReadMapping(tc.obj))
		})
	}
}

func TestReadTLSContext(t *testing.T) {
	tests := []struct {
		name string
		obj  map[string]any
		want TLSContextSpec
	}{
		{name: "Emissary 2.x Istio TLSContext",
			obj:  map[string]any{"spec": map[string]any{"secret": "istio-certs", "alpn_protocols": "istio"}},
			want: TLSContextSpec{Secret: "istio-certs", ALPN: []string{"istio"}}},
		{name: "comma-separated ALPN with spaces",
			obj:  map[string]any{"spec": map[string]any{"alpn_protocols": "h2, istio ,"}},
			want: TLSContextSpec{ALPN: []string{"h2", "istio"}}},
		{name: "ALPN as a list",
			obj:  map[string]any{"spec": map[string]any{"alpn_protocols": []any{"h2", "istio", int64(3)}}},
			want: TLSContextSpec{ALPN: []string{"h2", "istio"}}},
		{name: "AES 1.x file form",
			obj: map[string]any{"spec": map[string]any{
				"cert_chain_file": "/etc/istiocerts/cert-chain.pem", "private_key_file": "/etc/istiocerts/key.pem", "cacert_chain_file": "/etc/istiocerts/root-cert.pem"}},
			want: TLSContextSpec{CertChainFile: "/etc/istiocerts/cert-chain.pem", PrivateKeyFile: "/etc/istiocerts/key.pem", CACertChainFile: "/etc/istiocerts/root-cert.pem"}},
		{name: "wrong types read as absent",
			obj:  map[string]any{"spec": map[string]any{"secret": true, "alpn_protocols": int64(1)}},
			want: TLSContextSpec{}},
		{name: "no spec", obj: map[string]any{}, want: TLSContextSpec{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ReadTLSContext(tc.obj))
		})
	}
}

func TestInLegacyCertDir(t *testing.T) {
	tests := []struct {
		file string
		want bool
	}{
		{"/etc/istiocerts/cert-chain.pem", true},
		{"/etc/istiocerts/sub/key.pem", true},
		{"/etc/istiocerts/", false},
		{"/etc/istiocerts/../passwd", false},
		{"/etc/istio-certs/cert-chain.pem", false},
		{"etc/istiocerts/cert-chain.pem", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			assert.Equal(t, tc.want, InLegacyCertDir(tc.file))
		})
	}
}

func TestSecretRef(t *testing.T) {
	tests := []struct{ secret, name, namespace string }{
		{"istio-certs", "istio-certs", ""},
		{"istio-certs.emissary", "istio-certs", "emissary"},
		{"istio.default", "istio", "default"},
		{"a.b.c", "a.b", "c"},
	}
	for _, tc := range tests {
		t.Run(tc.secret, func(t *testing.T) {
			name, ns := SecretRef(tc.secret)
			assert.Equal(t, tc.name, name)
			assert.Equal(t, tc.namespace, ns)
		})
	}
}

func TestOffersIstioALPN(t *testing.T) {
	assert.True(t, OffersIstioALPN([]string{"h2", "istio"}))
	assert.False(t, OffersIstioALPN([]string{"h2", "istio-peer-exchange"}))
	assert.False(t, OffersIstioALPN(nil))
}
