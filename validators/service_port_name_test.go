package validators_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/validators"
)

// spnWorld is a World with a sidecar namespace "mesh", an ambient namespace
// "amb" and a namespace "plain" outside the mesh.
func spnWorld(t testing.TB) *world.Memory { return ruletest.World(t, ruletest.MeshNamespaces) }

func spnService(ns string, labels map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels},
		Spec:       corev1.ServiceSpec{Ports: ports},
	}
}

func spnTarget(ns string) policy.Target {
	return policy.Target{Object: policy.ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: "web"}, Namespace: ns}
}

type spnFinding struct{ Field, Message string }

func spnRun(svc *corev1.Service, w policy.World, cfg *policy.Config) []spnFinding {
	rep := ruletest.Must(validators.ServicePortName(context.Background(), svc, spnTarget(svc.Namespace), w, cfg))
	var out []spnFinding
	for _, f := range rep.Findings {
		out = append(out, spnFinding{f.Field, f.Message})
	}
	return out
}

func TestServicePortName(t *testing.T) {
	w := spnWorld(t)
	tests := []struct {
		name  string
		ns    string
		ports []corev1.ServicePort
		want  []spnFinding
	}{
		{
			name: "valid names pass", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "http-web", Port: 81}, {Name: "grpc-web-x", Port: 82}, {Name: "tcp", Port: 83}, {Name: "HTTPS", Port: 443}},
		},
		{
			name: "http2foo fails with a concrete rename", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "http2foo", Port: 8080}},
			want:  []spnFinding{{"spec.ports[0].name", `port name "http2foo" (port 8080) does not give Istio a protocol (Istio reads the part before the first "-", which must be one of http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql): name it "http2" or "http2-foo", or keep the name (other objects, such as Ingresses or Prometheus ServiceMonitors, may refer to it) and set appProtocol: http2`}},
		},
		{
			name: "foo-http fails: protocol must come first", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "foo-http", Port: 8080}},
			want:  []spnFinding{{"spec.ports[0].name", `port name "foo-http" (port 8080) does not give Istio a protocol (Istio reads the part before the first "-", which must be one of http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql): put the protocol first: name it "http-foo", or keep the name (other objects, such as Ingresses or Prometheus ServiceMonitors, may refer to it) and set appProtocol: http`}},
		},
		{
			name: "web fails with example names", ns: "amb",
			ports: []corev1.ServicePort{{Name: "web", Port: 9000}},
			want:  []spnFinding{{"spec.ports[0].name", `port name "web" (port 9000) does not give Istio a protocol (Istio reads the part before the first "-", which must be one of http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql): name it "<protocol>[-<suffix>]", e.g. "http-web" or "tcp-web", or keep the name (other objects, such as Ingresses or Prometheus ServiceMonitors, may refer to it) and set appProtocol (e.g. http or tcp)`}},
		},
		{
			name: "unnamed port fails", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Port: 9000}},
			want:  []spnFinding{{"spec.ports[1].name", `port 9000 has no name and no appProtocol, so Istio cannot tell its protocol and only sniffs it: name it after the protocol the backend speaks (a port number does not tell: 8080 carries HTTP, gRPC or h2c alike), "<protocol>[-<suffix>]" with a protocol Istio knows (http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql), e.g. "http" or "tcp-9000" (Kubernetes also requires a name on every port of a Service with more than one), or set appProtocol (e.g. appProtocol: http)`}},
		},
		{
			// A chart that names only the container port ("http-metrics") and
			// leaves the Service port unnamed: the message proposes that name.
			name: "unnamed port suggests a targetPort name Istio can read", ns: "mesh",
			ports: []corev1.ServicePort{{Port: 9090, TargetPort: intstr.FromString("http-metrics")}},
			want:  []spnFinding{{"spec.ports[0].name", `port 9090 has no name and no appProtocol, so Istio cannot tell its protocol and only sniffs it: name it after the protocol the backend speaks (a port number does not tell: 8080 carries HTTP, gRPC or h2c alike), "<protocol>[-<suffix>]" with a protocol Istio knows (http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql), e.g. "http-metrics" like its targetPort, or set appProtocol (e.g. appProtocol: http)`}},
		},
		{
			name: "unnamed port does not suggest a targetPort name Istio cannot read", ns: "mesh",
			ports: []corev1.ServicePort{{Port: 9090, TargetPort: intstr.FromString("metrics")}},
			want:  []spnFinding{{"spec.ports[0].name", `port 9090 has no name and no appProtocol, so Istio cannot tell its protocol and only sniffs it: name it after the protocol the backend speaks (a port number does not tell: 8080 carries HTTP, gRPC or h2c alike), "<protocol>[-<suffix>]" with a protocol Istio knows (http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql), e.g. "http" or "tcp-9090", or set appProtocol (e.g. appProtocol: http)`}},
		},
		{
			name: "one finding per bad port", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "web", Port: 9000}, {Name: "http", Port: 80}, {Name: "admin", Port: 9001}},
			want: []spnFinding{
				{"spec.ports[0].name", `port name "web" (port 9000) does not give Istio a protocol (Istio reads the part before the first "-", which must be one of http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql): name it "<protocol>[-<suffix>]", e.g. "http-web" or "tcp-web", or keep the name (other objects, such as Ingresses or Prometheus ServiceMonitors, may refer to it) and set appProtocol (e.g. http or tcp)`},
				{"spec.ports[2].name", `port name "admin" (port 9001) does not give Istio a protocol (Istio reads the part before the first "-", which must be one of http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql): name it "<protocol>[-<suffix>]", e.g. "http-admin" or "tcp-admin", or keep the name (other objects, such as Ingresses or Prometheus ServiceMonitors, may refer to it) and set appProtocol (e.g. http or tcp)`},
			},
		},
		{
			name: "appProtocol kubernetes.io/h2c makes a bad name fine", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "http2foo", Port: 8080, AppProtocol: ptr.To("kubernetes.io/h2c")}},
		},
		{
			name: "unknown appProtocol fails even with a good name", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "http", Port: 8080, AppProtocol: ptr.To("example.com/custom")}},
			want:  []spnFinding{{"spec.ports[0].appProtocol", `appProtocol "example.com/custom" (port 8080) is not a protocol Istio knows, and a set appProtocol replaces the port name, so Istio cannot tell the port's protocol and only sniffs it: set appProtocol to one of http, http2, https, grpc, grpc-web, tcp, tls, mongo, redis, mysql, kubernetes.io/h2c, kubernetes.io/ws or kubernetes.io/wss, or remove it and name the port "<protocol>[-<suffix>]"`}},
		},
		{
			name: "Kubernetes-defined appProtocol in the wrong case", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "http", Port: 8080, AppProtocol: ptr.To("kubernetes.io/H2C")}},
			want:  []spnFinding{{"spec.ports[0].appProtocol", `appProtocol "kubernetes.io/H2C" (port 8080) is not a protocol Istio knows: Istio matches the Kubernetes-defined values exactly; write "kubernetes.io/h2c"`}},
		},
		{
			name: "UDP port with any name passes", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 5353, Protocol: corev1.ProtocolUDP}},
		},
		{
			name: "well-known port 3306 named db passes", ns: "mesh",
			ports: []corev1.ServicePort{{Name: "db", Port: 3306}},
		},
		{
			name: "bad names outside the mesh are not checked", ns: "plain",
			ports: []corev1.ServicePort{{Name: "web", Port: 9000}},
		},
		{
			name: "bad names in a namespace the World does not know are not checked", ns: "elsewhere",
			ports: []corev1.ServicePort{{Name: "web", Port: 9000}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := spnRun(spnService(tt.ns, nil, tt.ports...), w, policy.DefaultConfig())
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestServicePortNameSkips(t *testing.T) {
	w := spnWorld(t)
	all := policy.DefaultConfig()
	all.ServicePorts.Scope = policy.ScopeAll
	off := policy.DefaultConfig()
	off.Rules[policy.ServicePortName] = policy.Off
	bad := corev1.ServicePort{Name: "web", Port: 9000}
	tests := []struct {
		name     string
		svc      *corev1.Service
		cfg      *policy.Config
		findings int
	}{
		{"scope all checks namespaces outside the mesh", spnService("plain", nil, bad), all, 1},
		{"scope all checks unknown namespaces", spnService("elsewhere", nil, bad), all, 1},
		{"kube-system is skipped even with scope all", spnService("kube-system", nil, bad), all, 0},
		{"kube-public is skipped", spnService("kube-public", nil, bad), all, 0},
		{"kube-node-lease is skipped", spnService("kube-node-lease", nil, bad), all, 0},
		{"label istio alone is checked", spnService("mesh", map[string]string{"istio": "ingressgateway"}, bad), all, 1},
		{"release=istio alone is checked", spnService("mesh", map[string]string{"release": "istio"}, bad), all, 1},
		{"istiod's Service is skipped", spnService("mesh", map[string]string{"istio": "pilot", "app": "istiod"}, bad), all, 0},
		{"a gateway's Service (label istio, status-port 15021) is skipped", spnService("mesh", map[string]string{"istio": "ingressgateway"}, corev1.ServicePort{Name: "status-port", Port: 15021}, bad), all, 0},
		{"Gateway Services generated by istiod are skipped", spnService("mesh", map[string]string{"gateway.istio.io/managed": "istio.io-gateway-controller"}, bad), all, 0},
		{"waypoint Services are skipped", spnService("mesh", map[string]string{"gateway.istio.io/managed": "istio.io-mesh-controller"}, bad), all, 0},
		{"east-west gateway Services are skipped", spnService("mesh", map[string]string{"gateway.istio.io/managed": "istio.io-eastwest-controller"}, bad), all, 0},
		{"agentgateway Services are skipped", spnService("mesh", map[string]string{"gateway.istio.io/managed": "istio.io-agentgateway-controller"}, bad), all, 0},
		{"agentgateway waypoint Services are skipped", spnService("mesh", map[string]string{"gateway.istio.io/managed": "istio.io-agentgateway-waypoint-controller"}, corev1.ServicePort{Name: "mesh", Port: 15008, AppProtocol: ptr.To("all")}), all, 0},
		{"another controller's managed label is checked", spnService("mesh", map[string]string{"gateway.istio.io/managed": "example.com-gateway"}, bad), all, 1},
		{"rule off", spnService("mesh", nil, bad), off, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Len(t, spnRun(tt.svc, w, tt.cfg), tt.findings)
		})
	}
}

func TestServicePortNameModes(t *testing.T) {
	for _, mode := range []policy.Mode{policy.Enforce, policy.Warn} {
		cfg := policy.DefaultConfig()
		cfg.Rules[policy.ServicePortName] = mode
		rep := ruletest.Must(validators.ServicePortName(context.Background(), spnService("mesh", nil, corev1.ServicePort{Port: 9000}), spnTarget("mesh"), spnWorld(t), cfg))
		require.Len(t, rep.Findings, 1)
		assert.Equal(t, mode, rep.Findings[0].Mode)
		assert.Equal(t, policy.ServicePortName, rep.Findings[0].Rule)
	}
}

func TestServicePortNameExternalName(t *testing.T) {
	external := func(mode policy.Mode, ports ...corev1.ServicePort) (*corev1.Service, *policy.Config) {
		svc := spnService("mesh", nil, ports...)
		svc.Spec.Type = corev1.ServiceTypeExternalName
		svc.Spec.ExternalName = "api.example.com"
		cfg := policy.DefaultConfig()
		cfg.Rules[policy.ServicePortName] = mode
		return svc, cfg
	}
	tests := []struct {
		name    string
		mode    policy.Mode
		ports   []corev1.ServicePort
		want    []string // messages' distinguishing parts, one per finding
		notType bool     // the same Service as ClusterIP
	}{
		{name: "unreadable name: istiod reads ExternalName ports too", mode: policy.Enforce,
			ports: []corev1.ServicePort{{Name: "web", Port: 9000}}, want: []string{`port name "web"`}},
		{name: "port named tcp is IST0150", mode: policy.Enforce,
			ports: []corev1.ServicePort{{Name: "tcp", Port: 443}}, want: []string{"IST0150"}},
		{name: "port named tcp is IST0150 whatever its appProtocol, as in Istio's analyzer", mode: policy.Enforce,
			ports: []corev1.ServicePort{{Name: "tcp", Port: 443, AppProtocol: ptr.To("https")}}, want: []string{"IST0150"}},
		{name: "IST0150 follows the rule's mode", mode: policy.Warn,
			ports: []corev1.ServicePort{{Name: "tcp", Port: 5432}}, want: []string{"IST0150"}},
		{name: "tcp-suffixed name is not IST0150", mode: policy.Enforce,
			ports: []corev1.ServicePort{{Name: "tcp-db", Port: 5432}}},
		{name: "https name passes", mode: policy.Enforce,
			ports: []corev1.ServicePort{{Name: "https", Port: 443}}},
		{name: "rule off", mode: policy.Off,
			ports: []corev1.ServicePort{{Name: "tcp", Port: 443}}},
		{name: "a ClusterIP Service may name a port tcp", mode: policy.Enforce, notType: true,
			ports: []corev1.ServicePort{{Name: "tcp", Port: 443}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, cfg := external(tt.mode, tt.ports...)
			if tt.notType {
				svc.Spec.Type = corev1.ServiceTypeClusterIP
				svc.Spec.ExternalName = ""
			}
			rep := ruletest.Must(validators.ServicePortName(context.Background(), svc, spnTarget("mesh"), spnWorld(t), cfg))
			require.Len(t, rep.Findings, len(tt.want))
			for i, f := range rep.Findings {
				assert.Contains(t, f.Message, tt.want[i])
				assert.Equal(t, tt.mode, f.Mode)
				assert.Equal(t, "spec.ports[0].name", f.Field)
			}
		})
	}
}

func TestServicePortNameNilInputs(t *testing.T) {
	assert.NotPanics(t, func() {
		rep := ruletest.Must(validators.ServicePortName(context.Background(), nil, spnTarget("mesh"), spnWorld(t), policy.DefaultConfig()))
		assert.Empty(t, rep.Findings)
		rep = ruletest.Must(validators.ServicePortName(context.Background(), spnService("mesh", nil, corev1.ServicePort{}), spnTarget("mesh"), nil, nil))
		assert.Empty(t, rep.Findings)
	})
}

// FuzzServicePortName: any Service the engine could decode, in any namespace,
// is judged without panicking, with at most one finding per port.
func FuzzServicePortName(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"mesh"},"spec":{"ports":[{"name":"http2foo","port":8080},{"port":80},{"name":"web","port":80,"appProtocol":"kubernetes.io/H2C"}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"mesh"},"spec":{"ports":[{"name":"grpc-web-x","port":8080},{"name":"db","port":3306},{"name":"dns","port":53,"protocol":"UDP"}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"ext","namespace":"amb"},"spec":{"type":"ExternalName","externalName":"a.example.com","ports":[{"name":"foo-http","port":80,"appProtocol":""}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"mesh","labels":{"release":"istio"}},"spec":{"ports":[{"port":1}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`,
	} {
		f.Add([]byte(s), "mesh", false)
	}
	w := spnWorld(f)
	f.Fuzz(func(t *testing.T, doc []byte, ns string, scopeAll bool) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(doc); err != nil {
			return
		}
		svc := &corev1.Service{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, svc); err != nil {
			return
		}
		cfg := policy.DefaultConfig()
		if scopeAll {
			cfg.ServicePorts.Scope = policy.ScopeAll
		}
		rep := ruletest.Must(validators.ServicePortName(context.Background(), svc, spnTarget(ns), w, cfg))
		if len(rep.Findings) > len(svc.Spec.Ports) {
			t.Fatalf("%d findings for %d ports", len(rep.Findings), len(svc.Spec.Ports))
		}
		for _, f := range rep.Findings {
			if f.Message == "" || f.Field == "" {
				t.Fatalf("finding without message or field: %+v", f)
			}
		}
	})
}

func BenchmarkServicePortName(b *testing.B) {
	w := spnWorld(b)
	cfg := policy.DefaultConfig()
	svc := spnService("mesh", nil,
		corev1.ServicePort{Name: "http", Port: 80},
		corev1.ServicePort{Name: "grpc-api", Port: 9090},
		corev1.ServicePort{Name: "http2foo", Port: 8080},
		corev1.ServicePort{Name: "metrics", Port: 9102},
		corev1.ServicePort{Name: "db", Port: 3306},
	)
	tgt := spnTarget("mesh")
	b.ReportAllocs()
	for b.Loop() {
		ruletest.Must(validators.ServicePortName(context.Background(), svc, tgt, w, cfg))
	}
}
