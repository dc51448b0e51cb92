package validators

import (
	"context"
	"fmt"
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
	})
}

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
		if svc.Spec.Type == corev1.ServiceTypeExternalName && p.Name == "tcp" {
			rep.Find(policy.ServicePortName, mode, fld.Child("name"),
				"port %d of this ExternalName Service is named \"tcp\": Istio's proxies may not forward traffic to it, or other unmatched TCP traffic on port %d, correctly (Istio's analyzer reports it as IST0150): rename the port after the protocol it carries, so Istio can route it by host, e.g. \"https\" or \"tls-%d\" for TLS, \"http-%d\" for plain HTTP; for plain TCP, describe the external host with a ServiceEntry that has spec.addresses instead of an ExternalName Service",
				p.Port, p.Port, p.Port, p.Port)
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
				also = " (Kubernetes also requires a name on every port of a Service with more than one)"
			}
			example := fmt.Sprintf("%q or %q", "http", fmt.Sprintf("tcp-%d", p.Port))
			// A targetPort that names the container port after a protocol Istio
			// knows ("http-metrics") is the natural name for the Service port.
			if tp := p.TargetPort.StrVal; p.TargetPort.Type == intstr.String && tp != "" {
				if r := istio.Convert(p.Port, tp, p.Protocol, nil); r.Source == istio.FromName && r.Protocol.Known() {
					example = fmt.Sprintf("%q like its targetPort", tp)
				}
			}
			rep.Find(policy.ServicePortName, mode, fld.Child("name"),
				"port %d has no name and no appProtocol, so Istio cannot tell its protocol and only sniffs it: name it after the protocol the backend speaks (a port number does not tell: 8080 carries HTTP, gRPC or h2c alike), \"<protocol>[-<suffix>]\" with a protocol Istio knows (%s), e.g. %s%s, or set appProtocol (e.g. appProtocol: http)",
				p.Port, knownPrefixes(), example, also)
		default:
			advice, ap := renameAdvice(p.Name)
			rep.Find(policy.ServicePortName, mode, fld.Child("name"),
				"port name %q (port %d) does not give Istio a protocol (Istio reads the part before the first \"-\", which must be one of %s): %s, or keep the name (other objects, such as Ingresses or Prometheus ServiceMonitors, may refer to it) and set %s",
				p.Name, p.Port, knownPrefixes(), advice, ap)
		}
	}
	return rep, nil
}

// knownPrefixList is istio.PortNamePrefixes as a message lists them.
var knownPrefixList = strings.Join(istio.PortNamePrefixes, ", ")

func knownPrefixes() string { return knownPrefixList }

// appProtocolMessage explains an appProtocol Istio does not know.
func appProtocolMessage(p corev1.ServicePort) string {
	ap := *p.AppProtocol
	known := "http, http2, https, grpc, grpc-web, tcp, tls, mongo, redis, mysql, " +
		istio.AppProtocolH2C + ", " + istio.AppProtocolWS + " or " + istio.AppProtocolWSS
	for _, std := range []string{istio.AppProtocolH2C, istio.AppProtocolWS, istio.AppProtocolWSS} {
		if strings.EqualFold(ap, std) {
			return fmt.Sprintf("appProtocol %q (port %d) is not a protocol Istio knows: Istio matches the Kubernetes-defined values exactly; write %q",
				ap, p.Port, std)
		}
	}
	what := fmt.Sprintf("appProtocol %q (port %d) is not a protocol Istio knows", ap, p.Port)
	if ap == "" {
		what = fmt.Sprintf("appProtocol (port %d) is set but empty", p.Port)
	}
	return fmt.Sprintf("%s, and a set appProtocol replaces the port name, so Istio cannot tell the port's protocol and only sniffs it: set appProtocol to one of %s, or remove it and name the port \"<protocol>[-<suffix>]\"",
		what, known)
}

// suggestPrefixes are the prefixes a rename may suggest, longest first so that
// "http2foo" is read as http2 + foo. udp is left out: a TCP port must not be
// named udp.
var suggestPrefixes = []string{"grpc-web", "http2", "https", "http", "grpc", "mongo", "redis", "mysql", "tcp", "tls"}

// renameAdvice proposes concrete names for a port name Istio cannot read, and
// the appProtocol that would do instead ("appProtocol: http2").
func renameAdvice(name string) (advice, appProtocol string) {
	lower := strings.ToLower(name)
	// "http2foo": a known protocol glued to the rest.
	for _, pre := range suggestPrefixes {
		if rest, ok := strings.CutPrefix(lower, pre); ok && rest != "" {
			rest = strings.TrimLeft(rest, "-_.")
			return "name it " + quoteNames(pre, pre, pre+"-"+rest), "appProtocol: " + pre
		}
	}
	// "foo-http": the protocol is there, but not first.
	parts := strings.Split(lower, "-")
	for i := 1; i < len(parts); i++ {
		if istio.Parse(parts[i]).Known() && parts[i] != "udp" && parts[i] != "http_proxy" {
			rest := strings.Join(append(append([]string{}, parts[:i]...), parts[i+1:]...), "-")
			return "put the protocol first: name it " + quoteNames(parts[i], parts[i]+"-"+rest), "appProtocol: " + parts[i]
		}
	}
	// "web": no protocol at all.
	return "name it \"<protocol>[-<suffix>]\", e.g. " + quoteNames(`"http" or "tcp"`, "http-"+lower, "tcp-"+lower),
		"appProtocol (e.g. http or tcp)"
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
