package istio

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
)

// InScopeInTree is InScope as parts of an in-tree policy, for the Service
// port rules: match constraints on Services that leave out
// SystemNamespaces, a matchCondition that leaves out Istio's own Services
// (Owned; object only: the API server gives matchConditions no
// namespaceObject) and the variables objLabels, nsLabels and inScope (the
// namespace is in the mesh, or servicePorts.scope is all).
func InScopeInTree(cfg *policy.Config) (*admissionregistrationv1.MatchResources, []admissionregistrationv1.MatchCondition, []admissionregistrationv1.Variable) {
	return intree.MatchKinds([]policy.Kind{policy.ServiceKind}, SystemNamespaces),
		// The API server compiles matchConditions without the variables.
		[]admissionregistrationv1.MatchCondition{{Name: "not-istio-managed", Expression: "!(" + OwnedCEL("object.metadata.?labels.orValue({})", "object.spec.?ports.orValue([])") + ")"}},
		append([]admissionregistrationv1.Variable{intree.ConfigVariable(intree.VarScopeAll, cfg.ServicePorts.Scope == policy.ScopeAll)},
			intree.Variables(
				"objLabels", "object.metadata.?labels.orValue({})",
				"nsLabels", "namespaceObject.metadata.?labels.orValue({})",
				"inScope", "variables."+intree.VarScopeAll+" || "+NamespaceInMeshCEL("variables.nsLabels"),
			)...)
}
