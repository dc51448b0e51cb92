package mutators

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/policy"
	"github.com/meshgate/meshgate/protocol"
)

// ServicePortProtocol implements rule service-port-protocol: it helps Istio read
// the protocol of a Service's TCP ports, in the Services service-port-name checks
// (protocol.InScope). It never renames a port, since other objects refer to
// ports by name, and never overwrites an appProtocol.
//
//   - An unnamed port is named after its appProtocol, when Istio reads a known
//     protocol from it (kubernetes.io/h2c gives "http2"), or else after its port
//     number when the number is unambiguous (protocol.ByPortNumber: 80 gives
//     "http"). Names are unique in the Service and valid DNS-1123 labels: "http",
//     then "http-<port>", then "http-<port>-2" and so on.
//   - A named port whose name gives Istio no protocol, and that has no
//     appProtocol, gets appProtocol from its port number when that is
//     unambiguous ("web" on port 80 gets appProtocol: http).
//
// UDP and SCTP ports are left alone (Istio reads UDP from the L4 protocol; the
// port number table is about TCP). What cannot be inferred is left for the
// service-port-name validator.
func ServicePortProtocol(ctx context.Context, svc *corev1.Service, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	in, err := protocol.InScope(ctx, svc, t.Namespace, w, cfg)
	if err != nil || !in {
		return rep, err
	}
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
		if p.Name == "" {
			nameUnnamedPort(&rep, p, i, fld, used)
			continue
		}
		if p.AppProtocol != nil || protocol.Read(*p).Protocol.Known() {
			continue
		}
		proto, ok := protocol.ByPortNumber(p.Port)
		if !ok {
			continue
		}
		ap, ok := protocol.PortName(proto)
		if !ok {
			continue
		}
		p.AppProtocol = &ap
		rep.Change(policy.ServicePortProtocol, fld.Child("appProtocol"),
			fmt.Sprintf("port name %q gives Istio no protocol; set appProtocol %q because port %d carries %s (the name is kept: other objects may refer to it)",
				p.Name, ap, p.Port, proto),
			policy.Add(policy.Pointer("spec", "ports", i, "appProtocol"), ap))
	}
	return rep, nil
}

// nameUnnamedPort names port p (index i) after its appProtocol or port number,
// when either gives a protocol, and records the change.
func nameUnnamedPort(rep *policy.Report, p *corev1.ServicePort, i int, fld *field.Path, used map[string]bool) {
	var proto protocol.Instance
	var why string
	if p.AppProtocol != nil {
		// A set appProtocol is what Istio reads; the name must agree with it.
		r := protocol.Read(*p)
		if !r.Protocol.Known() {
			return
		}
		proto = r.Protocol
		why = fmt.Sprintf(" to match its appProtocol %q, which is what Istio reads (%s)", *p.AppProtocol, proto)
	} else {
		var ok bool
		if proto, ok = protocol.ByPortNumber(p.Port); !ok {
			return
		}
		if protocol.Read(*p).Protocol.Known() {
			why = fmt.Sprintf(", the protocol Istio already assumes for port %d", p.Port)
		} else {
			why = fmt.Sprintf(" because port %d carries %s; unnamed, Istio could only sniff its protocol", p.Port, proto)
		}
	}
	base, ok := protocol.PortName(proto)
	if !ok {
		return
	}
	name := uniquePortName(base, p.Port, used)
	if name == "" {
		return
	}
	used[name] = true
	p.Name = name
	rep.Change(policy.ServicePortProtocol, fld.Child("name"),
		fmt.Sprintf("port %d had no name; named it %q%s", p.Port, name, why),
		policy.Add(policy.Pointer("spec", "ports", i, "name"), name))
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
