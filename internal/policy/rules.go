package policy

// Ids of meshgate's rules. They are stable: configuration files, metrics and CI
// reports use them. Each rule is declared (summary, kinds, function) by its own
// file in mutators/ or validators/, which registers it (see Register); a new
// rule may declare its id there too. docs/rules.md#<id> documents each.
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
