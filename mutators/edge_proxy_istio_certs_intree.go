package mutators

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

// edgeProxyIstioCertsInTree is the rule's in-tree form.
var edgeProxyIstioCertsInTree = &policy.InTree{
	Build: edgeProxyIstioCertsPolicy,
	Coverage: []policy.Coverage{
		{Part: "sidecar mode: volume, mounts, env, Istio's annotations when absent, inject opt-out lifted", Covered: true, How: "MAP JSONPatch (appends; never overwrites a value)"},
		{Part: "already injected: istio-proxy's env and mount, istio-init's -b and -i", Covered: true, How: "MAP JSONPatch (arguments in the forms Istio renders)"},
		{Part: "merging into an existing proxy.istio.io/config or userVolumeMount", Covered: false, How: "not matched: a YAML or JSON merge stays with the webhook"},
		{Part: "mount paths with . or .. segments or an inner //, istio-init flags as values", Covered: false, How: "not matched: the webhook wires such pods"},
		{Part: "legacy-secret mode", Covered: false, How: "webhook only (Ambassador 1.x with Istio <= 1.4)"},
		{Part: "conflicts: the values meshgate leaves alone", Covered: false, How: "left alone as by the webhook, which reports them (a MAP cannot warn)"},
	},
}

// edgeProxyIstioCertsPolicy is the rule's in-tree form: a
// MutatingAdmissionPolicy that wires an edge-proxy pod in sidecar mode with
// JSONPatch, exactly where EdgeProxyIstioCerts would, piece by piece: each
// list (volumes, a container's mounts or env) gets what is missing appended,
// an annotation is set only when absent (the traffic annotations also when
// Istio already rendered them), and a value the user set is never touched.
// Pods it cannot wire exactly (an existing proxy config or userVolumeMount to
// merge into, mount paths path.Clean would change, istio-init arguments it
// cannot parse) are not matched at all; legacy-secret mode is not covered.
// The webhook stays on for pods: it reports the conflicts, wires what the
// policy does not match, and finds nothing left to do on what it did.
func edgeProxyIstioCertsPolicy(cfg *policy.Config) (policy.InTreePolicies, error) {
	proxyConfig, _, err := emissary.MergeOutputCerts("", false)
	if err != nil {
		return policy.InTreePolicies{}, err
	}
	userVolumeMount, _, err := emissary.MergeUserVolumeMount("", false)
	if err != nil {
		return policy.InTreePolicies{}, err
	}
	q := intree.String
	has := func(m, k string) string { return "(" + q(k) + " in " + m + ")" }
	absentOr := func(k, v string) string {
		a := "object.metadata.annotations"
		return fmt.Sprintf("(!(%s in %s) || %s[%s] == %s)", q(k), a, a, q(k), q(v))
	}
	hasEnv := func(c, name string) string {
		return fmt.Sprintf("%s.?env.orValue([]).exists(e, e.name == %s)", c, q(name))
	}
	// needsMount: no mount of istio-certs anywhere and nothing else at the
	// directory (ensureMount), and the volume is (or will be) meshgate's.
	needsMount := func(c string) string {
		return fmt.Sprintf("variables.volumeOK && !%s.?volumeMounts.orValue([]).exists(m, m.name == %s || %s)",
			c, q(emissary.VolumeName), emissary.SameDirCEL("m.mountPath", emissary.CertDir))
	}
	setAnnotation := func(cond, key, value string) string {
		return fmt.Sprintf("((%s) ? [[%s, %s]] : [])", cond, q(key), q(value))
	}
	traffic := func(key string) string {
		return setAnnotation(fmt.Sprintf("!%s || (variables.injected && variables.ann[%s] != '')", has("variables.ann", key), q(key)), key, "")
	}
	initArgs := "(size(variables.init.?args.orValue([])) == 0 && size(variables.init.?command.orValue([])) > 0)"

	// The patch: variables hold the data (the API server compiles them
	// without the patch types), the mutation builds the operations. What is
	// missing is appended to each list (a list that is absent or empty is
	// added whole): the items already there are never written back.
	add := func(path, value string) string {
		return fmt.Sprintf("JSONPatch{op: 'add', path: %s, value: %s}", path, value)
	}
	when := func(cond, op string) string { return fmt.Sprintf("(%s ? [%s] : [])", cond, op) }
	// appendItems appends the CEL list items (built by item from each e) to
	// the list at path (a CEL string), which the CEL list have holds.
	appendItems := func(have, path, items, item string) string {
		return fmt.Sprintf("(size(%s) == 0 ? [] : size(%s) == 0 ? [%s] : %s.map(e, %s))",
			items, have, add(path, items+".map(e, "+item+")"), items, add(path+" + '/-'", item))
	}
	mountOf := func(list string, readOnly bool) string {
		ro := ""
		if readOnly {
			ro = ", readOnly: true"
		}
		return fmt.Sprintf("Object.spec.%s.volumeMounts{name: %s, mountPath: %s%s}", list, q(emissary.VolumeName), q(emissary.CertDir), ro)
	}
	envOf := func(list string) string { return fmt.Sprintf("Object.spec.%s.env{name: e[0], value: e[1]}", list) }
	containerOps := func(list, c, path, mountCond string, readOnly bool, env string) string {
		return appendItems(c+".?volumeMounts.orValue([])", path+" + '/volumeMounts'", fmt.Sprintf("(%s ? [1] : [])", mountCond), mountOf(list, readOnly)) + " + " +
			appendItems(c+".?env.orValue([])", path+" + '/env'", env, envOf(list))
	}
	patch := strings.Join([]string{
		when("size(variables.setAnn) > 0 && !has(object.metadata.annotations)", add("'/metadata/annotations'", "{}")),
		"variables.setAnn.map(kv, " + add("'/metadata/annotations/' + jsonpatch.escapeKey(kv[0])", "kv[1]") + ")",
		when("variables.liftLabel", fmt.Sprintf("JSONPatch{op: 'replace', path: %s, value: '%s'}", q(policy.FieldPointer(labelsPath.Key(istio.SidecarInject))), istio.InjectOn)),
		appendItems("variables.vols", "'/spec/volumes'", "(size(variables.volIdx) == 0 ? [1] : [])",
			fmt.Sprintf("Object.spec.volumes{name: %s, emptyDir: Object.spec.volumes.emptyDir{medium: 'Memory'}}", q(emissary.VolumeName))),
		containerOps("containers", "variables.ec", "'/spec/containers/' + string(variables.edge)", "variables.edgeMount", true, "variables.edgeEnv"),
		fmt.Sprintf("(size(variables.proxyC) > 0 ? (%s) : size(variables.proxyI) > 0 ? (%s) : [])",
			containerOps("containers", "variables.proxy", "'/spec/containers/' + string(variables.proxyC[0])", "variables.proxyMount", false, "variables.proxyEnv"),
			containerOps("initContainers", "variables.proxy", "'/spec/initContainers/' + string(variables.proxyI[0])", "variables.proxyMount", false, "variables.proxyEnv")),
		when("size(variables.initIdx) > 0 && variables.initRewritten != variables.initList",
			add(fmt.Sprintf("'/spec/initContainers/' + string(variables.initIdx[0]) + (%s ? '/command' : '/args')", initArgs), "variables.initRewritten")),
	}, " + ")

	mp := admissionregistrationv1.MutatingAdmissionPolicy{Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
		MatchConstraints: intree.MatchKinds(policy.PodKinds[:1], nil),
		MatchConditions: []admissionregistrationv1.MatchCondition{
			{Name: "no-annotation-to-merge", Expression: fmt.Sprintf("!has(object.metadata.annotations) || (%s && %s)",
				absentOr(istio.AnnotationProxyConfig, proxyConfig), absentOr(emissary.AnnotationUserVolumeMount, userVolumeMount))},
			{Name: "plain-mount-paths", Expression: emissary.MountPathsPlainCEL()},
			{Name: "plain-istio-init-args", Expression: fmt.Sprintf("object.spec.?initContainers.orValue([]).all(c, c.name != %s || %s)",
				q(emissary.InitContainerName), istio.IptablesArgsRewritableCEL("((size(c.?args.orValue([])) == 0 && size(c.?command.orValue([])) > 0) ? c.command : c.?args.orValue([]))"))},
		},
		Variables: append([]admissionregistrationv1.Variable{
			intree.ConfigVariable(intree.VarCertModeSecret, cfg.EdgeProxy.CertMode == policy.CertModeSecret),
			intree.ConfigVariable(intree.VarEdgeSelectors, cfg.EdgeProxy.Selectors),
		}, intree.Variables(
			"ann", "object.metadata.?annotations.orValue({})",
			"lbl", "object.metadata.?labels.orValue({})",
			"cs", "object.spec.?containers.orValue([])",
			"inits", "object.spec.?initContainers.orValue([])",
			"vols", "object.spec.?volumes.orValue([])",
			"edge", emissary.EdgeContainerCEL("variables.cs"),
			// ModeOf is sidecar, for an edge proxy that did not opt out
			// (the conditions of EdgeProxyIstioCerts, in its order).
			"wire", fmt.Sprintf("!variables.%s && (%s == 'true' || variables.%s.exists(s, size(s) > 0 && s.all(k, k in variables.lbl && variables.lbl[k] == s[k]))) && %s != 'false' && variables.edge >= 0 && %s != %s && %s",
				intree.VarCertModeSecret, intree.Label("variables.ann", policy.AnnotationEdgeProxy), intree.VarEdgeSelectors,
				intree.Label("variables.ann", policy.AnnotationInject), intree.Label("variables.ann", policy.AnnotationCertMode), q(policy.CertModeSecret),
				istio.SidecarInjectedCEL("variables.lbl", "variables.ann", emissary.LiftedInjectLabelCEL("variables.lbl"), "namespaceObject.metadata.?labels.orValue({})", "request.namespace")),
			"volIdx", fmt.Sprintf("lists.range(size(variables.vols)).filter(i, variables.vols[i].name == %s)", q(emissary.VolumeName)),
			"volumeOK", "size(variables.volIdx) == 0 || has(variables.vols[variables.volIdx[0]].emptyDir)",
			"proxyC", fmt.Sprintf("lists.range(size(variables.cs)).filter(i, variables.cs[i].name == %s)", q(emissary.ProxyContainerName)),
			"proxyI", fmt.Sprintf("lists.range(size(variables.inits)).filter(i, variables.inits[i].name == %s)", q(emissary.ProxyContainerName)),
			"injected", "size(variables.proxyC) > 0 || size(variables.proxyI) > 0",
			"setAnn", strings.Join([]string{
				setAnnotation(has("variables.ann", istio.SidecarInject)+" && "+istio.InjectBlocksCEL("variables.ann["+q(istio.SidecarInject)+"]"), istio.SidecarInject, istio.InjectOn),
				setAnnotation("!"+has("variables.ann", istio.AnnotationProxyConfig), istio.AnnotationProxyConfig, proxyConfig),
				setAnnotation("variables.volumeOK && !"+has("variables.ann", emissary.AnnotationUserVolumeMount), emissary.AnnotationUserVolumeMount, userVolumeMount),
				traffic(emissary.AnnotationIncludeInboundPorts),
				traffic(emissary.AnnotationIncludeOutboundIPRanges),
			}, " + "),
			"liftLabel", has("variables.lbl", istio.SidecarInject)+" && "+istio.InjectBlocksCEL("variables.lbl["+q(istio.SidecarInject)+"]"),
			"ec", "variables.cs[variables.edge]",
			"edgeMount", needsMount("variables.ec"),
			"edgeEnv", fmt.Sprintf("(%s ? [] : [[%s, %s]]) + (%s ? [] : [[%s, %s]])",
				hasEnv("variables.ec", emissary.EnvSecretDir), q(emissary.EnvSecretDir), q(emissary.CertDir),
				hasEnv("variables.ec", emissary.EnvEnvoyBaseID), q(emissary.EnvEnvoyBaseID), q(emissary.EnvoyBaseID)),
			"proxy", "size(variables.proxyC) > 0 ? variables.cs[variables.proxyC[0]] : variables.inits[variables.proxyI[0]]",
			"proxyMount", needsMount("variables.proxy"),
			"proxyEnv", fmt.Sprintf("%s ? [] : [[%s, %s]]", hasEnv("variables.proxy", emissary.EnvOutputCerts), q(emissary.EnvOutputCerts), q(emissary.CertDir)),
			"initIdx", fmt.Sprintf("lists.range(size(variables.inits)).filter(i, variables.inits[i].name == %s)", q(emissary.InitContainerName)),
			"init", "variables.inits[variables.initIdx[0]]",
			"initList", fmt.Sprintf("%s ? variables.init.command : variables.init.?args.orValue([])", initArgs),
			"initRewritten", istio.IptablesArgsRewriteCEL("variables.initList"),
		)...),
		Mutations: []admissionregistrationv1.Mutation{{
			PatchType: admissionregistrationv1.PatchTypeJSONPatch,
			JSONPatch: &admissionregistrationv1.JSONPatch{Expression: "variables.wire ? " + patch + " : []"},
		}},
	}}
	return policy.InTreePolicies{Mutating: []admissionregistrationv1.MutatingAdmissionPolicy{mp}}, nil
}
