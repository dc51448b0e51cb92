package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Names of meshgate's webhooks inside its configurations.
const (
	MutatingWebhookName   = "mutate.meshgate.io"
	ValidatingWebhookName = "validate.meshgate.io"
)

// RegistrationOptions shape the webhook configurations Configurations builds.
type RegistrationOptions struct {
	// Name of both configurations (default "meshgate").
	Name string
	// ClientConfig returns how the API server reaches the handler at path.
	ClientConfig func(path string) admissionregistrationv1.WebhookClientConfig
	// FailurePolicy (default Fail).
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds (default 10).
	TimeoutSeconds int32
	// ExcludeNamespaces are never sent to meshgate (kube-system and
	// kube-node-lease always are excluded; add meshgate's own).
	ExcludeNamespaces []string
	// ObjectSelector, when set, limits both webhooks to matching objects.
	ObjectSelector *metav1.LabelSelector
}

// Configurations returns the webhook configurations that send the API server's
// requests to meshgate: mutating for Pods (CREATE), Services and Mappings
// (CREATE, UPDATE); validating for Services, Pods, VirtualServices, Gateway API
// routes, Mappings and TLSContexts. Both declare sideEffects None (so
// --dry-run=server requests reach them), admissionReviewVersions v1 and
// matchPolicy Equivalent; the mutating one is re-invoked if a later webhook
// (Istio's injector) changes the object.
func Configurations(o RegistrationOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	if o.Name == "" {
		o.Name = "meshgate"
	}
	if o.FailurePolicy == "" {
		o.FailurePolicy = admissionregistrationv1.Fail
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 10
	}
	excluded := append([]string{"kube-system", "kube-node-lease"}, o.ExcludeNamespaces...)
	nsSel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excluded,
	}}}
	objSel := o.ObjectSelector
	if objSel == nil {
		objSel = &metav1.LabelSelector{}
	}
	create := []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	createUpdate := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	rule := func(ops []admissionregistrationv1.OperationType, group string, versions []string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{group}, APIVersions: versions, Resources: resources,
				Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}
	}
	v1 := []string{"v1"}
	emissary := []string{"v2", "v3alpha1"}
	istio := []string{"v1", "v1beta1", "v1alpha3"}
	gatewayAPI := []string{"*"}
	sideEffects := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent

	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         MutatingWebhookName,
			ClientConfig: o.ClientConfig(MutatePath),
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule(create, "", v1, "pods"),
				rule(createUpdate, "", v1, "services"),
				rule(createUpdate, "getambassador.io", emissary, "mappings"),
			},
			FailurePolicy:           ptr.To(o.FailurePolicy),
			MatchPolicy:             &equivalent,
			NamespaceSelector:       nsSel,
			ObjectSelector:          objSel,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          ptr.To(o.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		}},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         ValidatingWebhookName,
			ClientConfig: o.ClientConfig(ValidatePath),
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule(create, "", v1, "pods"),
				rule(createUpdate, "", v1, "services"),
				rule(createUpdate, "networking.istio.io", istio, "virtualservices"),
				rule(createUpdate, "gateway.networking.k8s.io", gatewayAPI, "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes"),
				rule(createUpdate, "getambassador.io", emissary, "mappings", "tlscontexts"),
			},
			FailurePolicy:           ptr.To(o.FailurePolicy),
			MatchPolicy:             &equivalent,
			NamespaceSelector:       nsSel,
			ObjectSelector:          objSel,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          ptr.To(o.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	return mutating, validating
}

// URLClientConfig returns a ClientConfig function for a server reached at
// baseURL (for example "https://127.0.0.1:9443") and trusted through caBundle.
func URLClientConfig(baseURL string, caBundle []byte) func(string) admissionregistrationv1.WebhookClientConfig {
	return func(path string) admissionregistrationv1.WebhookClientConfig {
		url := baseURL + path
		return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
	}
}
