package istio

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
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
	return r.Namespace + refNamespaceSep + r.Name
}

// How a reference is written: "<ns>/<name>", or the legacy dotted form.
const (
	refNamespaceSep = "/"
	refLegacySep    = "."
)

// notNamespaces are what a qualified reference may not name as its namespace.
var notNamespaces = []string{".", "*"}

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
	switch ns, name, qualified := strings.Cut(ref, refNamespaceSep); {
	case qualified:
		out = GatewayRef{Namespace: ns, Name: name, Form: RefQualified}
	case !strings.Contains(ref, refLegacySep):
		out = GatewayRef{Namespace: vsNamespace, Name: ref, Form: RefShort}
	default:
		name, rest, _ := strings.Cut(ref, refLegacySep)
		ns, _, _ := strings.Cut(rest, refLegacySep)
		out = GatewayRef{Namespace: ns, Name: name, Form: RefLegacy}
	}
	switch {
	case ref == "":
		return out, errors.New(ErrEmptyRef)
	case out.Form == RefQualified && slices.Contains(notNamespaces, out.Namespace):
		return out, fmt.Errorf(ErrNotANamespace, out.Namespace)
	case out.Namespace == "" || out.Name == "":
		return out, errors.New(ErrMissingPart)
	}
	if errs := validation.IsDNS1123Label(out.Namespace); len(errs) > 0 {
		return out, fmt.Errorf(ErrInvalidNamespace, out.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(out.Name); len(errs) > 0 {
		return out, fmt.Errorf(ErrInvalidName, out.Name, strings.Join(errs, "; "))
	}
	return out, nil
}

// The errors of ResolveGatewayRef, as format strings (the in-tree form of
// virtualservice-gateway-ref says the same in CEL).
const (
	ErrEmptyRef         = "the gateway reference is empty"
	ErrNotANamespace    = "%q is not a namespace (a reference names one Gateway)"
	ErrMissingPart      = "the namespace and the name must both be set"
	ErrInvalidNamespace = "namespace %q is not valid: %s"
	ErrInvalidName      = "gateway name %q is not valid: %s"
)

// AllowedNamespaces is what the owner of an Istio Gateway shares it with: the
// meshgate.io/allowed-namespaces annotation (policy.AnnotationAllowedNamespaces),
// read by ParseAllowedNamespaces.
type AllowedNamespaces struct {
	// All: every namespace ("*").
	All bool
	// Names are the namespaces named in a comma list.
	Names []string
	// Selector selects namespaces by their labels ("selector:" form).
	Selector labels.Selector
}

// SelectorPrefix starts the label selector form of the annotation.
const SelectorPrefix = "selector:"

// ParseAllowedNamespaces reads the annotation's value: "*" (every namespace),
// a comma list of namespace names ("auth, oauth2-proxy"), or "selector:"
// followed by a Kubernetes label selector over the namespaces' labels
// ("selector: team in (web, data)"; every namespace has the label
// kubernetes.io/metadata.name). Anything else is an error that says why.
func ParseAllowedNamespaces(v string) (AllowedNamespaces, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "*":
		return AllowedNamespaces{All: true}, nil
	case strings.HasPrefix(v, SelectorPrefix):
		expr := strings.TrimSpace(strings.TrimPrefix(v, SelectorPrefix))
		if expr == "" {
			return AllowedNamespaces{}, fmt.Errorf("the selector is empty (write \"*\" to share with every namespace)")
		}
		sel, err := labels.Parse(expr)
		if err != nil {
			return AllowedNamespaces{}, fmt.Errorf("the selector %q is not a label selector: %w", expr, err)
		}
		return AllowedNamespaces{Selector: sel}, nil
	case v == "":
		return AllowedNamespaces{}, fmt.Errorf("it is empty (write namespace names separated by commas, %q followed by a label selector, or \"*\")", SelectorPrefix)
	}
	var out AllowedNamespaces
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			return AllowedNamespaces{}, fmt.Errorf("%q is not a namespace name (write namespace names separated by commas, %q followed by a label selector, or \"*\")", n, SelectorPrefix)
		}
		out.Names = append(out.Names, n)
	}
	return out, nil
}

// NeedsLabels reports whether Admits must be given ns's labels to decide.
func (a AllowedNamespaces) NeedsLabels(ns string) bool {
	return !a.All && a.Selector != nil && !slices.Contains(a.Names, ns)
}

// Admits reports whether VirtualServices in namespace ns, whose labels are
// nsLabels, may bind the Gateway.
func (a AllowedNamespaces) Admits(ns string, nsLabels map[string]string) bool {
	return a.All || slices.Contains(a.Names, ns) || (a.Selector != nil && a.Selector.Matches(labels.Set(nsLabels)))
}
