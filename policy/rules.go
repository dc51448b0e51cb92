package policy

// Rule ids. They are stable: configuration files, metrics and CI reports use them.
const (
	// EdgeProxyIstioCerts wires Istio's certificates into edge-proxy (Emissary) pods.
	EdgeProxyIstioCerts = "edge-proxy-istio-certs"
	// ServicePortProtocol names unnamed Service ports and adds appProtocol where Istio
	// could not parse the port otherwise.
	ServicePortProtocol = "service-port-protocol"
	// MappingIstioTLS adds the Istio TLSContext and an explicit port to Mappings whose
	// upstream is in a sidecar-mode mesh namespace.
	MappingIstioTLS = "mapping-istio-tls"
	// ServicePortName rejects Service ports whose protocol Istio cannot determine.
	ServicePortName = "service-port-name"
	// VirtualServiceGatewayRef rejects VirtualService gateway references that do not
	// resolve the way the author meant.
	VirtualServiceGatewayRef = "virtualservice-gateway-ref"
	// RouteParentRef rejects Gateway API routes whose cross-namespace parentRef the
	// Gateway would not accept.
	RouteParentRef = "route-parent-ref"
	// MappingTLSContext checks that a Mapping's TLSContext exists and that the Istio
	// TLSContext is set up the way Emissary needs.
	MappingTLSContext = "mapping-tls-context"
	// EdgeProxyWiring warns about edge-proxy pods in sidecar namespaces that end up
	// without the Istio certificate wiring.
	EdgeProxyWiring = "edge-proxy-wiring"
)

// RuleInfo describes one rule for documentation, config validation and metrics.
type RuleInfo struct {
	ID       string
	Mutation bool
	Default  Mode
	Summary  string
}

// Rules lists every rule, mutations first, in the order the engine runs them.
var Rules = []RuleInfo{
	{EdgeProxyIstioCerts, true, Warn, "wire Istio certificates into edge-proxy pods (conflicts are reported with this mode)"},
	{ServicePortProtocol, true, Warn, "name unnamed Service ports and add appProtocol where the protocol is clear from the port number"},
	{MappingIstioTLS, true, Warn, "add tls and an explicit port to Mappings whose upstream is in a sidecar-mode mesh namespace"},
	{ServicePortName, false, Enforce, "Service port names must give Istio a known protocol"},
	{VirtualServiceGatewayRef, false, Enforce, "VirtualService gateway references must resolve to the intended Gateway"},
	{RouteParentRef, false, Enforce, "cross-namespace route parentRefs must be allowed by the Gateway's allowedRoutes"},
	{MappingTLSContext, false, Enforce, "a Mapping's TLSContext must exist and the Istio TLSContext must be wired correctly"},
	{EdgeProxyWiring, false, Warn, "edge-proxy pods in sidecar namespaces should carry the Istio certificate wiring"},
}

// LookupRule returns the RuleInfo for id.
func LookupRule(id string) (RuleInfo, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return RuleInfo{}, false
}
