package intree

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meshgate/meshgate/internal/istio"
)

// CEL building blocks shared by the rules' in-tree forms. Each returns a CEL
// expression (a string) over the expressions it is given; the generated
// policies compute them once, as variables.

// String quotes s as a CEL string literal.
func String(s string) string { return strconv.Quote(s) }

// Strings renders ss as a CEL list of strings.
func Strings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = String(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Ints renders ns as a CEL list of ints.
func Ints(ns []int32) string {
	q := make([]string, len(ns))
	for i, n := range ns {
		q[i] = strconv.Itoa(int(n))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Label is the value of label key in labels (a CEL map), or "" when absent.
func Label(labels, key string) string {
	return fmt.Sprintf("(%s in %s ? %s[%s] : '')", String(key), labels, labels, String(key))
}

// knownProtocols are the names istio.Parse knows, lower case.
var knownProtocols = []string{"tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis", "mysql"}

// wellKnownTCPPorts are the ports Istio reads as TCP when their name gives
// nothing (istio.Convert).
var wellKnownTCPPorts = []int32{25, 53, 3306, 27017}

// PortProtocol is istio.Read of the Service port p (a CEL expression of a
// core/v1 ServicePort) as a CEL string: the protocol's name in lower case
// ("grpc-web", "http_proxy", ...), as istio.PortName spells it, or "" when
// Istio cannot tell. The steps are istio.Convert's, in its order.
func PortProtocol(p string) string {
	ap := p + ".appProtocol"
	hasAP := "has(" + ap + ")"
	return fmt.Sprintf("(%s.?protocol.orValue('TCP') == 'UDP' ? 'udp' : "+
		"(%s && %s == %s) ? 'http2' : (%s && %s == %s) ? 'http' : (%s && %s == %s) ? 'https' : %s)",
		p,
		hasAP, ap, String(istio.AppProtocolH2C),
		hasAP, ap, String(istio.AppProtocolWS),
		hasAP, ap, String(istio.AppProtocolWSS),
		NameProtocol(fmt.Sprintf("(%s ? %s : %s.?name.orValue(''))", hasAP, ap, p), p+".port"))
}

// NameProtocol is what Istio reads from a port name (or appProtocol) src on
// port number port: the grpc-web prefix, else the part before the first "-",
// else TCP on the well-known ports (when port is not ""); "" when none applies.
func NameProtocol(src, port string) string {
	head := src + ".lowerAscii().split('-')[0]"
	wellKnown := "''"
	if port != "" {
		wellKnown = fmt.Sprintf("%s in %s ? 'tcp' : ''", port, Ints(wellKnownTCPPorts))
	}
	return fmt.Sprintf("(%s.lowerAscii().startsWith('grpc-web') ? 'grpc-web' : %s in %s ? %s : %s)",
		src, head, Strings(knownProtocols), head, wellKnown)
}

// KnownProtocols is the CEL list of the protocol names Istio knows, lower case.
func KnownProtocols() string { return Strings(knownProtocols) }

// NamespaceInMesh is istio.NamespaceDataPlane(labels) != NoMesh for the
// namespace whose labels are the CEL map labels: Istio's injector webhooks
// select it for an ordinary pod (istio-injection=enabled, or istio.io/rev
// without istio-injection) outside the injector's ignored namespaces, or it is
// labelled for ambient outside kube-system.
func NamespaceInMesh(labels string) string {
	name := Label(labels, "kubernetes.io/metadata.name")
	sidecar := fmt.Sprintf("((%s == 'enabled' || (%s in %s && !(%s in %s))) && !(%s in %s))",
		Label(labels, istio.LabelIstioInjection),
		String(istio.LabelIstioRev), labels, String(istio.LabelIstioInjection), labels,
		name, Strings(istio.InjectorNeverNamespaces))
	ambient := fmt.Sprintf("(%s == 'ambient' && %s != 'kube-system')", Label(labels, istio.LabelDataplaneMode), name)
	return sidecar + " || " + ambient
}

// IstioManaged is the object-only part of istio.InScope: one of Istio's own
// Services (istio.Owned). labels is a CEL map, ports a CEL list.
func IstioManaged(labels, ports string) string {
	return istio.OwnedCEL(labels, ports)
}

// Format turns a Go format string whose verbs are %d, %q and %s into a CEL
// string concatenation: each verb takes the next CEL expression of args (an
// int for %d, a string for %q and %s; %q quotes it as Go does a string
// without special characters). The rules' messages are Go format strings
// shared by the rule and its in-tree form, so both say the same.
func Format(format string, args ...string) string {
	var parts []string
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, String(lit.String()))
			lit.Reset()
		}
	}
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			lit.WriteByte(c)
			continue
		}
		i++
		verb := format[i]
		if verb == '%' {
			lit.WriteByte('%')
			continue
		}
		if next >= len(args) {
			panic(fmt.Sprintf("intree.Format: %q needs more than %d arguments", format, len(args)))
		}
		arg := args[next]
		next++
		switch verb {
		case 'd':
			flush()
			parts = append(parts, "string("+arg+")")
		case 'q':
			lit.WriteByte('"')
			flush()
			parts = append(parts, "("+arg+")")
			lit.WriteByte('"')
		case 's':
			flush()
			parts = append(parts, "("+arg+")")
		default:
			panic(fmt.Sprintf("intree.Format: verb %%%c in %q", verb, format))
		}
	}
	flush()
	if next != len(args) {
		panic(fmt.Sprintf("intree.Format: %q takes %d arguments, got %d", format, next, len(args)))
	}
	if len(parts) == 0 {
		return "''"
	}
	return strings.Join(parts, " + ")
}

// ValidDNSLabel is validation.IsDNS1123Label(s) is empty, in CEL.
func ValidDNSLabel(s string) string {
	return fmt.Sprintf("(size(%s) <= 63 && %s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))", s, s)
}

// QuoteNames renders the valid port names among the CEL list candidates as
// `"a" or "b"`, or the CEL string fallback when none is valid.
func QuoteNames(fallback, candidates string) string {
	valid := ValidDNSLabel("c")
	return fmt.Sprintf("(%s.exists(c, %s) ? %s.filter(c, %s).map(c, '\"' + c + '\"').join(' or ') : %s)",
		candidates, valid, candidates, valid, fallback)
}
