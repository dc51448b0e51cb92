package istio_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
)

func ptr(s string) *string { return &s }

func TestConvert(t *testing.T) {
	tests := []struct {
		name        string
		port        int32
		portName    string
		l4          corev1.Protocol
		appProtocol *string
		want        istio.Instance
		source      istio.Source
	}{
		{"UDP wins over a TCP-ish name", 8080, "http", corev1.ProtocolUDP, nil, istio.UDP, istio.FromL4},
		{"UDP wins over appProtocol", 8080, "", corev1.ProtocolUDP, ptr("http"), istio.UDP, istio.FromL4},
		{"UDP on a well-known port", 53, "dns", corev1.ProtocolUDP, nil, istio.UDP, istio.FromL4},
		{"plain http name", 80, "http", corev1.ProtocolTCP, nil, istio.HTTP, istio.FromName},
		{"empty L4 protocol defaults to TCP reading", 80, "http", "", nil, istio.HTTP, istio.FromName},
		{"http with suffix", 80, "http-web", corev1.ProtocolTCP, nil, istio.HTTP, istio.FromName},
		{"name is case-insensitive", 80, "HTTP-Web", corev1.ProtocolTCP, nil, istio.HTTP, istio.FromName},
		{"http2 with suffix", 80, "http2-foo", corev1.ProtocolTCP, nil, istio.HTTP2, istio.FromName},
		{"http2foo is not http2", 80, "http2foo", corev1.ProtocolTCP, nil, istio.Unsupported, istio.FromName},
		{"protocol after the dash does not count", 80, "foo-http", corev1.ProtocolTCP, nil, istio.Unsupported, istio.FromName},
		{"no protocol in the name", 80, "web", corev1.ProtocolTCP, nil, istio.Unsupported, istio.FromName},
		{"unnamed port", 8000, "", corev1.ProtocolTCP, nil, istio.Unsupported, istio.FromName},
		{"grpc-web exact", 8080, "grpc-web", corev1.ProtocolTCP, nil, istio.GRPCWeb, istio.FromName},
		{"grpc-web prefix without dash after it", 8080, "grpc-webx", corev1.ProtocolTCP, nil, istio.GRPCWeb, istio.FromName},
		{"grpc-web prefix is case-insensitive", 8080, "GRPC-Web-x", corev1.ProtocolTCP, nil, istio.GRPCWeb, istio.FromName},
		{"grpc with suffix", 9090, "grpc-api", corev1.ProtocolTCP, nil, istio.GRPC, istio.FromName},
		{"tcp", 9000, "tcp", corev1.ProtocolTCP, nil, istio.TCP, istio.FromName},
		{"tls", 9000, "tls-passthrough", corev1.ProtocolTCP, nil, istio.TLS, istio.FromName},
		{"https", 443, "https", corev1.ProtocolTCP, nil, istio.HTTPS, istio.FromName},
		{"mongo", 27018, "mongo", corev1.ProtocolTCP, nil, istio.Mongo, istio.FromName},
		{"redis", 6379, "redis-main", corev1.ProtocolTCP, nil, istio.Redis, istio.FromName},
		{"mysql", 3307, "mysql", corev1.ProtocolTCP, nil, istio.MySQL, istio.FromName},
		{"http_proxy", 3128, "http_proxy", corev1.ProtocolTCP, nil, istio.HTTPProxy, istio.FromName},
		{"a TCP port named udp reads as UDP, as in istiod", 9000, "udp-x", corev1.ProtocolTCP, nil, istio.UDP, istio.FromName},
		{"SCTP is read like TCP", 9000, "http", corev1.ProtocolSCTP, nil, istio.HTTP, istio.FromName},
		{"well-known port 3306 with an unreadable name is TCP", 3306, "db", corev1.ProtocolTCP, nil, istio.TCP, istio.FromWellKnownPort},
		{"well-known port 25 unnamed is TCP", 25, "", corev1.ProtocolTCP, nil, istio.TCP, istio.FromWellKnownPort},
		{"well-known port 53 unnamed is TCP", 53, "", corev1.ProtocolTCP, nil, istio.TCP, istio.FromWellKnownPort},
		{"well-known port 27017 unnamed is TCP", 27017, "", corev1.ProtocolTCP, nil, istio.TCP, istio.FromWellKnownPort},
		{"a readable name on a well-known port keeps its protocol", 3306, "http", corev1.ProtocolTCP, nil, istio.HTTP, istio.FromName},
		{"appProtocol replaces the name", 80, "web", corev1.ProtocolTCP, ptr("http"), istio.HTTP, istio.FromAppProtocol},
		{"appProtocol replaces a readable name", 80, "http", corev1.ProtocolTCP, ptr("foo.example.com/bar"), istio.Unsupported, istio.FromAppProtocol},
		{"empty appProtocol replaces the name too", 80, "http", corev1.ProtocolTCP, ptr(""), istio.Unsupported, istio.FromAppProtocol},
		{"kubernetes.io/h2c is HTTP2", 8080, "http2foo", corev1.ProtocolTCP, ptr("kubernetes.io/h2c"), istio.HTTP2, istio.FromAppProtocol},
		{"kubernetes.io/ws is HTTP", 8080, "", corev1.ProtocolTCP, ptr("kubernetes.io/ws"), istio.HTTP, istio.FromAppProtocol},
		{"kubernetes.io/wss is HTTPS", 8443, "", corev1.ProtocolTCP, ptr("kubernetes.io/wss"), istio.HTTPS, istio.FromAppProtocol},
		{"Kubernetes-defined values are case-sensitive", 8080, "", corev1.ProtocolTCP, ptr("kubernetes.io/H2C"), istio.Unsupported, istio.FromAppProtocol},
		{"appProtocol grpc-web prefix", 8080, "", corev1.ProtocolTCP, ptr("grpc-web"), istio.GRPCWeb, istio.FromAppProtocol},
		{"appProtocol is case-insensitive", 8080, "", corev1.ProtocolTCP, ptr("HTTP2"), istio.HTTP2, istio.FromAppProtocol},
		{"appProtocol prefix before dash", 8080, "", corev1.ProtocolTCP, ptr("http-alt"), istio.HTTP, istio.FromAppProtocol},
		{"unknown appProtocol on a well-known port is TCP", 3306, "mysql", corev1.ProtocolTCP, ptr("example.com/db"), istio.TCP, istio.FromWellKnownPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := istio.Convert(tt.port, tt.portName, tt.l4, tt.appProtocol)
			assert.Equal(t, tt.want, got.Protocol)
			assert.Equal(t, tt.source, got.Source)
			p := corev1.ServicePort{Port: tt.port, Name: tt.portName, Protocol: tt.l4, AppProtocol: tt.appProtocol}
			inst, known := istio.ForServicePort(p)
			assert.Equal(t, tt.want, inst)
			assert.Equal(t, tt.want != istio.Unsupported, known)
		})
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]istio.Instance{
		"tcp": istio.TCP, "UDP": istio.UDP, "grpc": istio.GRPC, "grpc-web": istio.GRPCWeb,
		"Http": istio.HTTP, "http_proxy": istio.HTTPProxy, "HTTP2": istio.HTTP2, "https": istio.HTTPS,
		"tls": istio.TLS, "mongo": istio.Mongo, "redis": istio.Redis, "mysql": istio.MySQL,
		"": istio.Unsupported, "web": istio.Unsupported, "http-": istio.Unsupported, "doublehbone": istio.Unsupported,
	} {
		assert.Equal(t, want, istio.Parse(in), "Parse(%q)", in)
	}
}

