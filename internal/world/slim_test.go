package world

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// bookkeeping is metadata no World reads, on every object below.
const bookkeeping = `
  uid: 8d3f0b1e-1111-2222-3333-444455556666
  resourceVersion: "42"
  generation: 3
  creationTimestamp: "2026-01-02T03:04:05Z"
  labels: {app: quote, helm.sh/chart: quote-1.0.0}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"huge": "json"}'
    meta.helm.sh/release-name: quote
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: x}]
  finalizers: [example.com/keep]
  managedFields: [{manager: kubectl, operation: Apply, apiVersion: v1, fieldsType: FieldsV1, fieldsV1: {f:spec: {}}}]`

func decode(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	return u
}

func TestSlimUnstructuredKeepsWhatTheWorldReads(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "Gateway API Gateway: class and each listener's name, port, protocol, tls mode and allowedRoutes",
			in: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: shared
  namespace: infra` + bookkeeping + `
spec:
  gatewayClassName: istio
  addresses: [{value: 10.0.0.1}]
  infrastructure: {labels: {a: b}}
  listeners:
  - name: web
    port: 80
    protocol: HTTP
    hostname: "*.example.com"
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}, kinds: [{kind: HTTPRoute}]}
  - name: terminate
    port: 443
    protocol: HTTPS
    tls: {certificateRefs: [{name: cert}], options: {a: b}}
  - name: passthrough
    port: 8443
    protocol: TLS
    tls: {mode: Passthrough}
status: {conditions: [{type: Accepted, status: "True"}]}`,
			want: `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: infra, resourceVersion: "42"}
spec:
  gatewayClassName: istio
  listeners:
  - name: web
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}, kinds: [{kind: HTTPRoute}]}
  - {name: terminate, port: 443, protocol: HTTPS, tls: {}}
  - {name: passthrough, port: 8443, protocol: TLS, tls: {mode: Passthrough}}`,
		},
		{
			name: "PeerAuthentication: selector labels and mTLS mode",
			in: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: apps` + bookkeeping + `
spec:
  selector: {matchLabels: {app: quote}}
  mtls: {mode: STRICT}
  portLevelMtls: {"8080": {mode: DISABLE}}`,
			want: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: apps, resourceVersion: "42"}
spec: {selector: {matchLabels: {app: quote}}, mtls: {mode: STRICT}}`,
		},
		{
			name: "Module: the two service-resolution settings",
			in: `
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata:
  name: ambassador
  namespace: emissary` + bookkeeping + `
spec:
  config:
    use_ambassador_namespace_for_service_resolution: true
    resolver: endpoint
    diagnostics: {enabled: false}
    lua_scripts: "a long script"`,
			want: `
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: ambassador, namespace: emissary, resourceVersion: "42"}
spec: {config: {use_ambassador_namespace_for_service_resolution: true, resolver: endpoint}}`,
		},
		{
			name: "Module without config: nothing under spec",
			in: `
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: tls, namespace: emissary}
spec: {}`,
			want: `
apiVersion: getambassador.io/v3alpha1
kind: Module
metadata: {name: tls, namespace: emissary}
spec: {}`,
		},
		{
			name: "another kind: managedFields and the last-applied annotation only",
			in: `
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  annotations: {kubectl.kubernetes.io/last-applied-configuration: '{}', keep: "yes"}
  managedFields: [{manager: kubectl}]
