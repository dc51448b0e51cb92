package istio

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/internal/intree"
)

// The CEL forms of Istio's reading of a Service port, for the rules'
// in-tree forms: CEL expressions (strings) over the CEL expressions they are
// given, built from the same tables as the Go functions they mirror. A
// protocol is a CEL string, its lower-case name ("grpc-web", "http_proxy"),
// or "" when Istio cannot tell.

// NameCEL is p's lower-case name as a CEL string literal.
func NameCEL(p Instance) string { return "'" + lowerName(p) + "'" }

// NamesCEL is the CEL list of the lower-case names of ps.
func NamesCEL(ps ...Instance) string { return quoted(lowerNames(ps...)) }

// quoted renders ss, which hold no quote or backslash, as a CEL list of
// single-quoted strings.
func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// KnownProtocolsCEL is the CEL list of the names of the protocols Istio
// knows (Parse).
func KnownProtocolsCEL() string { return intree.Strings(lowerNames(protocols...)) }

// ReadCEL is Read of the Service port p (a CEL expression of a core/v1
// ServicePort), as a CEL string: the steps are Convert's, in its order.
func ReadCEL(p string) string {
	ap := p + ".appProtocol"
	hasAP := "has(" + ap + ")"
	out := fmt.Sprintf("(%s.?protocol.orValue('%s') == '%s' ? %s : ", p, corev1.ProtocolTCP, corev1.ProtocolUDP, NameCEL(UDP))
	for _, k := range kubernetesAppProtocols {
		out += fmt.Sprintf("(%s && %s == %s) ? %s : ", hasAP, ap, intree.String(k.value), NameCEL(k.protocol))
	}
	return out + NameProtocolCEL(fmt.Sprintf("(%s ? %s : %s.?name.orValue(''))", hasAP, ap, p), p+".port") + ")"
}

// NameProtocolCEL is what Istio reads from a port name (or appProtocol) src
// on port number port: the grpc-web prefix, else the part before the first
// "-", else TCP on the well-known ports (when port is not ""); "" when none
// applies. With port "" it is ByPortName.
func NameProtocolCEL(src, port string) string {
	head := src + ".lowerAscii().split('-')[0]"
	wellKnown := "''"
	if port != "" {
		wellKnown = fmt.Sprintf("%s in %s ? %s : ''", port, intree.Ints(wellKnownTCPPorts), NameCEL(TCP))
	}
	return fmt.Sprintf("(%s.lowerAscii().startsWith('%s') ? %s : %s in %s ? %s : %s)",
		src, grpcWebPrefix, NameCEL(GRPCWeb), head, KnownProtocolsCEL(), head, wellKnown)
}

// ByPortNumberCEL is ByPortNumber of the CEL int port, as a CEL string.
func ByPortNumberCEL(port string) string {
	out := ""
	for _, c := range certainPorts {
		out += fmt.Sprintf("%s == %d ? %s : ", port, c.port, NameCEL(c.protocol))
	}
	return out + fmt.Sprintf("%s in %s ? %s : ''", port, intree.Ints(wellKnownTCPPorts), NameCEL(TCP))
}
