package istio

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/internal/policy"
)

// Namespace classes by the Istio labels that decide a namespace's data plane
// (NamespaceDataPlane), as label selector requirements for webhook
// registrations. Each is one label selector; they are disjoint, so webhooks on
// different classes never both match one namespace.
var (
	// NamespacesInjection: istio-injection=enabled (sidecar, Istio's
	// namespace.sidecar-injector webhook).
	NamespacesInjection = []metav1.LabelSelectorRequirement{
		{Key: LabelIstioInjection, Operator: metav1.LabelSelectorOpIn, Values: []string{injectionEnabled}},
	}
	// NamespacesRevision: istio.io/rev and no istio-injection (sidecar, the
	// rev.namespace webhook).
	NamespacesRevision = []metav1.LabelSelectorRequirement{
		{Key: LabelIstioInjection, Operator: metav1.LabelSelectorOpDoesNotExist},
		{Key: LabelIstioRev, Operator: metav1.LabelSelectorOpExists},
	}
	// NamespacesInjectionOff: istio-injection set to anything but enabled.
	NamespacesInjectionOff = []metav1.LabelSelectorRequirement{
		{Key: LabelIstioInjection, Operator: metav1.LabelSelectorOpExists},
		{Key: LabelIstioInjection, Operator: metav1.LabelSelectorOpNotIn, Values: []string{injectionEnabled}},
	}
	// NamespacesNoInjectionLabel: neither istio-injection nor istio.io/rev.
	NamespacesNoInjectionLabel = []metav1.LabelSelectorRequirement{
		{Key: LabelIstioInjection, Operator: metav1.LabelSelectorOpDoesNotExist},
		{Key: LabelIstioRev, Operator: metav1.LabelSelectorOpDoesNotExist},
	}
	// NamespacesAmbient: the ambient ones of NamespacesNoInjectionLabel.
	NamespacesAmbient = append(clone(NamespacesNoInjectionLabel), ambientLabel)
	// NamespacesInjectionOffAmbient: the ambient ones of NamespacesInjectionOff.
	NamespacesInjectionOffAmbient = append(clone(NamespacesInjectionOff), ambientLabel)
)

var ambientLabel = metav1.LabelSelectorRequirement{Key: LabelDataplaneMode, Operator: metav1.LabelSelectorOpIn, Values: []string{string(Ambient)}}

func clone(reqs []metav1.LabelSelectorRequirement) []metav1.LabelSelectorRequirement {
	return append([]metav1.LabelSelectorRequirement(nil), reqs...)
}

// MeshNamespaces are the webhooks' namespace classes whose union is the
// namespaces NamespaceDataPlane puts in the mesh (sidecar or ambient): an
// ordinary pod there gets a sidecar or is enrolled in ambient. It is a
// superset by name only (Istio's injector never injects in kube-public or
// local-path-storage, whatever their labels).
func MeshNamespaces() []policy.AdmissionWebhook {
	return []policy.AdmissionWebhook{
		{Name: "injection", Namespaces: NamespacesInjection},
		{Name: "revision", Namespaces: NamespacesRevision},
		{Name: "ambient", Namespaces: NamespacesAmbient},
		{Name: "injection-off-ambient", Namespaces: NamespacesInjectionOffAmbient},
	}
}

// notIstioOwned is the match condition that leaves out the Services InScope
// never checks whatever the namespace: Istio's own (Owned).
var notIstioOwned = admissionregistrationv1.MatchCondition{
	Name:       "not-istio-owned",
	Expression: "!(" + OwnedCEL("(has(object.metadata.labels) ? object.metadata.labels : {})", "(has(object.spec.ports) ? object.spec.ports : [])") + ")",
}

// OwnedCEL is Owned as a CEL expression over the Service's labels (a CEL
// map) and ports (a CEL list), with no optional types (webhook match
// conditions) and no variables (the API server compiles matchConditions
// without them).
func OwnedCEL(labels, ports string) string {
	label := func(k string) string { return fmt.Sprintf("('%s' in %s ? %s['%s'] : '')", k, labels, labels, k) }
	// The status port among the first gatewayStatusScan ports, each indexed,
	// so that the condition's cost does not grow with the Service's ports.
	var status []string
	for i := 0; i < gatewayStatusScan; i++ {
		status = append(status, fmt.Sprintf("(size(%s) > %d && has(%s[%d].name) && %s[%d].name == '%s' && %s[%d].port == %d)",
			ports, i, ports, i, ports, i, gatewayStatus, ports, i, gatewayStatusNum))
	}
	return fmt.Sprintf("%s in ['%s'] || (%s == '%s' && %s == '%s') || ('%s' in %s && (%s))",
		label(labelGatewayManaged), strings.Join(ManagedGatewayValues, "', '"),
		label(labelIstio), istiodIstio, label(labelApp), istiodApp,
		labelIstio, labels, strings.Join(status, " || "))
}

// ServiceAdmission is the admission scope of the Service port rules, InScope
// as a registration: with servicePorts.scope "mesh" the mesh namespaces
// (MeshNamespaces), with "all" every namespace; in both, no Service of Istio's
// own.
var ServiceAdmission = &policy.AdmissionScope{
	ID:      "mesh-services",
	Setting: policy.SettingServicePortsScope,
	Variants: map[string][]policy.AdmissionWebhook{
		policy.ScopeMesh: withConditions(MeshNamespaces(), notIstioOwned),
		policy.ScopeAll:  {{Conditions: []admissionregistrationv1.MatchCondition{notIstioOwned}}},
	},
}

func withConditions(hooks []policy.AdmissionWebhook, conds ...admissionregistrationv1.MatchCondition) []policy.AdmissionWebhook {
	for i := range hooks {
		hooks[i].Conditions = append(hooks[i].Conditions, conds...)
	}
	return hooks
}
