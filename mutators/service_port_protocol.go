package mutators

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:       policy.ServicePortProtocol,
		Summary:  "name unnamed Service ports and add appProtocol where a named targetPort or the port number makes the protocol clear",
		Mutation: true,
		Default:  policy.Warn,
		Reads:    []policy.WorldKind{policy.KindNamespace},
		Reviews: []policy.Review{{
			Kinds: []policy.Kind{policy.ServiceKind}, Check: policy.ServiceFunc(ServicePortProtocol), Admission: istio.ServiceAdmission,
		}},
		InTree: servicePortProtocolInTree,
	})
}

// ServicePortProtocol implements rule service-port-protocol
// (docs/rules.md#service-port-protocol) in the Services service-port-name
// checks (istio.InScope). It never renames a port nor overwrites an
// appProtocol, and never names a port of a Service without a selector; what
// cannot be inferred for certain is left for the service-port-name validator.
func ServicePortProtocol(ctx context.Context, svc *corev1.Service, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	in, err := istio.InScope(ctx, svc, t.Namespace, w, cfg)
	if err != nil || !in {
		return rep, err
	}
	// A Service without a selector gets its endpoints from hand-written
	// Endpoints or EndpointSlices, which match its ports by name: naming a port
	// would cut it off from them. appProtocol does not take part in that match.
	selectorless := len(svc.Spec.Selector) == 0
	edge := edgeProxyService(svc, cfg)
	ports := svc.Spec.Ports
	used := make(map[string]bool, len(ports))
	for _, p := range ports {
		if p.Name != "" {
			used[p.Name] = true
		}
	}
	for i := range ports {
		p := &ports[i]
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		fld := field.NewPath("spec", "ports").Index(i)
		if p.Name == "" && !selectorless {
			nameUnnamedPort(&rep, p, fld, used, edge)
			continue
		}
		if p.AppProtocol != nil || istio.Read(*p).Protocol.Known() {
			continue
		}
		proto, because, ok := inferProtocol(*p, edge)
		if !ok {
			continue
		}
		ap, ok := istio.PortName(proto)
		if !ok {
			continue
		}
		p.AppProtocol = &ap
		what := fmt.Sprintf("port name %q gives Istio no protocol", p.Name)
		kept := "the name is kept: other objects may refer to it"
		if p.Name == "" {
			what = fmt.Sprintf("port %d has no name", p.Port)
			kept = "it is not named: the Service has no selector, and its Endpoints or EndpointSlices match its ports by name"
		}
		rep.Add(policy.ServicePortProtocol, fld.Child("appProtocol"), ap,
			fmt.Sprintf("%s; set appProtocol %q because %s (%s)", what, ap, because, kept))
	}
	return rep, nil
}

// edgeProxyService reports whether svc is one of the edge proxy's own Services:
// it carries the charts' labels (product=aes or service=ambassador-admin), or
// its selector only selects edge-proxy pods (it contains every label of one of
// edgeProxy.selectors, e.g. service=ambassador of Ambassador 1.x's YAML).
func edgeProxyService(svc *corev1.Service, cfg *policy.Config) bool {
	own := labels.Set(svc.Labels)
	if own.Get(emissary.LabelProduct) == emissary.ProductAES || own.Get(emissary.LabelService) == emissary.ServiceAmbassadorAdmin {
		return true
	}
	if len(svc.Spec.Selector) == 0 {
		return false
	}
	selected := labels.Set(svc.Spec.Selector)
	for _, s := range cfg.EdgeProxy.Selectors {
		if len(s) > 0 && labels.SelectorFromSet(s).Matches(selected) {
			return true
		}
	}
	return false
}

// inferProtocol returns the protocol port p carries for certain, and why: on
// the edge proxy's own Services the ports Emissary fixes (its admin port 8877,
// or the chart's container port "admin", and its snapshot port 8005: both
// HTTP); else a named targetPort whose name gives Istio a protocol
// (istio.ByPortName: "grpc" makes port 80 gRPC, not HTTP); else the port
// number (istio.ByPortNumber). A targetPort named for UDP says nothing certain
// of a TCP port: nothing is inferred.
func inferProtocol(p corev1.ServicePort, edge bool) (istio.Instance, string, bool) {
	if edge {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port)
		}
		switch {
		case target.Type == intstr.String && target.StrVal == emissary.AdminPortName,
			target.Type == intstr.Int && target.IntVal == emissary.AdminPort:
			return istio.HTTP, "it targets Emissary's admin port (diagnostics, /metrics and readiness over HTTP)", true
		case target.Type == intstr.Int && target.IntVal == emissary.SnapshotPort:
			return istio.HTTP, "it targets Emissary's snapshot port (served over HTTP)", true
		}
	}
	byNumber, numberOK := istio.ByPortNumber(p.Port)
	if p.TargetPort.Type == intstr.String {
		if proto, ok := istio.ByPortName(p.TargetPort.StrVal); ok {
			switch {
			case proto == istio.UDP || proto == istio.HTTPProxy:
				return "", "", false
			case numberOK && proto == byNumber:
			default:
				return proto, fmt.Sprintf("its targetPort is the container port %q", p.TargetPort.StrVal), true
			}
		}
	}
	if !numberOK {
		return "", "", false
	}
	return byNumber, fmt.Sprintf("port %d carries %s", p.Port, byNumber), true
}

// nameUnnamedPort names port p (at fld) after its appProtocol, or the protocol
// it carries for certain (inferProtocol), and records the change.
func nameUnnamedPort(rep *policy.Report, p *corev1.ServicePort, fld *field.Path, used map[string]bool, edge bool) {
	var proto istio.Instance
	var why string
	if p.AppProtocol != nil {
		// A set appProtocol is what Istio reads; the name must agree with it.
		r := istio.Read(*p)
		if !r.Protocol.Known() {
			return
		}
		proto = r.Protocol
		why = fmt.Sprintf(" to match its appProtocol %q, which is what Istio reads (%s)", *p.AppProtocol, proto)
	} else {
		var because string
		var ok bool
		if proto, because, ok = inferProtocol(*p, edge); !ok {
			return
		}
		if r := istio.Read(*p); r.Protocol == proto {
			why = fmt.Sprintf(", the protocol Istio already assumes for port %d", p.Port)
		} else {
			why = fmt.Sprintf(" because %s; unnamed, Istio could only sniff its protocol", because)
		}
	}
	base, ok := istio.PortName(proto)
	if !ok {
		return
	}
	name := uniquePortName(base, p.Port, used)
	if name == "" {
		return
	}
	used[name] = true
	p.Name = name
	rep.Add(policy.ServicePortProtocol, fld.Child("name"), name,
		fmt.Sprintf("port %d had no name; named it %q%s", p.Port, name, why))
}

// uniquePortName returns base, or base-<port>, or base-<port>-<n>: the first that
// no other port of the Service uses and that is a valid port name. Every
// candidate starts with base followed by "-", so Istio reads the same protocol.
func uniquePortName(base string, port int32, used map[string]bool) string {
	candidates := []string{base, base + "-" + strconv.Itoa(int(port))}
	for _, c := range candidates {
		if !used[c] && len(validation.IsDNS1123Label(c)) == 0 {
			return c
		}
	}
	// At most len(used) names are taken, so this ends within len(used)+1 tries.
	for n := 2; n <= len(used)+2; n++ {
		c := candidates[1] + "-" + strconv.Itoa(n)
		if !used[c] && len(validation.IsDNS1123Label(c)) == 0 {
			return c
		}
	}
	return ""
}
