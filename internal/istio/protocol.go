// Package istio holds what meshgate knows of Istio: how it reads a Service
// port (this file), which pods its injector injects and which are ambient, the
// effective mTLS mode, gateway-name resolution and the injector's flags. The
// CEL forms of those functions, for the in-tree policies, are in *_intree.go
// beside them, built from the same values: each fact is written once.
//
// Istio reads a Service port this way. Istio picks the
// protocol of a port (and so whether it gets an HTTP, gRPC, TLS or plain TCP
// filter chain) from the port's L4 protocol, appProtocol and name, in the order of
// istiod's ConvertProtocol (istio/istio pkg/config/kube/conversion.go). Both
// Service port rules use this package: the service-port-protocol mutator, to know
// which ports need help, and the service-port-name validator, to know which ports
// Istio cannot read. It also holds the one decision of which Services those rules
// look at (InScope).
package istio

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Instance is a protocol as Istio names it (istio.io/istio/pkg/config/protocol).
type Instance string

// The protocols Istio knows, and Unsupported for a port it cannot read.
const (
	TCP       Instance = "TCP"
	UDP       Instance = "UDP"
	GRPC      Instance = "GRPC"
	GRPCWeb   Instance = "GRPC-Web"
	HTTP      Instance = "HTTP"
	HTTPProxy Instance = "HTTP_PROXY"
	HTTP2     Instance = "HTTP2"
	HTTPS     Instance = "HTTPS"
	TLS       Instance = "TLS"
	Mongo     Instance = "Mongo"
	Redis     Instance = "Redis"
	MySQL     Instance = "MySQL"
	// Unsupported is what Istio reads from a port whose protocol it cannot tell:
	// it then falls back to protocol sniffing (or plain TCP).
	Unsupported Instance = "UnsupportedProtocol"
)

// Known reports whether i is a protocol Istio knows.
func (i Instance) Known() bool { return i != Unsupported && i != "" }

// Kubernetes' standard appProtocol values (core/v1 ServicePort.appProtocol).
const (
	AppProtocolH2C = "kubernetes.io/h2c"
	AppProtocolWS  = "kubernetes.io/ws"
	AppProtocolWSS = "kubernetes.io/wss"
)

// kubernetesAppProtocols are the protocols Istio reads from Kubernetes'
// standard appProtocol values, matched exactly.
var kubernetesAppProtocols = []struct {
	value    string
	protocol Instance
}{{AppProtocolH2C, HTTP2}, {AppProtocolWS, HTTP}, {AppProtocolWSS, HTTPS}}

// PortNamePrefixes are the port name prefixes Istio recognises, in the order a
// message should list them. http_proxy is left out: an underscore is not valid in
// a port name (a DNS-1123 label), so it only works as appProtocol.
var PortNamePrefixes = lowerNames(HTTP, HTTP2, HTTPS, GRPC, GRPCWeb, TCP, TLS, UDP, Mongo, Redis, MySQL)

func lowerNames(ps ...Instance) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = lowerName(p)
	}
	return out
}

// protocols are the protocols Istio knows, in the order of its protocol
// package.
var protocols = []Instance{TCP, UDP, GRPC, GRPCWeb, HTTP, HTTPProxy, HTTP2, HTTPS, TLS, Mongo, Redis, MySQL}

// byName are protocols by their lower-case names.
var byName = func() map[string]Instance {
	m := make(map[string]Instance, len(protocols))
	for _, p := range protocols {
		m[lowerName(p)] = p
	}
	return m
}()

// lowerName is p's name in lower case ("grpc-web", "http_proxy"), as Parse
// reads it.
func lowerName(p Instance) string { return strings.ToLower(string(p)) }

// Parse reads a protocol name the way Istio's protocol.Parse does: exact names,
// ignoring case. Anything else is Unsupported.
func Parse(s string) Instance {
	if p, ok := byName[strings.ToLower(s)]; ok {
		return p
	}
	return Unsupported
}

// Source says which part of a port decided its protocol.
type Source string

// Where a port's protocol comes from.
const (
	// FromL4: protocol UDP makes the port UDP, whatever else it says.
	FromL4 Source = "protocol"
	// FromAppProtocol: a set appProtocol replaces the name entirely.
	FromAppProtocol Source = "appProtocol"
	// FromName: the port name (its part before the first "-").
	FromName Source = "name"
	// FromWellKnownPort: the name (or appProtocol) gave nothing, but Istio treats
	// ports 25, 53, 3306 and 27017 as TCP.
	FromWellKnownPort Source = "port"
)

// Reading is what Istio makes of one Service port.
type Reading struct {
	// Protocol is Istio's protocol for the port (Unsupported when it cannot tell).
	Protocol Instance
	// Source is the part of the port that decided it.
	Source Source
}

