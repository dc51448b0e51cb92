// Package emissary reads Emissary-ingress / Ambassador Edge Stack resources the
// way Emissary reads them, for the Mapping rules: a Mapping's upstream
// (`[scheme://]svc[.ns][:port]`), its `tls` attribute across getambassador.io v2
// and v3alpha1, TLSContexts (including the legacy cert-file form), and the Istio
// facts about an upstream: the namespace's data plane, the Service and its HTTP
// port, and the effective mTLS mode from PeerAuthentications.
//
// Everything here is pure: it reads unstructured objects and a policy.World and
// never panics on malformed input.
package emissary

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// HostKind tells what an upstream's host names.
type HostKind int

const (
	// HostService is a Kubernetes Service: `svc`, `svc.ns`, or
	// `svc.ns.svc[.<cluster domain>]`.
	HostService HostKind = iota
	// HostIP is a literal IPv4 or IPv6 address.
	HostIP
	// HostExternal is any other DNS name (httpbin.org, a.b.example.com).
	HostExternal
)

// String names the kind.
func (k HostKind) String() string {
	switch k {
	case HostService:
		return "service"
	case HostIP:
		return "ip"
	default:
		return "external"
	}
}

// Schemes Emissary gives a meaning to in a Mapping's service.
const (
	SchemeNone  = ""
	SchemeHTTP  = "http"
	SchemeHTTPS = "https"
)

// Upstream is a parsed Mapping `service`. Emissary's reading (ircluster.py):
// `https://` forces TLS origination, `http://` forbids it (a TLS context then is
// an error that Emissary logs, yet it still originates TLS), no scheme
// originates TLS exactly when `tls` names a context (or is true); a missing port
// is 443 when originating TLS and 80 otherwise; a host without a dot is
// qualified with the Mapping's namespace.
type Upstream struct {
	// Raw is the service exactly as written.
	Raw string
	// Scheme is the lower-cased scheme without "://" ("" when none).
	Scheme string
	// Host is the host as written (IPv6 without brackets).
	Host string
	// Port is the explicit port, 0 when none was written.
	Port int
	// Kind tells what Host names.
	Kind HostKind
	// Name and Namespace are the Service's, when Kind is HostService. Namespace
	// is the default namespace when the host does not name one.
	Name, Namespace string
	// Qualified is true when the host names the namespace.
	Qualified bool

	schemePrefix string // the scheme as written, with "://"
	bracketed    bool   // Host was written as [ipv6]
}

// HasPort reports whether the service names a port.
func (u Upstream) HasPort() bool { return u.Port != 0 }

// String renders the upstream as Emissary reads it, keeping the original
// spelling of scheme and host.
func (u Upstream) String() string { return u.WithPort(u.Port) }

// WithPort renders the upstream with port (none when 0), keeping the original
// spelling of scheme and host.
func (u Upstream) WithPort(port int) string {
	var b strings.Builder
	b.Grow(len(u.schemePrefix) + len(u.Host) + 8)
	b.WriteString(u.schemePrefix)
	// A bare IPv6 address needs brackets once it carries a port.
	if u.bracketed || (port != 0 && strings.Contains(u.Host, ":")) {
		b.WriteByte('[')
		b.WriteString(u.Host)
		b.WriteByte(']')
	} else {
		b.WriteString(u.Host)
	}
	if port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(port))
	}
	return b.String()
}

// ServiceKey returns "namespace/name" for a Service upstream.
func (u Upstream) ServiceKey() string { return u.Namespace + "/" + u.Name }

// Errors ParseUpstream returns (wrapped with the offending service).
var (
	ErrEmpty      = errors.New("empty service")
	ErrScheme     = errors.New("malformed scheme")
	ErrExtraParts = errors.New("service has URL parts after the host and port (path, query, user info)")
	ErrHost       = errors.New("malformed host")
	ErrPort       = errors.New("port is not a number between 1 and 65535 (without leading zeros)")
)