spec: {size: 3}`,
			want: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, annotations: {keep: "yes"}}
spec: {size: 3}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := decode(t, tc.in)
			before := in.DeepCopy()
			got := Slim(in)
			assert.Equal(t, decode(t, tc.want), got)
			assert.Equal(t, before, in, "Slim does not modify its input")
			assert.Equal(t, got, Slim(got), "Slim is idempotent")
		})
	}
}

func TestSlimServiceKeepsTypeSelectorAndPorts(t *testing.T) {
	h2c := "kubernetes.io/h2c"
	policy := corev1.IPFamilyPolicySingleStack
	in := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "quote", Namespace: "apps", UID: "u", ResourceVersion: "42", Generation: 2,
			Labels:        map[string]string{"app": "quote"},
			Annotations:   map[string]string{corev1.LastAppliedConfigAnnotation: "{}"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "quote", "tier": "backend"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
				{Name: "grpc", Port: 9090, Protocol: corev1.ProtocolTCP, AppProtocol: &h2c, TargetPort: intstr.FromString("grpc")},
			},
			ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}, IPFamilyPolicy: &policy,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, SessionAffinity: corev1.ServiceAffinityNone,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
	}
	before := in.DeepCopy()
	got := Slim(in)
	require.IsType(t, &ServiceSummary{}, got)
	summary := got.(*ServiceSummary)
	assert.Equal(t, []string{"app", "quote", "tier", "backend"}, summary.Selector, "sorted by key")
	assert.Equal(t, &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "quote", Namespace: "apps", ResourceVersion: "42"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "quote", "tier": "backend"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
				{Name: "grpc", Port: 9090, Protocol: corev1.ProtocolTCP, AppProtocol: &h2c},
			},
		},
	}, summary.Service())
	assert.Equal(t, before, in, "Slim does not modify its input")
	assert.Same(t, summary, Slim(summary), "Slim is idempotent")
	assert.Equal(t, summary, summary.DeepCopyObject())

	empty := SummarizeService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "apps"}})
	assert.Equal(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "apps"}}, empty.Service(),
		"no selector and no ports stay nil")
}

func TestSlimMetadataKeepsIdentityAndNamespaceLabels(t *testing.T) {
	deleted := metav1.Now()
	meta := func(apiVersion, kind string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
			ObjectMeta: metav1.ObjectMeta{
				Name: "n", Namespace: "ns", UID: "u", ResourceVersion: "7", DeletionTimestamp: &deleted,
				Labels:        map[string]string{"istio-injection": "enabled"},
				Annotations:   map[string]string{"a": "b"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
				Finalizers:    []string{"kubernetes"},
			},
		}
	}
	identity := metav1.ObjectMeta{Name: "n", Namespace: "ns", ResourceVersion: "7", DeletionTimestamp: &deleted}
	withLabels := identity
	withLabels.Labels = map[string]string{"istio-injection": "enabled"}
	tests := []struct {
		name       string
		apiVersion string
		kind       string
		want       metav1.ObjectMeta
	}{
		{"Namespace keeps its labels", "v1", "Namespace", withLabels},
		{"TLSContext keeps its identity", "getambassador.io/v3alpha1", "TLSContext", identity},
		{"CustomResourceDefinition keeps its deletion timestamp", "apiextensions.k8s.io/v1", "CustomResourceDefinition", identity},
		{"no kind: the labels are kept in case it is a Namespace", "", "", withLabels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := meta(tc.apiVersion, tc.kind)
			before := in.DeepCopy()
			got := Slim(in)
			assert.Equal(t, &metav1.PartialObjectMetadata{TypeMeta: in.TypeMeta, ObjectMeta: tc.want}, got)
			assert.Equal(t, before, in, "Slim does not modify its input")
			assert.Equal(t, got, Slim(got), "Slim is idempotent")
		})
	}
}

func TestSlimMetadataKeepsAnIstioGatewaysSharing(t *testing.T) {
	in := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubeflow-gateway", Namespace: "kubeflow", ResourceVersion: "3",
			Labels:      map[string]string{"app": "x"},
			Annotations: map[string]string{"meshgate.io/allowed-namespaces": "auth", "other": "y"}},
	}
	want := metav1.ObjectMeta{Name: "kubeflow-gateway", Namespace: "kubeflow", ResourceVersion: "3",
		Annotations: map[string]string{"meshgate.io/allowed-namespaces": "auth"}}
	got := Slim(in)
	assert.Equal(t, &metav1.PartialObjectMetadata{TypeMeta: in.TypeMeta, ObjectMeta: want}, got)
	assert.Equal(t, got, Slim(got), "Slim is idempotent")

	other := in.DeepCopy()
	other.APIVersion = "gateway.networking.k8s.io/v1"
	assert.Nil(t, Slim(other).(*metav1.PartialObjectMetadata).Annotations, "only an Istio Gateway keeps the annotation")
	plain := in.DeepCopy()
	plain.Annotations = map[string]string{"other": "y"}
	assert.Nil(t, Slim(plain).(*metav1.PartialObjectMetadata).Annotations, "an Istio Gateway without it keeps no annotation")
}

func TestSlimLeavesOtherTypesAlone(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}}}
	assert.Same(t, pod, Slim(pod))
	assert.Equal(t, "x", Slim("x"))
}