func TestPortNameReadsBackAsTheSameProtocol(t *testing.T) {
	for _, p := range []istio.Instance{istio.TCP, istio.UDP, istio.GRPC, istio.GRPCWeb, istio.HTTP,
		istio.HTTP2, istio.HTTPS, istio.TLS, istio.Mongo, istio.Redis, istio.MySQL} {
		name, ok := istio.PortName(p)
		require.True(t, ok, "%s has a port name", p)
		assert.Equal(t, p, istio.Parse(name), "name %q", name)
		assert.Equal(t, p, istio.Convert(1234, name+"-x", corev1.ProtocolTCP, nil).Protocol, "name %q-x", name)
	}
	for _, p := range []istio.Instance{istio.HTTPProxy, istio.Unsupported, ""} {
		_, ok := istio.PortName(p)
		assert.False(t, ok, "%q has no valid port name", p)
	}
}

func TestPortNamePrefixesAreAllKnown(t *testing.T) {
	for _, p := range istio.PortNamePrefixes {
		assert.True(t, istio.Parse(p).Known(), p)
	}
}

func TestByPortNumber(t *testing.T) {
	tests := []struct {
		port int32
		want istio.Instance
		ok   bool
	}{
		{80, istio.HTTP, true},
		{443, istio.HTTPS, true},
		{8080, "", false}, // gRPC and h2c backends live there too
		{8443, "", false},
		{25, istio.TCP, true},
		{53, istio.TCP, true},
		{3306, istio.TCP, true},
		{27017, istio.TCP, true},
		{9080, "", false},
		{50051, "", false},
		{6379, "", false},
		{0, "", false},
		{-1, "", false},
	}
	for _, tt := range tests {
		got, ok := istio.ByPortNumber(tt.port)
		assert.Equal(t, tt.ok, ok, "port %d", tt.port)
		assert.Equal(t, tt.want, got, "port %d", tt.port)
	}
}

