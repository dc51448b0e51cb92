package mutators_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/mutators"
	"github.com/meshgate/meshgate/policy"
	"github.com/meshgate/meshgate/world"
)

func sppStr(s string) *string { return &s }

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
	before, err := json.Marshal(svc)
	require.NoError(t, err)
	got := svc.DeepCopy()
	rep := ruletest.Must(mutators.ServicePortProtocol(context.Background(), got, sppTarget(svc.Namespace), w, cfg))

	if ops := rep.Ops(); len(ops) > 0 {
		patched := ruletest.ApplyOps(t, before, ops)
		want, err := json.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(patched), "the ops must make the same change as the mutator")
	}
	again := got.DeepCopy()
	rep2 := ruletest.Must(mutators.ServicePortProtocol(context.Background(), again, sppTarget(svc.Namespace), w, cfg))
	require.Empty(t, rep2.Changes, "a second run must change nothing")
	require.Equal(t, got, again)
	return got, rep
}

func TestServicePortProtocol(t *testing.T) {
	tcp := corev1.ProtocolTCP
	port := func(name string, number int32, appProtocol *string) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: number, Protocol: tcp, TargetPort: intstr.FromInt32(number), AppProtocol: appProtocol}
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
			in:        []corev1.ServicePort{port("", 9000, sppStr("kubernetes.io/h2c"))},
			wantNames: []string{"http2"}, wantAppProtocols: []string{"kubernetes.io/h2c"},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "appProtocol wins over the port number", ns: "mesh",
			in:        []corev1.ServicePort{port("", 80, sppStr("grpc-web"))},
			wantNames: []string{"grpc-web"}, wantAppProtocols: []string{"grpc-web"},
			wantFields: []string{"spec.ports[0].name"},
		},
		{
			name: "unknown appProtocol leaves an unnamed port alone", ns: "mesh",
			in:        []corev1.ServicePort{port("", 80, sppStr("example.com/custom"))},
			wantNames: []string{""}, wantAppProtocols: []string{"example.com/custom"},
		},
		{
			name: "http_proxy appProtocol has no valid port name", ns: "mesh",
			in:        []corev1.ServicePort{port("", 3128, sppStr("http_proxy"))},
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
			in:        []corev1.ServicePort{port("http", 9000, nil), port("", 80, nil), port("", 8080, nil)},
			wantNames: []string{"http", "http-80", "http-8080"}, wantAppProtocols: []string{"", "", ""},
			wantFields: []string{"spec.ports[1].name", "spec.ports[2].name"},
		},
		{
			name: "first unnamed port gets the bare name, the next the numbered one", ns: "mesh",
			in:        []corev1.ServicePort{port("", 80, nil), port("", 8080, nil)},
			wantNames: []string{"http", "http-8080"}, wantAppProtocols: []string{"", ""},
			wantFields: []string{"spec.ports[0].name", "spec.ports[1].name"},
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
			name: "unreadable name on port 8443 gets appProtocol https", ns: "mesh",
			in:        []corev1.ServicePort{port("secure", 8443, nil)},
			wantNames: []string{"secure"}, wantAppProtocols: []string{"https"},
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
			in:        []corev1.ServicePort{port("web", 80, sppStr("example.com/custom"))},
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
	got, rep := sppRun(t, sppService("plain", corev1.ServicePort{Port: 8080}), policy.World(nil), cfg)
	require.Len(t, rep.Changes, 1)
	assert.Equal(t, "http", got.Spec.Ports[0].Name)
}

func TestServicePortProtocolReasons(t *testing.T) {
	got, rep := sppRun(t, sppService("mesh",
		corev1.ServicePort{Port: 80},
		corev1.ServicePort{Name: "web", Port: 8080},
		corev1.ServicePort{Port: 9000, AppProtocol: sppStr("kubernetes.io/h2c")},
		corev1.ServicePort{Port: 3306},
	), sppWorld(t), policy.DefaultConfig())
	require.Len(t, rep.Changes, 4)
	assert.Equal(t, `port 3306 had no name; named it "tcp", the protocol Istio already assumes for port 3306`, rep.Changes[3].Reason)
	assert.Equal(t, `port 80 had no name; named it "http" because port 80 carries HTTP; unnamed, Istio could only sniff its protocol`, rep.Changes[0].Reason)
	assert.Equal(t, `port name "web" gives Istio no protocol; set appProtocol "http" because port 8080 carries HTTP (the name is kept: other objects may refer to it)`, rep.Changes[1].Reason)
	assert.Equal(t, `port 9000 had no name; named it "http2" to match its appProtocol "kubernetes.io/h2c", which is what Istio reads (HTTP2)`, rep.Changes[2].Reason)
	assert.Equal(t, []policy.PatchOp{policy.Add("/spec/ports/0/name", "http")}, rep.Changes[0].Ops)
	assert.Equal(t, []policy.PatchOp{policy.Add("/spec/ports/1/appProtocol", "http")}, rep.Changes[1].Ops)
	assert.Equal(t, "http2", got.Spec.Ports[2].Name)
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
