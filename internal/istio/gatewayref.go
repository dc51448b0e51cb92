package istio

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MeshGateway is the reserved gateway name that binds a VirtualService to the
// mesh's sidecars rather than to a Gateway.
const MeshGateway = "mesh"

// GatewayRef is a VirtualService gateway reference resolved the way istiod
// resolves it.
type GatewayRef struct {
	// Namespace and Name of the referenced networking.istio.io Gateway.
	Namespace, Name string
	// Mesh is true for the reserved name "mesh".
	Mesh bool
	// Form says how it was written: "mesh", "short", "qualified" or "legacy".
	Form string
}

// The forms of a gateway reference.
const (
	RefMesh      = "mesh"
	RefShort     = "short"
	RefQualified = "qualified"
	RefLegacy    = "legacy"
)

// String renders the resolved reference as namespace/name (or "mesh").
func (r GatewayRef) String() string {
	if r.Mesh {
		return MeshGateway
	}
	return r.Namespace + "/" + r.Name
}

// ResolveGatewayRef resolves a gateway reference written in a VirtualService in
// namespace vsNamespace, as istiod's resolveGatewayName does
// (pilot/pkg/model/config.go):
//   - "mesh" is reserved;
//   - "<ns>/<name>" is taken as written;
//   - a short name (no "/" and no ".") is in the VirtualService's namespace;
//   - the legacy dotted form maps the first label to the name and the second to
//     the namespace and ignores the rest ("gw.infra" and
//     "gw.infra.svc.cluster.local" are both infra/gw).
//
// It returns an error for references Istio's validation rejects (and istiod
// could not resolve as meant): "./gw" and "*/gw" (namespace "." or "*"), empty
// parts, and a namespace or name that is not a DNS-1123 label. istiod itself
// would quietly turn "./gw" into the VirtualService's own namespace; meshgate
// asks for the explicit form instead.
func ResolveGatewayRef(ref, vsNamespace string) (GatewayRef, error) {
	if ref == MeshGateway {
		return GatewayRef{Mesh: true, Form: RefMesh}, nil
	}
	var out GatewayRef
	switch ns, name, qualified := strings.Cut(ref, "/"); {
	case qualified:
		out = GatewayRef{Namespace: ns, Name: name, Form: RefQualified}
	case !strings.Contains(ref, "."):
		out = GatewayRef{Namespace: vsNamespace, Name: ref, Form: RefShort}
	default:
		name, rest, _ := strings.Cut(ref, ".")
		ns, _, _ := strings.Cut(rest, ".")
		out = GatewayRef{Namespace: ns, Name: name, Form: RefLegacy}
	}
	switch {
	case ref == "":
		return out, fmt.Errorf("the gateway reference is empty")
	case out.Form == RefQualified && (out.Namespace == "." || out.Namespace == "*"):
		return out, fmt.Errorf("%q is not a namespace (a reference names one Gateway)", out.Namespace)
	case out.Namespace == "" || out.Name == "":
		return out, fmt.Errorf("the namespace and the name must both be set")
	}
	if errs := validation.IsDNS1123Label(out.Namespace); len(errs) > 0 {
		return out, fmt.Errorf("namespace %q is not valid: %s", out.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(out.Name); len(errs) > 0 {
		return out, fmt.Errorf("gateway name %q is not valid: %s", out.Name, strings.Join(errs, "; "))
	}
	return out, nil
}