// wellKnownTCPPorts are the ports Istio never sniffs: a port on one of them
// whose name gives no protocol is TCP (istio pkg/config/kube/conversion.go
// wellKnownPorts): SMTP, DNS, MySQL, MongoDB.
var wellKnownTCPPorts = []int32{25, 53, 3306, 27017}

func wellKnownTCP(port int32) bool { return slices.Contains(wellKnownTCPPorts, port) }

// grpcWebPrefix starts every name Istio reads as gRPC-Web.
var grpcWebPrefix = lowerName(GRPCWeb)

// Convert is istiod's ConvertProtocol: the protocol of a port with this number,
// name, L4 protocol and appProtocol (nil when unset), and which part decided it.
// The order is Istio's exactly:
//  1. L4 protocol UDP is UDP;
//  2. a set appProtocol (even an empty one) replaces the name; the three
//     Kubernetes-defined values kubernetes.io/h2c, kubernetes.io/ws and
//     kubernetes.io/wss (matched exactly, case-sensitively) are HTTP2, HTTP and
//     HTTPS;
//  3. a value starting with "grpc-web", in any case, is gRPC-Web;
//  4. otherwise its part before the first "-" is parsed (case-insensitive);
//  5. if that gives nothing, ports 25, 53, 3306 and 27017 are TCP.
//
// Note that a TCP port named "udp" (or "udp-x") reads as UDP, as in Istio.
func Convert(port int32, name string, l4 corev1.Protocol, appProtocol *string) Reading {
	if l4 == corev1.ProtocolUDP {
		return Reading{Protocol: UDP, Source: FromL4}
	}
	src := FromName
	if appProtocol != nil {
		name = *appProtocol
		src = FromAppProtocol
		for _, k := range kubernetesAppProtocols {
			if name == k.value {
				return Reading{Protocol: k.protocol, Source: src}
			}
		}
	}
	if len(name) >= len(grpcWebPrefix) && strings.EqualFold(name[:len(grpcWebPrefix)], grpcWebPrefix) {
		return Reading{Protocol: GRPCWeb, Source: src}
	}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	p := Parse(name)
	if p == Unsupported && wellKnownTCP(port) {
		return Reading{Protocol: TCP, Source: FromWellKnownPort}
	}
	return Reading{Protocol: p, Source: src}
}

// Read is Convert for a Service port.
func Read(p corev1.ServicePort) Reading {
	return Convert(p.Port, p.Name, p.Protocol, p.AppProtocol)
}

// ForServicePort returns Istio's protocol for a Service port and whether Istio
// knows it (false: Istio would only sniff the port).
func ForServicePort(p corev1.ServicePort) (Instance, bool) {
	r := Read(p)
	return r.Protocol, r.Protocol.Known()
}

// certainPorts are the ports ByPortNumber reads besides wellKnownTCPPorts.
var certainPorts = []struct {
	port     int32
	protocol Instance
}{{80, HTTP}, {443, HTTPS}}

// PortName returns the port name that makes Istio read protocol p: the protocol's
// name in lower case. HTTP_PROXY (whose name has an underscore, not allowed in a
// port name) and Unsupported have none.
func PortName(p Instance) (string, bool) {
	switch p {
	case TCP, UDP, GRPC, HTTP, HTTP2, HTTPS, TLS, Mongo, Redis, MySQL:
		return lowerName(p), true
	case GRPCWeb:
		return grpcWebPrefix, true
	}
	return "", false
}

// ByPortName returns the protocol Istio reads from a port named name, and
// whether it knows it: istio.Convert of a TCP port with that name and no
// appProtocol, without the well-known port numbers. The service-port-protocol
// rule reads a Service port's named targetPort (a container port's name) with
// it: the same naming convention.
func ByPortName(name string) (Instance, bool) {
	r := Convert(0, name, corev1.ProtocolTCP, nil)
	return r.Protocol, r.Protocol.Known()
}

// ByPortNumber returns the protocol a TCP port number carries for certain, for
// ports that say nothing else. The table is deliberately small, so a guess never
// turns a working port into a broken one:
//   - 80 (http) is HTTP;
//   - 443 (https) is HTTPS, which Istio routes by SNI as TLS, exactly what
//     sniffing would find;
//   - 25, 53, 3306 and 27017 are TCP: Istio already treats them as TCP, the name
//     only says so.
//
// Ports that are merely conventional are left out: 8080 and 8443 (gRPC, h2c and
// plain-text backends live there as often as HTTP/1.1 and HTTPS ones), 9080,
// 50051 for gRPC, 6379 for Redis, 5432 ... Naming one wrongly would make Istio
// apply the wrong filter chain where sniffing would have worked.
func ByPortNumber(port int32) (Instance, bool) {
	for _, c := range certainPorts {
		if c.port == port {
			return c.protocol, true
		}
	}
	if wellKnownTCP(port) {
		return TCP, true
	}
	return "", false
}
