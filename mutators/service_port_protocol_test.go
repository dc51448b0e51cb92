package mutators_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/mutators"
	"github.com/meshgate/meshgate/validators"
)

// sppWorld is a World with a sidecar namespace "mesh", an ambient namespace
// "amb" and a namespace "plain" outside the mesh.
func sppWorld(t testing.TB) *world.Memory { return ruletest.World(t, ruletest.MeshNamespaces) }

func sppService(ns string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: ports, Selector: map[string]string{"app": "web"}},
	}
}

func sppTarget(ns string) policy.Target {
	return policy.Target{Object: policy.ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: "web"}, Namespace: ns}
}

// sppRun runs the mutator on a copy of svc and checks the contract: the ops
// applied to svc as submitted give exactly the mutated Service, and a second run
// changes nothing.
func sppRun(t *testing.T, svc *corev1.Service, w policy.World, cfg *policy.Config) (*corev1.Service, policy.Report) {
	t.Helper()
	got := svc.DeepCopy()
	rep := ruletest.MutationContract(t, nil, got, func() (policy.Report, error) {
		return mutators.ServicePortProtocol(context.Background(), got, sppTarget(svc.Namespace), w, cfg)
	})
	return got, rep
}

func TestServicePortProtocol(t *testing.T) {
	tcp := corev1.ProtocolTCP
	port := func(name string, number int32, appProtocol *string) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: number, Protocol: tcp, TargetPort: intstr.FromInt32(number), AppProtocol: appProtocol}
	}
	named := func(p corev1.ServicePort, target string) corev1.ServicePort {
		p.TargetPort = intstr.FromString(target)
		return p
	}
	tests := []struct {
		name string
		ns   string
		in   []corev1.ServicePort
		// wantNames and wantAppProtocols are the ports' names and appProtocols
		// ("" for unset) after the mutation.
		wantNames        []string
		wantAppProtocols []string
		wantFields       []string
	}{
		{
			name: "unnamed port 80 is named http", ns: "mesh",
			in:        []corev1.ServicePort{port("", 80, nil)},
			wantNames: []string{"http"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "unnamed port 443 in an ambient namespace is named https", ns: "amb",
			in:        []corev1.ServicePort{port("", 443, nil)},
			wantNames: []string{"https"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "unnamed port is named after its appProtocol", ns: "mesh",
			in:        []corev1.ServicePort{port("", 9000, ptr.To("kubernetes.io/h2c"))},
			wantNames: []string{"http2"}, wantAppProtocols: []string{"kubernetes.io/h2c"},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "appProtocol wins over the port number", ns: "mesh",
			in:        []corev1.ServicePort{port("", 80, ptr.To("grpc-web"))},
			wantNames: []string{"grpc-web"}, wantAppProtocols: []string{"grpc-web"},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "unknown appProtocol leaves an unnamed port alone", ns: "mesh",
			in:        []corev1.ServicePort{port("", 80, ptr.To("example.com/custom"))},
			wantNames: []string{""}, wantAppProtocols: []string{"example.com/custom"},
		},
		{
			name: "http_proxy appProtocol has no valid port name", ns: "mesh",
			in:        []corev1.ServicePort{port("", 3128, ptr.To("http_proxy"))},
			wantNames: []string{""}, wantAppProtocols: []string{"http_proxy"},
		},
		{
			name: "unnamed port with an unknown number is left for the validator", ns: "mesh",
			in:        []corev1.ServicePort{port("", 9999, nil)},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "unnamed well-known TCP port is named tcp", ns: "mesh",
			in:        []corev1.ServicePort{port("", 3306, nil)},
			wantNames: []string{"tcp"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "generated names are unique in the Service", ns: "mesh",
			in:        []corev1.ServicePort{port("http", 9000, nil), port("", 80, nil), port("", 443, nil)},
			wantNames: []string{"http", "http-80", "https"}, wantAppProtocols: []string{"", "", ""},
			wantFields: []string{"spec.ports[1].name", "spec.ports[2].name"},
		},
		{
			name: "first unnamed port gets the bare name, the next the numbered one", ns: "mesh",
			in:        []corev1.ServicePort{port("", 80, nil), port("", 9000, ptr.To("http"))},
			wantNames: []string{"http", "http-9000"}, wantAppProtocols: []string{"", "http"},
			wantFields: []string{"spec.ports[0].name", "spec.ports[1].name"},
		},
		{
			name: "unnamed port 8080 is not guessed: gRPC and h2c backends live there", ns: "mesh",
			in:        []corev1.ServicePort{port("", 8080, nil)},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "unreadable name on port 8080 is not guessed", ns: "mesh",
			in:        []corev1.ServicePort{port("first-port", 8080, nil)},
			wantNames: []string{"first-port"}, wantAppProtocols: []string{""},
		},
		{
			name: "numbered name taken too gets a counter", ns: "mesh",
			in:        []corev1.ServicePort{port("http", 9000, nil), port("http-80", 9001, nil), port("", 80, nil)},
			wantNames: []string{"http", "http-80", "http-80-2"}, wantAppProtocols: []string{"", "", ""},
			wantFields: []string{"spec.ports[2].name"},
		},
		{
			name: "unreadable name on port 80 gets appProtocol http, name kept", ns: "mesh",
			in:        []corev1.ServicePort{port("web", 80, nil)},
			wantNames: []string{"web"}, wantAppProtocols: []string{"http"},
			wantFields: []string{"spec.ports[0].appProtocol"},
		},
		{
			name: "unreadable name on port 8443 is not guessed", ns: "mesh",
			in:        []corev1.ServicePort{port("secure", 8443, nil)},
			wantNames: []string{"secure"}, wantAppProtocols: []string{""},
		},
		{
			name: "unreadable name on port 443 gets appProtocol https", ns: "mesh",
			in:        []corev1.ServicePort{port("btls", 443, nil)},
			wantNames: []string{"btls"}, wantAppProtocols: []string{"https"},
			wantFields: []string{"spec.ports[0].appProtocol"},
		},
		{
			name: "unreadable name on an unknown port is left for the validator", ns: "mesh",
			in:        []corev1.ServicePort{port("http2foo", 8081, nil)},
			wantNames: []string{"http2foo"}, wantAppProtocols: []string{""},
		},
		{
			name: "unreadable name on well-known port 3306 is already TCP", ns: "mesh",
			in:        []corev1.ServicePort{port("db", 3306, nil)},
			wantNames: []string{"db"}, wantAppProtocols: []string{""},
		},
		{
			name: "a user's appProtocol is never overwritten", ns: "mesh",
			in:        []corev1.ServicePort{port("web", 80, ptr.To("example.com/custom"))},
			wantNames: []string{"web"}, wantAppProtocols: []string{"example.com/custom"},
		},
		{
			name: "readable names are left alone", ns: "mesh",
			in:        []corev1.ServicePort{port("http-web", 80, nil), port("grpc-web-x", 8080, nil), port("tcp", 443, nil)},
			wantNames: []string{"http-web", "grpc-web-x", "tcp"}, wantAppProtocols: []string{"", "", ""},
		},
		{
			name: "UDP ports are left alone", ns: "mesh",
			in:        []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "SCTP ports are left alone", ns: "mesh",
			in:        []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolSCTP}},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "empty L4 protocol counts as TCP", ns: "mesh",
			in:        []corev1.ServicePort{{Port: 80}},
			wantNames: []string{"http"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "namespace outside the mesh is not touched", ns: "plain",
			in:        []corev1.ServicePort{port("", 80, nil)},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "namespace unknown to the World is not touched", ns: "elsewhere",
			in:        []corev1.ServicePort{port("", 80, nil)},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "kube-system is not touched", ns: "kube-system",
			in:        []corev1.ServicePort{port("", 80, nil)},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "unnamed port 80 targeting container port grpc is named grpc, not http", ns: "mesh",
			in:        []corev1.ServicePort{named(port("", 80, nil), "grpc")},
			wantNames: []string{"grpc"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "unreadable name on port 80 targeting grpc gets appProtocol grpc", ns: "mesh",
			in:        []corev1.ServicePort{named(port("web", 80, nil), "grpc")},
			wantNames: []string{"web"}, wantAppProtocols: []string{"grpc"},
			wantFields: []string{"spec.ports[0].appProtocol"},
		},
		{
			name: "unnamed port 443 targeting tcp-db is named tcp", ns: "mesh",
			in:        []corev1.ServicePort{named(port("", 443, nil), "tcp-db")},
			wantNames: []string{"tcp"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "targetPort http-web agrees with port 80", ns: "mesh",
			in:        []corev1.ServicePort{named(port("", 80, nil), "http-web")},
			wantNames: []string{"http"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "targetPort without a protocol prefix leaves port 80 HTTP", ns: "mesh",
			in:        []corev1.ServicePort{named(port("", 80, nil), "web")},
			wantNames: []string{"http"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "targetPort named for UDP on a TCP port 80: nothing is certain", ns: "mesh",
			in:        []corev1.ServicePort{named(port("", 80, nil), "udp-dns")},
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
		{
			name: "unnamed port 9090 targeting http-metrics is named http", ns: "mesh",
			in:        []corev1.ServicePort{named(port("", 9090, nil), "http-metrics")},
			wantNames: []string{"http"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "targetPort grpc-web is gRPC-Web", ns: "mesh",
			in:        []corev1.ServicePort{named(port("", 8080, nil), "grpc-web")},
			wantNames: []string{"grpc-web"}, wantAppProtocols: []string{""},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "Service without ports", ns: "mesh",
		},
	}
	w := sppWorld(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rep := sppRun(t, sppService(tt.ns, tt.in...), w, policy.DefaultConfig())
			var names, aps, fields []string
			for _, p := range got.Spec.Ports {
				names = append(names, p.Name)
				ap := ""
				if p.AppProtocol != nil {
					ap = *p.AppProtocol
				}
				aps = append(aps, ap)
			}
			for _, c := range rep.Changes {
				fields = append(fields, c.Field)
				assert.Equal(t, policy.ServicePortProtocol, c.Rule)
				assert.NotEmpty(t, c.Reason)
			}
			assert.Equal(t, tt.wantNames, names, "port names")
			assert.Equal(t, tt.wantAppProtocols, aps, "appProtocols")
			assert.Equal(t, tt.wantFields, fields, "changed fields")
			assert.Empty(t, rep.Findings)
		})
	}
}

func TestServicePortProtocolScopeAll(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ServicePorts.Scope = policy.ScopeAll
	got, rep := sppRun(t, sppService("plain", corev1.ServicePort{Port: 80}), policy.World(nil), cfg)
	require.Len(t, rep.Changes, 1)
	assert.Equal(t, "http", got.Spec.Ports[0].Name)
}

func TestServicePortProtocolReasons(t *testing.T) {
	got, rep := sppRun(t, sppService("mesh",
		corev1.ServicePort{Port: 80},
		corev1.ServicePort{Name: "web", Port: 443},
		corev1.ServicePort{Port: 9000, AppProtocol: ptr.To("kubernetes.io/h2c")},
		corev1.ServicePort{Port: 3306},
	), sppWorld(t), policy.DefaultConfig())
	require.Len(t, rep.Changes, 4)
	assert.Equal(t, `port 3306 had no name; named it "tcp", the protocol Istio already assumes for port 3306`, rep.Changes[3].Reason)
	assert.Equal(t, `port 80 had no name; named it "http" because port 80 carries HTTP; unnamed, Istio could only sniff its protocol`, rep.Changes[0].Reason)
	assert.Equal(t, `port name "web" gives Istio no protocol; set appProtocol "https" because port 443 carries HTTPS (the name is kept: other objects may refer to it)`, rep.Changes[1].Reason)
	assert.Equal(t, `port 9000 had no name; named it "http2" to match its appProtocol "kubernetes.io/h2c", which is what Istio reads (HTTP2)`, rep.Changes[2].Reason)
	assert.Equal(t, []jsonpatch.Operation{{Operation: "add", Path: "/spec/ports/0/name", Value: "http"}}, rep.Changes[0].Ops)
	assert.Equal(t, []jsonpatch.Operation{{Operation: "add", Path: "/spec/ports/1/appProtocol", Value: "https"}}, rep.Changes[1].Ops)
	assert.Equal(t, "http2", got.Spec.Ports[2].Name)

	_, rep = sppRun(t, sppService("mesh",
		corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("grpc")},
		corev1.ServicePort{Name: "web", Port: 443, TargetPort: intstr.FromString("http")},
	), sppWorld(t), policy.DefaultConfig())
	require.Len(t, rep.Changes, 2)
	assert.Equal(t, `port 80 had no name; named it "grpc" because its targetPort is the container port "grpc"; unnamed, Istio could only sniff its protocol`, rep.Changes[0].Reason)
	assert.Equal(t, `port name "web" gives Istio no protocol; set appProtocol "http" because its targetPort is the container port "http" (the name is kept: other objects may refer to it)`, rep.Changes[1].Reason)
}

func TestServicePortProtocolManyUnnamedPorts(t *testing.T) {
	var ports []corev1.ServicePort
	for i := range 40 {
		ports = append(ports, corev1.ServicePort{Name: fmt.Sprintf("http-%d", 80+i), Port: int32(9000 + i)})
	}
	ports = append(ports, corev1.ServicePort{Name: "http", Port: 9999}, corev1.ServicePort{Port: 80}, corev1.ServicePort{Port: 80})
	got, _ := sppRun(t, sppService("mesh", ports...), sppWorld(t), policy.DefaultConfig())
	seen := map[string]bool{}
	for _, p := range got.Spec.Ports {
		assert.False(t, seen[p.Name], "duplicate port name %q", p.Name)
		seen[p.Name] = true
	}
	assert.Equal(t, "http-80-2", got.Spec.Ports[41].Name)
	assert.Equal(t, "http-80-3", got.Spec.Ports[42].Name)
}

func TestServicePortProtocolNilInputs(t *testing.T) {
	assert.NotPanics(t, func() {
		rep := ruletest.Must(mutators.ServicePortProtocol(context.Background(), nil, sppTarget("mesh"), sppWorld(t), policy.DefaultConfig()))
		assert.Empty(t, rep.Changes)
		rep = ruletest.Must(mutators.ServicePortProtocol(context.Background(), sppService("mesh", corev1.ServicePort{Port: 80}), sppTarget("mesh"), nil, nil))
		assert.Empty(t, rep.Changes)
	})
}

func TestServicePortProtocolWithoutSelector(t *testing.T) {
	tests := []struct {
		name             string
		svc              *corev1.Service
		wantNames        []string
		wantAppProtocols []string
	}{
		{
			name:      "unnamed port 80 gets appProtocol, not a name",
			svc:       withoutSelector(sppService("mesh", corev1.ServicePort{Port: 80})),
			wantNames: []string{""}, wantAppProtocols: []string{"http"},
		},
		{
			name:      "unnamed port with a known appProtocol is left alone",
			svc:       withoutSelector(sppService("mesh", corev1.ServicePort{Port: 9000, AppProtocol: ptr.To("kubernetes.io/h2c")})),
			wantNames: []string{""}, wantAppProtocols: []string{"kubernetes.io/h2c"},
		},
		{
			name:      "named port with an unreadable name gets appProtocol as with a selector",
			svc:       withoutSelector(sppService("mesh", corev1.ServicePort{Name: "web", Port: 80})),
			wantNames: []string{"web"}, wantAppProtocols: []string{"http"},
		},
		{
			name: "ExternalName Service: unnamed port 443 gets appProtocol, not a name",
			svc: func() *corev1.Service {
				s := withoutSelector(sppService("mesh", corev1.ServicePort{Port: 443}))
				s.Spec.Type = corev1.ServiceTypeExternalName
				s.Spec.ExternalName = "example.com"
				return s
			}(),
			wantNames: []string{""}, wantAppProtocols: []string{"https"},
		},
		{
			name:      "unnamed port with an unknown number is left for the validator",
			svc:       withoutSelector(sppService("mesh", corev1.ServicePort{Port: 9999})),
			wantNames: []string{""}, wantAppProtocols: []string{""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rep := sppRun(t, tt.svc, sppWorld(t), policy.DefaultConfig())
			var names, aps []string
			for _, p := range got.Spec.Ports {
				names = append(names, p.Name)
				aps = append(aps, ptr.Deref(p.AppProtocol, ""))
			}
			assert.Equal(t, tt.wantNames, names, "port names")
			assert.Equal(t, tt.wantAppProtocols, aps, "appProtocols")
			for _, c := range rep.Changes {
				assert.NotContains(t, c.Field, ".name", "a port of a Service without a selector is never named")
			}
		})
	}
}

func withoutSelector(s *corev1.Service) *corev1.Service {
	s.Spec.Selector = nil
	return s
}

// TestServicePortProtocolEdgeProxyServices runs the Services of Emissary's and
// Ambassador's charts and plain YAML, as they render, through the mutator and
// the validator: the ports Emissary fixes get appProtocol, names are kept, and
// nothing is denied.
func TestServicePortProtocolEdgeProxyServices(t *testing.T) {
	adminPorts := []corev1.ServicePort{
		{Name: "ambassador-admin", Port: 8877, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("admin")},
		{Name: "ambassador-snapshot", Port: 8005, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8005)},
	}
	chartLabels := map[string]string{"app.kubernetes.io/name": "emissary-ingress", "app.kubernetes.io/instance": "edge", "product": "aes"}
	chartSelector := map[string]string{"app.kubernetes.io/name": "emissary-ingress", "app.kubernetes.io/instance": "edge"}
	svc := func(labels, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
		s := sppService("mesh", ports...)
		s.Labels = labels
		s.Spec.Selector = selector
		return s
	}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for mk, mv := range m {
			out[mk] = mv
		}
		return out
	}
	tests := []struct {
		name             string
		svc              *corev1.Service
		cfg              func(*policy.Config)
		wantAppProtocols []string
		wantDenied       bool
	}{
		{
			name:             "Emissary 3.x chart admin Service",
			svc:              svc(with(chartLabels, "service", "ambassador-admin"), chartSelector, adminPorts...),
			wantAppProtocols: []string{"http", "http"},
		},
		{
			name: "Emissary 3.x chart main Service: names already readable",
			svc: svc(with(chartLabels, "app.kubernetes.io/component", "ambassador-service"), with(chartSelector, "profile", "main"),
				corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
				corev1.ServicePort{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)}),
			wantAppProtocols: []string{"", ""},
		},
		{
			name:             "admin Service recognised by the ServiceMonitor label alone",
			svc:              svc(map[string]string{"service": "ambassador-admin"}, map[string]string{"app": "gw"}, adminPorts...),
			wantAppProtocols: []string{"http", "http"},
		},
		{
			name: "Ambassador 1.x plain YAML admin Service: selector service=ambassador",
			svc: svc(map[string]string{"app.kubernetes.io/managed-by": "getambassador.io"}, map[string]string{"service": "ambassador"},
				corev1.ServicePort{Name: "ambassador-admin", Port: 8877, TargetPort: intstr.FromInt32(8877)}),
			wantAppProtocols: []string{"http"},
		},
		{
			name: "selector matching a configured edgeProxy selector",
			svc:  svc(nil, map[string]string{"app": "gw", "tier": "edge"}, adminPorts...),
			cfg: func(c *policy.Config) {
				c.EdgeProxy.Selectors = []map[string]string{{"app": "gw"}}
			},
			wantAppProtocols: []string{"http", "http"},
		},
		{
			name:             "a Service that is not the edge proxy's gets nothing for port 8877",
			svc:              svc(nil, map[string]string{"app": "web"}, adminPorts...),
			wantAppProtocols: []string{"", ""}, wantDenied: true,
		},
		{
			name: "other ports of the edge proxy's Service are not guessed",
			svc: svc(chartLabels, chartSelector,
				corev1.ServicePort{Name: "ssh", Port: 2222, TargetPort: intstr.FromInt32(2222)}),
			wantAppProtocols: []string{""}, wantDenied: true,
		},
		{
			name: "a user's appProtocol on the admin port is kept",
			svc: svc(chartLabels, chartSelector,
				corev1.ServicePort{Name: "ambassador-admin", Port: 8877, TargetPort: intstr.FromString("admin"), AppProtocol: ptr.To("example.com/x")}),
			wantAppProtocols: []string{"example.com/x"}, wantDenied: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := policy.DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			w := sppWorld(t)
			got, _ := sppRun(t, tt.svc, w, cfg)
			findings := ruletest.Must(validators.ServicePortName(context.Background(), got, sppTarget("mesh"), w, cfg)).Findings
			if tt.wantDenied {
				assert.NotEmpty(t, findings, "the validator reports what the mutator could not infer")
			} else {
				assert.Empty(t, findings, "mutated, the Service passes service-port-name")
			}
			var names, wantNames, aps []string
			for i, p := range got.Spec.Ports {
				names = append(names, p.Name)
				wantNames = append(wantNames, tt.svc.Spec.Ports[i].Name)
				aps = append(aps, ptr.Deref(p.AppProtocol, ""))
			}
			assert.Equal(t, wantNames, names, "names are kept")
			assert.Equal(t, tt.wantAppProtocols, aps, "appProtocols")
		})
	}
}
