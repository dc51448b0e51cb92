package intree

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/istio"
)

// CEL building blocks for pods, each the mirror of a Go function of
// internal/istio or internal/emissary, which its doc names. The expressions
// read a core/v1 Pod as the API server gives it to a policy (object).

// InjectBlocks is istio.InjectBlocks(v) for the CEL string v.
func InjectBlocks(v string) string {
	return fmt.Sprintf("!(%s.lowerAscii() in ['y', 'yes', 'true', 'on', ''])", v)
}

// LiftedInjectLabel is the pod's sidecar.istio.io/inject label as Istio
// reads it once meshgate lifted an opt-out (emissary's liftedMeta): "" when
// absent or when its value blocks injection. labels is a CEL map.
func LiftedInjectLabel(labels string) string {
	v := labels + "[" + String(istio.SidecarInject) + "]"
	return fmt.Sprintf("((%s in %s && !(%s)) ? %s : '')", String(istio.SidecarInject), labels, InjectBlocks(v), v)
}

// SidecarInjected is istio.SidecarInjected for a pod (object) with the
// sidecar.istio.io/inject opt-outs lifted (emissary.ModeOf's view): labels
// and annotations are the pod's CEL maps, nsLabels the namespace's, namespace
// its name. Once lifted, the label is never "false", so every injector
// webhook's `sidecar.istio.io/inject NotIn [false]` holds and injectRequired
// reduces to the hostNetwork and ignored-namespace checks.
func SidecarInjected(labels, annotations, nsLabels, namespace string) string {
	has := func(m, k string) string { return "(" + String(k) + " in " + m + ")" }
	nsRev, nsInj, podRev := has(nsLabels, istio.LabelIstioRev), has(nsLabels, istio.LabelIstioInjection), has(labels, istio.LabelIstioRev)
	webhook := fmt.Sprintf("((%s && !%s) || %s == 'enabled' || (!%s && !%s && (%s || %s == 'true')))",
		nsRev, nsInj, Label(nsLabels, istio.LabelIstioInjection), nsRev, nsInj, podRev, LiftedInjectLabel(labels))
	required := fmt.Sprintf("(!object.spec.?hostNetwork.orValue(false) && !(%s in %s))", namespace, Strings(istio.InjectorNeverNamespaces))
	return fmt.Sprintf("(%s || (%s && %s))", has(annotations, istio.AnnotationSidecarStatus), webhook, required)
}

// EdgeContainer is emissary.EdgeContainer: the index of the edge proxy's
// container in the CEL list of containers cs, or -1.
func EdgeContainer(cs string) string {
	notProxy := fmt.Sprintf("%s[i].name != %s", cs, String(emissary.ProxyContainerName))
	port := fmt.Sprintf("(type(%%s) == int && %%s == %d)", emissary.AdminPort)
	probe := func(p string) string {
		get := func(kind string) string { x := p + "." + kind + ".port"; return fmt.Sprintf(port, x, x) }
		return fmt.Sprintf("(has(%s) && (has(%s.httpGet) ? %s : has(%s.tcpSocket) ? %s : has(%s.grpc) ? %s.grpc.port == %d : false))",
			p, p, get("httpGet"), p, get("tcpSocket"), p, p, emissary.AdminPort)
	}
	c := cs + "[i]"
	steps := []string{
		fmt.Sprintf("%s && %s.?env.orValue([]).exists(e, e.name == %s)", notProxy, c, String(emissary.EnvNamespace)),
		fmt.Sprintf("%s && %s.?ports.orValue([]).exists(p, p.containerPort == %d)", notProxy, c, emissary.AdminPort),
		fmt.Sprintf("%s && (%s || %s || %s)", notProxy, probe(c+".livenessProbe"), probe(c+".readinessProbe"), probe(c+".startupProbe")),
		notProxy,
	}
	expr := "-1"
	for i := len(steps) - 1; i >= 0; i-- {
		l := fmt.Sprintf("lists.range(size(%s)).filter(i, %s)", cs, steps[i])
		expr = fmt.Sprintf("(size(%s) > 0 ? %s[0] : %s)", l, l, expr)
	}
	return expr
}

// The istio-iptables flags istio.RewriteIptablesArgs rewrites, short and long.
var iptablesFlags = [][2]string{{"-b", "--istio-inbound-ports"}, {"-i", "--istio-service-cidr"}}