func TestInScope(t *testing.T) {
	w := world.NewMemory("default")
	for name, labels := range map[string]map[string]any{
		"sidecar": {istio.LabelIstioInjection: "enabled"},
		"rev":     {istio.LabelIstioRev: "canary"},
		"ambient": {istio.LabelDataplaneMode: "ambient"},
		"plain":   {"team": "a"},
		"off":     {istio.LabelIstioInjection: "disabled"},
	} {
		_, err := w.Add(&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels},
		}})
		require.NoError(t, err)
	}
	mesh := policy.DefaultConfig()
	all := policy.DefaultConfig()
	all.ServicePorts.Scope = policy.ScopeAll
	svc := func(labels map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Labels: labels}}
	}
	tests := []struct {
		name      string
		svc       *corev1.Service
		namespace string
		cfg       *policy.Config
		w         policy.World
		want      bool
	}{
		{"sidecar namespace", svc(nil), "sidecar", mesh, w, true},
		{"revision-labelled namespace", svc(nil), "rev", mesh, w, true},
		{"ambient namespace", svc(nil), "ambient", mesh, w, true},
		{"namespace outside the mesh", svc(nil), "plain", mesh, w, false},
		{"injection disabled", svc(nil), "off", mesh, w, false},
		{"namespace unknown to the World", svc(nil), "nowhere", mesh, w, false},
		{"no World at all", svc(nil), "sidecar", mesh, nil, false},
		{"scope all checks unmeshed namespaces", svc(nil), "plain", all, w, true},
		{"scope all checks unknown namespaces", svc(nil), "nowhere", all, nil, true},
		{"kube-system never", svc(nil), "kube-system", all, w, false},
		{"kube-public never", svc(nil), "kube-public", all, w, false},
		{"kube-node-lease never", svc(nil), "kube-node-lease", all, w, false},
		{"label istio alone is checked", svc(map[string]string{"istio": "egressgateway"}), "sidecar", all, w, true},
		{"release=istio alone is checked", svc(map[string]string{"release": "istio"}), "sidecar", all, w, true},
		{"istiod (istio=pilot, app=istiod)", svc(map[string]string{"istio": "pilot", "app": "istiod"}), "sidecar", all, w, false},
		{"istio=pilot without app=istiod is checked", svc(map[string]string{"istio": "pilot"}), "sidecar", all, w, true},
		{"gateway: label istio and status-port 15021", withPorts(svc(map[string]string{"istio": "my-gw"}), corev1.ServicePort{Name: "status-port", Port: 15021}), "sidecar", all, w, false},
		{"status-port on another number is checked", withPorts(svc(map[string]string{"istio": "ingressgateway"}), corev1.ServicePort{Name: "status-port", Port: 15020}), "sidecar", all, w, true},
		{"status-port 15021 without label istio is checked", withPorts(svc(map[string]string{"app": "gw"}), corev1.ServicePort{Name: "status-port", Port: 15021}), "sidecar", all, w, true},
		{"other release", svc(map[string]string{"release": "app"}), "sidecar", mesh, w, true},
		{"istio-managed gateway Service", svc(map[string]string{"gateway.istio.io/managed": "istio.io-gateway-controller"}), "sidecar", mesh, w, false},
		{"waypoint Service", svc(map[string]string{"gateway.istio.io/managed": "istio.io-mesh-controller"}), "ambient", mesh, w, false},
		{"east-west gateway Service", svc(map[string]string{"gateway.istio.io/managed": "istio.io-eastwest-controller"}), "ambient", mesh, w, false},
		{"agentgateway Service", svc(map[string]string{"gateway.istio.io/managed": "istio.io-agentgateway-controller"}), "sidecar", mesh, w, false},
		{"agentgateway waypoint Service", svc(map[string]string{"gateway.istio.io/managed": "istio.io-agentgateway-waypoint-controller"}), "ambient", mesh, w, false},
		{"managed label of another controller is checked", svc(map[string]string{"gateway.istio.io/managed": "example.com-gateway-controller"}), "sidecar", mesh, w, true},
		{"nil Service", nil, "sidecar", mesh, w, false},
		{"nil config", svc(nil), "sidecar", nil, w, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ruletest.Must(istio.InScope(context.Background(), tt.svc, tt.namespace, tt.w, tt.cfg)))
		})
	}
}

func TestByPortName(t *testing.T) {
	tests := []struct {
		name   string
		want   istio.Instance
		wantOK bool
	}{
		{"grpc", istio.GRPC, true},
		{"grpc-web", istio.GRPCWeb, true},
		{"http-metrics", istio.HTTP, true},
		{"tcp-db", istio.TCP, true},
		{"udp-dns", istio.UDP, true},
		{"web", istio.Unsupported, false},
		{"metrics", istio.Unsupported, false},
		{"", istio.Unsupported, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := istio.ByPortName(tt.name)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantOK, ok)
		})
	}
}

func withPorts(svc *corev1.Service, ports ...corev1.ServicePort) *corev1.Service {
	svc.Spec.Ports = ports
	return svc
}
