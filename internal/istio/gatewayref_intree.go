package istio

import (
	"fmt"
	"strings"

	"github.com/meshgate/meshgate/internal/intree"
)

// ResolveGatewayRefCEL is ResolveGatewayRef of the CEL string ref written in
// a VirtualService in the namespace the CEL string vsNamespace names: the
// reference's namespace and name, as CEL strings.
func ResolveGatewayRefCEL(ref, vsNamespace string) (namespace, name string) {
	qualified := fmt.Sprintf("%s.contains('%s')", ref, refNamespaceSep)
	sep := fmt.Sprintf("%s.indexOf('%s')", ref, refNamespaceSep)
	legacy := fmt.Sprintf("%s.contains('%s')", ref, refLegacySep)
	rest := fmt.Sprintf("%s.substring(%s.indexOf('%s') + 1)", ref, ref, refLegacySep)
	namespace = fmt.Sprintf("(%s ? %s.substring(0, %s) : !%s ? %s : %s.contains('%s') ? %s.substring(0, %s.indexOf('%s')) : %s)",
		qualified, ref, sep, legacy, vsNamespace, rest, refLegacySep, rest, rest, refLegacySep, rest)
	name = fmt.Sprintf("(%s ? %s.substring(%s + 1) : !%s ? %s : %s.substring(0, %s.indexOf('%s')))",
		qualified, ref, sep, legacy, ref, ref, ref, refLegacySep)
	return namespace, name
}

// GatewayRefErrorCEL is the error ResolveGatewayRef returns for the CEL
// string ref, which is not MeshGateway, resolved to the CEL strings
// namespace and name (ResolveGatewayRefCEL), as a CEL string: "" when none.
func GatewayRefErrorCEL(ref, namespace, name string) string {
	var not []string
	for _, n := range notNamespaces {
		not = append(not, fmt.Sprintf("%s == '%s'", namespace, n))
	}
	return fmt.Sprintf("(%s == '' ? %s : %s.contains('%s') && (%s) ? %s : %s == '' || %s == '' ? %s : !%s ? %s : %s)",
		ref, intree.String(ErrEmptyRef),
		ref, refNamespaceSep, strings.Join(not, " || "), intree.Format(ErrNotANamespace, namespace),
		namespace, name, intree.String(ErrMissingPart),
		intree.ValidDNSLabel(namespace), intree.Format(ErrInvalidNamespace, namespace, intree.DNSLabelErrors(namespace)),
		intree.Format(ErrInvalidName, name, intree.DNSLabelErrors(name)))
}