// iptablesSeparate is true when the CEL string x is one of the flags written
// with its value as the next argument.
func iptablesSeparate(x string) string {
	var terms []string
	for _, f := range iptablesFlags {
		terms = append(terms, x+" == "+String(f[0]), x+" == "+String(f[1]))
	}
	return "(" + strings.Join(terms, " || ") + ")"
}

// iptablesFlag is true when the CEL string x is flag f in any form
// (istio's matchFlag; the flags are tried in order, the long form first).
func iptablesFlag(x string, f [2]string) string {
	return fmt.Sprintf("(%s == %s || %s == %s || %s.startsWith(%s) || (!%s.startsWith('--') && %s.startsWith(%s)))",
		x, String(f[0]), x, String(f[1]), x, String(f[1]+"="), x, x, String(f[0]))
}

// IptablesArgsRewritable is true when istio.RewriteIptablesArgs(a), a a CEL
// list of strings, can be computed by IptablesArgsRewrite: no "--", and no
// flag that takes the next argument followed by another such flag (the
// second would be read as the first's value, a parse CEL cannot follow).
func IptablesArgsRewritable(a string) string {
	return fmt.Sprintf("(!('--' in %s) && !lists.range(size(%s)).exists(i, i > 0 && %s && %s))",
		a, a, iptablesSeparate(a+"[i - 1]"), iptablesSeparate(a+"[i]"))
}

// IptablesArgsRewrite is istio.RewriteIptablesArgs(a) for a CEL list of
// strings a for which IptablesArgsRewritable holds: every -b and -i (in
// every form) with the value "", the absent ones appended as -b "" and -i "".
// Under that condition an argument is a flag's value exactly when the one
// before it is a flag written with its value apart.
func IptablesArgsRewrite(a string) string {
	x := "string(" + a + "[i])" // a typed string, as the list literals need
	consumed := fmt.Sprintf("(i > 0 && %s)", iptablesSeparate(a+"[i - 1]"))
	piece := "[" + x + "]"
	for j := len(iptablesFlags) - 1; j >= 0; j-- {
		f := iptablesFlags[j]
		piece = fmt.Sprintf("(%s == %s || %s == %s) ? [%s, ''] : %s.startsWith(%s) ? [%s] : (!%s.startsWith('--') && %s.startsWith(%s)) ? [%s, ''] : %s",
			x, String(f[0]), x, String(f[1]), x,
			x, String(f[1]+"="), String(f[1]+"="),
			x, x, String(f[0]), String(f[0]), piece)
	}
	out := fmt.Sprintf("lists.range(size(%s)).map(i, %s ? [] : (%s)).flatten()", a, consumed, piece)
	for j, f := range iptablesFlags {
		// A flag counts as seen in the form matchFlag gives it: the earlier
		// flag's forms win (never an issue for -b and -i, which share none).
		cond := "!" + consumed + " && " + iptablesFlag(x, f)
		for _, g := range iptablesFlags[:j] {
			cond += " && !" + iptablesFlag(x, g)
		}
		out += fmt.Sprintf(" + (lists.range(size(%s)).exists(i, %s) ? [] : [%s, ''])", a, cond, String(f[0]))
	}
	return out
}

// UncleanPath (RE2, for CEL and Go alike) matches a path that path.Clean
// would shorten other than by trailing slashes: a "." or ".." segment, or an
// inner "//".
const UncleanPath = `//+[^/]|/\.\.?(/|$)|^\.\.?(/|$)`

// MountPathsPlain is true when no container or init container of the pod
// mounts anything at a path that cleans to another one (see UncleanPath), so
// MountAt can compare paths without path.Clean.
func MountPathsPlain() string {
	bad := fmt.Sprintf("c.?volumeMounts.orValue([]).exists(m, m.mountPath.matches(%s))", String(UncleanPath))
	return fmt.Sprintf("!object.spec.?containers.orValue([]).exists(c, %s) && !object.spec.?initContainers.orValue([]).exists(c, %s)", bad, bad)
}

// MountAt is emissary.SameDir(path, dir) for a CEL string path, where
// MountPathsPlain holds and dir is clean.
func MountAt(path, dir string) string {
	return fmt.Sprintf("%s.matches(%s)", path, String("^"+regexp.QuoteMeta(dir)+"/*$"))
}

// PlainText (RE2) matches a string that %q quotes as it is: printable ASCII
// without '"' and '\', so Format's %q says what the Go rule's does.
const PlainText = `^[ !#-\[\]-~]*$`
