package emissary

import (
	"fmt"
	"regexp"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/istio"
)

// The CEL forms of the edge-proxy pod functions, for the rules' in-tree
// forms. The expressions read a core/v1 Pod as the API server gives it to a
// policy (object).

// EdgeContainerCEL is EdgeContainer: the index of the edge proxy's container
// in the CEL list of containers cs, or -1.
func EdgeContainerCEL(cs string) string {
	notProxy := fmt.Sprintf("%s[i].name != %s", cs, intree.String(ProxyContainerName))
	port := fmt.Sprintf("(type(%%s) == int && %%s == %d)", AdminPort)
	probe := func(p string) string {
		get := func(kind string) string { x := p + "." + kind + ".port"; return fmt.Sprintf(port, x, x) }
		return fmt.Sprintf("(has(%s) && (has(%s.httpGet) ? %s : has(%s.tcpSocket) ? %s : has(%s.grpc) ? %s.grpc.port == %d : false))",
			p, p, get("httpGet"), p, get("tcpSocket"), p, p, AdminPort)
	}
	c := cs + "[i]"
	steps := []string{
		fmt.Sprintf("%s && %s.?env.orValue([]).exists(e, e.name == %s)", notProxy, c, intree.String(EnvNamespace)),
		fmt.Sprintf("%s && %s.?ports.orValue([]).exists(p, p.containerPort == %d)", notProxy, c, AdminPort),
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

// LiftedInjectLabelCEL is the pod's sidecar.istio.io/inject label as Istio
// reads it once liftedMeta lifted an opt-out: "" when absent or when its
// value blocks injection. labels is a CEL map.
func LiftedInjectLabelCEL(labels string) string {
	v := labels + "[" + intree.String(istio.SidecarInject) + "]"
	return fmt.Sprintf("((%s in %s && !(%s)) ? %s : '')", intree.String(istio.SidecarInject), labels, istio.InjectBlocksCEL(v), v)
}

// MountPathsPlainCEL is true when no container or init container of the pod
// mounts anything at a path that cleans to another one (intree.UncleanPath),
// so SameDirCEL can compare paths without path.Clean.
func MountPathsPlainCEL() string {
	bad := fmt.Sprintf("c.?volumeMounts.orValue([]).exists(m, m.mountPath.matches(%s))", intree.String(intree.UncleanPath))
	return fmt.Sprintf("!object.spec.?containers.orValue([]).exists(c, %s) && !object.spec.?initContainers.orValue([]).exists(c, %s)", bad, bad)
}

// SameDirCEL is SameDir(path, dir) for a CEL string path, where
// MountPathsPlainCEL holds and dir is clean.
func SameDirCEL(path, dir string) string {
	return fmt.Sprintf("%s.matches(%s)", path, intree.String("^"+regexp.QuoteMeta(dir)+"/*$"))
}