// ParseUpstream parses a Mapping's service. defaultNamespace qualifies a host
// without a dot (Emissary 2.x and later use the Mapping's namespace).
//
// It accepts what Emissary routes to: `quote`, `quote:80`, `quote.apps`,
// `quote.apps.svc.cluster.local:8080`, `https://productpage:9080`, IPs
// (`10.0.0.1:80`, `[fd00::1]:80`) and external hosts (`httpbin.org`). Anything
// Emissary would have to guess about (a path, user info, a bad port, spaces) is
// an error, and the rules leave such a Mapping alone.
func ParseUpstream(service, defaultNamespace string) (Upstream, error) {
	u := Upstream{Raw: service}
	if service == "" {
		return u, ErrEmpty
	}
	rest := service
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme := rest[:i]
		if !validScheme(scheme) {
			return u, fmt.Errorf("%w in %q", ErrScheme, service)
		}
		u.Scheme = strings.ToLower(scheme)
		u.schemePrefix = rest[:i+3]
		rest = rest[i+3:]
	}
	if strings.ContainsAny(rest, "/?#@ \t\r\n") {
		return u, fmt.Errorf("%w: %q", ErrExtraParts, service)
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return u, fmt.Errorf("%w in %q", err, service)
	}
	if port != "" {
		n, ok := parsePort(port)
		if !ok {
			return u, fmt.Errorf("%w: %q", ErrPort, service)
		}
		u.Port = n
	}
	if strings.HasPrefix(rest, "[") {
		u.bracketed = true
	}
	u.Host = host
	if addr, err := netip.ParseAddr(host); err == nil && (addr.Is4() || addr.Is6()) {
		u.Kind = HostIP
		return u, nil
	}
	if u.bracketed {
		return u, fmt.Errorf("%w: %q is not an IPv6 address", ErrHost, host)
	}
	u.Kind, u.Name, u.Namespace, u.Qualified = classifyHost(host, defaultNamespace)
	if u.Kind == HostService && u.Namespace == "" {
		// No namespace to qualify it with: Emissary would resolve it in its own
		// namespace, which a pure rule cannot know.
		u.Kind = HostExternal
	}
	return u, nil
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// splitHostPort splits "host", "host:port", "[v6]", "[v6]:port" and a bare IPv6
// address (no port).
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", ErrHost
		}
		host, tail := s[1:end], s[end+1:]
		switch {
		case tail == "":
			return host, "", nil
		case tail[0] == ':':
			return host, tail[1:], checkPortPresent(tail[1:])
		default:
			return "", "", ErrHost
		}
	}
	switch strings.Count(s, ":") {
	case 0:
		host = s
	case 1:
		i := strings.IndexByte(s, ':')
		host, port = s[:i], s[i+1:]
		if err := checkPortPresent(port); err != nil {
			return "", "", err
		}
	default:
		// Only a bare IPv6 address has several colons; it cannot carry a port.
		if _, err := netip.ParseAddr(s); err != nil {
			return "", "", ErrHost
		}
		host = s
	}
	if host == "" {
		return "", "", ErrHost
	}
	return host, port, nil
}

func checkPortPresent(p string) error {
	if p == "" {
		return ErrPort
	}
	return nil
}

func parsePort(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		// A leading zero ("quote:080") is nobody's intent; leave such a Mapping
		// alone rather than rewrite its port.
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= 65535
}

// classifyHost tells whether host names a Kubernetes Service, the way cluster
// DNS resolves it from a pod: `svc` (in defaultNamespace), `svc.ns`, and
// `svc.ns.svc[.<cluster domain>]`. Anything else, or labels that are not valid
// Service and namespace names, is an external host. A trailing dot (an
// absolute name) is allowed.
func classifyHost(host, defaultNamespace string) (kind HostKind, name, namespace string, qualified bool) {
	h := strings.TrimSuffix(host, ".")
	if h == "" {
		return HostExternal, "", "", false
	}
	h = strings.ToLower(h)
	first, rest, hasRest := strings.Cut(h, ".")
	switch {
	case !hasRest:
		name, namespace = first, defaultNamespace
	default:
		second, tail, hasTail := strings.Cut(rest, ".")
		if hasTail {
			third, _, _ := strings.Cut(tail, ".")
			if third != "svc" {
				return HostExternal, "", "", false
			}
		}
		name, namespace, qualified = first, second, true
	}
	if len(validation.IsDNS1035Label(name)) != 0 {
		return HostExternal, "", "", false
	}
	if namespace != "" && len(validation.IsDNS1123Label(namespace)) != 0 {
		return HostExternal, "", "", false
	}
	return HostService, name, namespace, qualified
}
