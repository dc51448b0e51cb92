package emissary

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		name      string
		service   string
		kind      HostKind
		scheme    string
		host      string
		port      int
		svc, ns   string
		qualified bool
	}{
		{name: "bare name takes the Mapping's namespace", service: "quote", kind: HostService, host: "quote", svc: "quote", ns: "default"},
		{name: "bare name with port", service: "quote:80", kind: HostService, host: "quote", port: 80, svc: "quote", ns: "default"},
		{name: "name.namespace", service: "quote.apps", kind: HostService, host: "quote.apps", svc: "quote", ns: "apps", qualified: true},
		{name: "name.namespace with port", service: "quote.apps:8080", kind: HostService, host: "quote.apps", port: 8080, svc: "quote", ns: "apps", qualified: true},
		{name: "name.namespace.svc", service: "quote.apps.svc", kind: HostService, host: "quote.apps.svc", svc: "quote", ns: "apps", qualified: true},
		{name: "cluster FQDN", service: "quote.apps.svc.cluster.local", kind: HostService, host: "quote.apps.svc.cluster.local", svc: "quote", ns: "apps", qualified: true},
		{name: "cluster FQDN with custom domain, trailing dot and port", service: "quote.apps.svc.corp.example.:9000", kind: HostService, host: "quote.apps.svc.corp.example.", port: 9000, svc: "quote", ns: "apps", qualified: true},
		{name: "https scheme from the AES 1.x guide", service: "https://productpage:9080", kind: HostService, scheme: "https", host: "productpage", port: 9080, svc: "productpage", ns: "default"},
		{name: "scheme is case-insensitive, host keeps its spelling", service: "HTTP://Quote.Apps", kind: HostService, scheme: "http", host: "Quote.Apps", svc: "quote", ns: "apps", qualified: true},
		{name: "unknown scheme is kept for the caller to judge", service: "grpc://quote", kind: HostService, scheme: "grpc", host: "quote", svc: "quote", ns: "default"},
		{name: "external host from the AES guide", service: "httpbin.org", kind: HostService, host: "httpbin.org", svc: "httpbin", ns: "org", qualified: true},
		{name: "three labels without svc are external", service: "api.example.com", kind: HostExternal, host: "api.example.com"},
		{name: "external host with scheme and port", service: "https://api.example.com:8443", kind: HostExternal, scheme: "https", host: "api.example.com", port: 8443},
		{name: "IPv4", service: "10.0.0.7:8080", kind: HostIP, host: "10.0.0.7", port: 8080},
		{name: "IPv6 in brackets with port", service: "[fd00::1]:80", kind: HostIP, host: "fd00::1", port: 80},
		{name: "bare IPv6", service: "fd00::1", kind: HostIP, host: "fd00::1"},
		{name: "underscore is not a Service name", service: "my_svc", kind: HostExternal, host: "my_svc"},
		{name: "Service names start with a letter", service: "1quote", kind: HostExternal, host: "1quote"},
		{name: "invalid namespace label makes it external", service: "quote.-apps", kind: HostExternal, host: "quote.-apps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUpstream(tc.service, "default")
			require.NoError(t, err)
			assert.Equal(t, tc.kind, u.Kind, "kind")
			assert.Equal(t, tc.scheme, u.Scheme, "scheme")
			assert.Equal(t, tc.host, u.Host, "host")
			assert.Equal(t, tc.port, u.Port, "port")
			assert.Equal(t, tc.port != 0, u.HasPort())
			if tc.kind == HostService {
				assert.Equal(t, tc.svc, u.Name, "service name")
				assert.Equal(t, tc.ns, u.Namespace, "namespace")
				assert.Equal(t, tc.qualified, u.Qualified, "qualified")
			}
			assert.Equal(t, tc.service, u.String(), "rendering keeps the original spelling")
		})
	}
}

func TestParseUpstreamRejectsWhatEmissaryWouldGuessAbout(t *testing.T) {
	tests := []struct {
		name    string
		service string
		want    error
	}{
		{name: "empty", service: "", want: ErrEmpty},
		{name: "path after the host", service: "quote/api", want: ErrExtraParts},
		{name: "query", service: "quote?x=1", want: ErrExtraParts},
		{name: "user info", service: "user@quote", want: ErrExtraParts},
		{name: "space", service: "quote :80", want: ErrExtraParts},
		{name: "empty scheme", service: "://quote", want: ErrScheme},
		{name: "scheme starting with a digit", service: "1http://quote", want: ErrScheme},
		{name: "empty port", service: "quote:", want: ErrPort},
		{name: "named port", service: "quote:http", want: ErrPort},
		{name: "port zero", service: "quote:0", want: ErrPort},
		{name: "port with a leading zero", service: "quote:080", want: ErrPort},
		{name: "port too large", service: "quote:65536", want: ErrPort},
		{name: "signed port", service: "quote:+80", want: ErrPort},
		{name: "empty host", service: ":80", want: ErrHost},
		{name: "unclosed IPv6 bracket", service: "[fd00::1:80", want: ErrHost},
		{name: "junk after IPv6 bracket", service: "[fd00::1]x", want: ErrHost},
		{name: "brackets around a name", service: "[quote]:80", want: ErrHost},
		{name: "several colons that are not IPv6", service: "00000::", want: ErrHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUpstream(tc.service, "default")
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
		})
	}
}

func TestUpstreamWithPortKeepsSpelling(t *testing.T) {
	tests := []struct {
		name, service string
		port          int
		want          string
	}{
		{name: "bare name", service: "quote", port: 80, want: "quote:80"},
		{name: "qualified name", service: "quote.apps", port: 80, want: "quote.apps:80"},
		{name: "FQDN", service: "quote.apps.svc.cluster.local", port: 8080, want: "quote.apps.svc.cluster.local:8080"},
		{name: "scheme spelling kept", service: "HTTPS://productpage", port: 9080, want: "HTTPS://productpage:9080"},
		{name: "IPv6 keeps brackets", service: "[fd00::1]", port: 80, want: "[fd00::1]:80"},
		{name: "bare IPv6 gets brackets with a port", service: "fd00::1", port: 80, want: "[fd00::1]:80"},
		{name: "port replaced", service: "quote:8080", port: 80, want: "quote:80"},
		{name: "port removed", service: "quote:8080", port: 0, want: "quote"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUpstream(tc.service, "default")
			require.NoError(t, err)
			assert.Equal(t, tc.want, u.WithPort(tc.port))
		})
	}
}

func TestParseUpstreamWithoutDefaultNamespace(t *testing.T) {
	u, err := ParseUpstream("quote", "")
	require.NoError(t, err)
	assert.Equal(t, HostExternal, u.Kind, "an unqualified name with no namespace to qualify it cannot be placed")
}
