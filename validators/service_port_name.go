package validators

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:      policy.ServicePortName,
		Summary: "Service port names must give Istio a known protocol",
		Default: policy.Enforce,
		Reads:   []policy.WorldKind{policy.KindNamespace},
		Reviews: []policy.Review{{
			Kinds: []policy.Kind{policy.ServiceKind}, Check: policy.ServiceFunc(ServicePortName), Admission: istio.ServiceAdmission,
		}},
		InTree: servicePortNameInTree,
	})
}

// The messages of service-port-name, shared by the rule and its in-tree form.
const (
	msgExternalNameTCP = "port %d of this ExternalName Service is named \"tcp\": Istio's proxies may not forward traffic to it, or other unmatched TCP traffic on port %d, correctly (Istio's analyzer reports it as IST0150): rename the port after the protocol it carries, so Istio can route it by host, e.g. \"https\" or \"tls-%d\" for TLS, \"http-%d\" for plain HTTP; for plain TCP, describe the external host with a ServiceEntry that has spec.addresses instead of an ExternalName Service"
	msgUnnamed         = "port %d has no name and no appProtocol, so Istio cannot tell its protocol and only sniffs it: name it after the protocol the backend speaks (a port number does not tell: 8080 carries HTTP, gRPC or h2c alike), \"<protocol>[-<suffix>]\" with a protocol Istio knows (%s), e.g. %s%s, or set appProtocol (e.g. appProtocol: http)"
	msgUnnamedAlso     = " (Kubernetes also requires a name on every port of a Service with more than one)"
	msgRename          = "port name %q (port %d) does not give Istio a protocol (Istio reads the part before the first \"-\", which must be one of %s): %s, or keep the name (other objects, such as Ingresses or Prometheus ServiceMonitors, may refer to it) and set %s"
	msgAppProtocolCase = "appProtocol %q (port %d) is not a protocol Istio knows: Istio matches the Kubernetes-defined values exactly; write %q"
	msgAppProtocolWhat = "appProtocol %q (port %d) is not a protocol Istio knows"
	msgAppProtocolNone = "appProtocol (port %d) is set but empty"
	msgAppProtocol     = "%s, and a set appProtocol replaces the port name, so Istio cannot tell the port's protocol and only sniffs it: set appProtocol to one of %s, or remove it and name the port \"<protocol>[-<suffix>]\""
	msgAdviceGlued     = "name it "
	msgAdviceFirst     = "put the protocol first: name it "
	msgAdviceNone      = "name it \"<protocol>[-<suffix>]\", e.g. "
	msgAdviceNoneNames = `"http" or "tcp"`
	msgAdviceNoneAP    = "appProtocol (e.g. http or tcp)"
)

// ServicePortName implements rule service-port-name
// (docs/rules.md#service-port-name): one finding per port of a Service in scope
// (istio.InScope) that Istio cannot read (istio.Convert), and per port
// named "tcp" of an ExternalName Service (Istio's IST0150), naming the fix.
func ServicePortName(ctx context.Context, svc *corev1.Service, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if cfg == nil {
		return rep, nil
	}
	mode := cfg.Mode(policy.ServicePortName)
	if mode == policy.Off {
		return rep, nil
	}
	if in, err := istio.InScope(ctx, svc, t.Namespace, w, cfg); err != nil || !in {
		return rep, err
	}
	for i, p := range svc.Spec.Ports {
		fld := field.NewPath("spec", "ports").Index(i)
		// Istio's analyzer condition exactly: the name "tcp", whatever the
		// appProtocol.
		if svc.Spec.Type == corev1.ServiceTypeExternalName && p.Name == externalNameTCP {
			rep.Find(policy.ServicePortName, mode, fld.Child("name"), msgExternalNameTCP, p.Port, p.Port, p.Port, p.Port)
			continue
		}
		r := istio.Read(p)
		if r.Protocol.Known() {
			continue
		}
		switch {
		case r.Source == istio.FromAppProtocol:
			rep.Find(policy.ServicePortName, mode, fld.Child("appProtocol"), "%s", appProtocolMessage(p))
		case p.Name == "":
			also := ""
			if len(svc.Spec.Ports) > 1 {
				also = msgUnnamedAlso
			}
			example := fmt.Sprintf("%q or %q", "http", fmt.Sprintf("tcp-%d", p.Port))
			// A targetPort that names the container port after a protocol Istio
			// knows ("http-metrics") is the natural name for the Service port.
			if tp := p.TargetPort.StrVal; p.TargetPort.Type == intstr.String && tp != "" {
				if r := istio.Convert(p.Port, tp, p.Protocol, nil); r.Source == istio.FromName && r.Protocol.Known() {
					example = fmt.Sprintf("%q like its targetPort", tp)
				}
			}
			rep.Find(policy.ServicePortName, mode, fld.Child("name"), msgUnnamed, p.Port, knownPrefixes(), example, also)
		default:
			advice, ap := renameAdvice(p.Name)
			rep.Find(policy.ServicePortName, mode, fld.Child("name"), msgRename, p.Name, p.Port, knownPrefixes(), advice, ap)
		}
	}
	return rep, nil
}

