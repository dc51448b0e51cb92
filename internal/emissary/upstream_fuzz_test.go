package emissary

import "testing"

// FuzzParseUpstream: any service string parses or fails without panicking; a
// parsed one renders back exactly as written, and re-adding its own port is
// the identity.
func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{
		"quote", "quote:80", "quote.apps", "quote.apps.svc.cluster.local:8080",
		"https://productpage:9080", "http://quote", "httpbin.org", "10.0.0.1:80",
		"[fd00::1]:80", "fd00::1", "00000::", "quote/api", "quote:0", "://x", "Quote.Apps.",
	} {
		f.Add(s, "default")
	}
	f.Fuzz(func(t *testing.T, service, ns string) {
		u, err := ParseUpstream(service, ns)
		if err != nil {
			return
		}
		if got := u.String(); got != service {
			t.Fatalf("ParseUpstream(%q).String() = %q", service, got)
		}
		if u.WithPort(u.Port) != service {
			t.Fatalf("WithPort(own port) changed %q", service)
		}
		if u.Kind == HostService && (u.Name == "" || u.Namespace == "") {
			t.Fatalf("service upstream %q without name or namespace: %+v", service, u)
		}
		again, err := ParseUpstream(u.WithPort(80), ns)
		if err != nil || again.Port != 80 || again.Kind != u.Kind {
			t.Fatalf("re-parse of %q with port 80: %+v, %v", u.WithPort(80), again, err)
		}
	})
}