// externalNameTCP is the port name Istio's analyzer reports on an
// ExternalName Service (IST0150).
const externalNameTCP = "tcp"

// knownPrefixList is istio.PortNamePrefixes as a message lists them.
var knownPrefixList = strings.Join(istio.PortNamePrefixes, ", ")

func knownPrefixes() string { return knownPrefixList }

// appProtocolMessage explains an appProtocol Istio does not know.
func appProtocolMessage(p corev1.ServicePort) string {
	ap := *p.AppProtocol
	for _, std := range standardAppProtocols {
		if strings.EqualFold(ap, std) {
			return fmt.Sprintf(msgAppProtocolCase, ap, p.Port, std)
		}
	}
	what := fmt.Sprintf(msgAppProtocolWhat, ap, p.Port)
	if ap == "" {
		what = fmt.Sprintf(msgAppProtocolNone, p.Port)
	}
	return fmt.Sprintf(msgAppProtocol, what, knownAppProtocols)
}

// standardAppProtocols are the Kubernetes-defined appProtocol values Istio reads.
var standardAppProtocols = []string{istio.AppProtocolH2C, istio.AppProtocolWS, istio.AppProtocolWSS}

// knownAppProtocols lists the appProtocol values Istio knows, for messages:
// the port name prefixes but udp, then Kubernetes' standard values.
var knownAppProtocols = strings.Join(suggestable, ", ") + ", " +
	istio.AppProtocolH2C + ", " + istio.AppProtocolWS + " or " + istio.AppProtocolWSS

// suggestable are the port name prefixes a TCP port may take: udp is left
// out, a TCP port must not be named udp.
var suggestable = slices.DeleteFunc(slices.Clone(istio.PortNamePrefixes), func(p string) bool { return istio.Parse(p) == istio.UDP })

// suggestPrefixes are the prefixes a rename may suggest (suggestable),
// longest first so that "http2foo" is read as http2 + foo.
var suggestPrefixes = func() []string {
	out := slices.Clone(suggestable)
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}()

// renameAdvice proposes concrete names for a port name Istio cannot read, and
// the appProtocol that would do instead ("appProtocol: http2").
func renameAdvice(name string) (advice, appProtocol string) {
	lower := strings.ToLower(name)
	// "http2foo": a known protocol glued to the rest.
	for _, pre := range suggestPrefixes {
		if rest, ok := strings.CutPrefix(lower, pre); ok && rest != "" {
			rest = strings.TrimLeft(rest, "-_.")
			return msgAdviceGlued + quoteNames(pre, pre, pre+"-"+rest), "appProtocol: " + pre
		}
	}
	// "foo-http": the protocol is there, but not first.
	parts := strings.Split(lower, "-")
	for i := 1; i < len(parts); i++ {
		if p := istio.Parse(parts[i]); p.Known() && p != istio.UDP && p != istio.HTTPProxy {
			rest := strings.Join(append(append([]string{}, parts[:i]...), parts[i+1:]...), "-")
			return msgAdviceFirst + quoteNames(parts[i], parts[i]+"-"+rest), "appProtocol: " + parts[i]
		}
	}
	// "web": no protocol at all.
	return msgAdviceNone + quoteNames(msgAdviceNoneNames, "http-"+lower, "tcp-"+lower), msgAdviceNoneAP
}

// quoteNames renders the valid port names among candidates as `"a" or "b"`, or
// fallback (quoted unless it already is) when none is valid.
func quoteNames(fallback string, candidates ...string) string {
	var out []string
	for _, c := range candidates {
		if len(validation.IsDNS1123Label(c)) == 0 {
			out = append(out, fmt.Sprintf("%q", c))
		}
	}
	if len(out) == 0 {
		if strings.HasPrefix(fallback, `"`) {
			return fallback
		}
		return fmt.Sprintf("%q", fallback)
	}
	return strings.Join(out, " or ")
}
