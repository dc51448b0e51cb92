package mutators

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/emissary"
	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/policy"
)

func init() {
	policy.Register(policy.Rule{
		ID:       policy.EdgeProxyIstioCerts,
		Summary:  "wire Istio certificates into edge-proxy pods (conflicts are reported with this mode)",
		Mutation: true,
		Default:  policy.Warn,
		Reads:    []policy.WorldKind{policy.KindNamespace},
		Reviews: []policy.Review{{
			Kinds: policy.PodKinds, Check: policy.PodFunc(EdgeProxyIstioCerts), Select: policy.EdgeProxySelect,
			Admission: emissary.EdgeProxyAdmission,
		}},
		InTree: &policy.InTree{
			Build: edgeProxyIstioCertsPolicy,
			Coverage: []policy.Coverage{
				{Part: "sidecar mode: volume, mounts, env, Istio's annotations when absent, inject opt-out lifted", Covered: true, How: "MAP JSONPatch (appends; never overwrites a value)"},
				{Part: "already injected: istio-proxy's env and mount, istio-init's -b and -i", Covered: true, How: "MAP JSONPatch (arguments in the forms Istio renders)"},
				{Part: "merging into an existing proxy.istio.io/config or userVolumeMount", Covered: false, How: "not matched: a YAML or JSON merge stays with the webhook"},
				{Part: "mount paths with . or .. segments or an inner //, istio-init flags as values", Covered: false, How: "not matched: the webhook wires such pods"},
				{Part: "legacy-secret mode", Covered: false, How: "webhook only (Ambassador 1.x with Istio <= 1.4)"},
				{Part: "conflicts: the values meshgate leaves alone", Covered: false, How: "left alone as by the webhook, which reports them (a MAP cannot warn)"},
			},
		},
	})
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
			c, q(emissary.VolumeName), intree.MountAt("m.mountPath", emissary.CertDir))
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
		when("variables.liftLabel", fmt.Sprintf("JSONPatch{op: 'replace', path: %s, value: 'true'}", q(policy.FieldPointer(labelsPath.Key(istio.SidecarInject))))),
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
			{Name: "plain-mount-paths", Expression: intree.MountPathsPlain()},
			{Name: "plain-istio-init-args", Expression: fmt.Sprintf("object.spec.?initContainers.orValue([]).all(c, c.name != %s || %s)",
				q(emissary.InitContainerName), intree.IptablesArgsRewritable("((size(c.?args.orValue([])) == 0 && size(c.?command.orValue([])) > 0) ? c.command : c.?args.orValue([]))"))},
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
			"edge", intree.EdgeContainer("variables.cs"),
			// ModeOf is sidecar, for an edge proxy that did not opt out
			// (the conditions of EdgeProxyIstioCerts, in its order).
			"wire", fmt.Sprintf("!variables.%s && (%s == 'true' || variables.%s.exists(s, size(s) > 0 && s.all(k, k in variables.lbl && variables.lbl[k] == s[k]))) && %s != 'false' && variables.edge >= 0 && %s != %s && %s",
				intree.VarCertModeSecret, intree.Label("variables.ann", policy.AnnotationEdgeProxy), intree.VarEdgeSelectors,
				intree.Label("variables.ann", policy.AnnotationInject), intree.Label("variables.ann", policy.AnnotationCertMode), q(policy.CertModeSecret),
				intree.SidecarInjected("variables.lbl", "variables.ann", "namespaceObject.metadata.?labels.orValue({})", "request.namespace")),
			"volIdx", fmt.Sprintf("lists.range(size(variables.vols)).filter(i, variables.vols[i].name == %s)", q(emissary.VolumeName)),
			"volumeOK", "size(variables.volIdx) == 0 || has(variables.vols[variables.volIdx[0]].emptyDir)",
			"proxyC", fmt.Sprintf("lists.range(size(variables.cs)).filter(i, variables.cs[i].name == %s)", q(emissary.ProxyContainerName)),
			"proxyI", fmt.Sprintf("lists.range(size(variables.inits)).filter(i, variables.inits[i].name == %s)", q(emissary.ProxyContainerName)),
			"injected", "size(variables.proxyC) > 0 || size(variables.proxyI) > 0",
			"setAnn", strings.Join([]string{
				setAnnotation(has("variables.ann", istio.SidecarInject)+" && "+intree.InjectBlocks("variables.ann["+q(istio.SidecarInject)+"]"), istio.SidecarInject, "true"),
				setAnnotation("!"+has("variables.ann", istio.AnnotationProxyConfig), istio.AnnotationProxyConfig, proxyConfig),
				setAnnotation("variables.volumeOK && !"+has("variables.ann", emissary.AnnotationUserVolumeMount), emissary.AnnotationUserVolumeMount, userVolumeMount),
				traffic(emissary.AnnotationIncludeInboundPorts),
				traffic(emissary.AnnotationIncludeOutboundIPRanges),
			}, " + "),
			"liftLabel", has("variables.lbl", istio.SidecarInject)+" && "+intree.InjectBlocks("variables.lbl["+q(istio.SidecarInject)+"]"),
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
			"initRewritten", intree.IptablesArgsRewrite("variables.initList"),
		)...),
		Mutations: []admissionregistrationv1.Mutation{{
			PatchType: admissionregistrationv1.PatchTypeJSONPatch,
			JSONPatch: &admissionregistrationv1.JSONPatch{Expression: "variables.wire ? " + patch + " : []"},
		}},
	}}
	return policy.InTreePolicies{Mutating: []admissionregistrationv1.MutatingAdmissionPolicy{mp}}, nil
}

// EdgeProxyIstioCerts implements rule edge-proxy-istio-certs: it wires Istio's
// mTLS certificates into an edge-proxy pod. The rule is specified in
// docs/rules.md#edge-proxy-istio-certs; the mode comes from emissary.ModeOf.
// Every change carries the patch operations computed against the pod as it is at
// that moment, so they apply in order to the pod as submitted.
func EdgeProxyIstioCerts(ctx context.Context, pod *corev1.Pod, t policy.Target, w policy.World, cfg *policy.Config) (policy.Report, error) {
	rep := t.NewReport()
	if pod == nil || cfg == nil || !cfg.Enabled(policy.EdgeProxyIstioCerts) {
		return rep, nil
	}
	if !cfg.IsEdgeProxy(pod.Labels, pod.Annotations) || policy.OptedOut(pod.Annotations) {
		return rep, nil
	}
	edge := emissary.EdgeContainer(pod)
	if edge < 0 {
		return rep, nil // no container to wire: the API server rejects such a pod anyway
	}
	m := &certsWiring{pod: pod, rep: &rep, mode: cfg.Mode(policy.EdgeProxyIstioCerts), edge: edge, namespace: t.Namespace}
	if v, unknown := emissary.UnknownCertMode(pod); unknown {
		m.conflict(annotationsPath.Key(policy.AnnotationCertMode),
			"annotation %s is %q, which meshgate does not know, so it reads it as %q: set it to %q (Ambassador 1.x with Istio <= 1.4: mount secret istio.<serviceAccountName>) or %q (the namespace decides), or remove it",
			policy.AnnotationCertMode, v, policy.CertModeAuto, policy.CertModeSecret, policy.CertModeAuto)
	}
	mode, err := emissary.ModeOf(ctx, pod, t.Namespace, w, cfg)
	if err != nil {
		return rep, err
	}
	switch mode {
	case emissary.ModeSidecar:
		m.sidecar()
	case emissary.ModeLegacySecret:
		m.legacySecret()
	case emissary.ModeAmbient, emissary.ModeNone:
		// See the doc comment: ambient needs no files, and outside the mesh
		// there is nothing to wire.
	}
	return rep, nil
}

var (
	annotationsPath = field.NewPath("metadata", "annotations")
	labelsPath      = field.NewPath("metadata", "labels")
	specPath        = field.NewPath("spec")
)

// Why the other pieces of the wiring are there (see also emissary.Why*).
const (
	whyInbound      = "clients reach Emissary directly, not through istio-proxy"
	whyOutbound     = "Emissary originates Istio mTLS itself, so istio-proxy must not intercept its upstream traffic"
	whyLegacyMount  = "the Istio TLSContext of the Ambassador 1.x guide reads the certificate files from there"
	alreadyInjected = "Istio's injector ran first"
)

// certsWiring applies one pod's wiring. Every method changes the pod in place and
// records, per change, the patch operations computed against the pod as it is at
// that moment, so the operations apply in order to the pod as submitted.
type certsWiring struct {
	pod       *corev1.Pod
	rep       *policy.Report
	mode      policy.Mode
	edge      int
	namespace string
	// pending is the volume to add once the annotations are done.
	pending *pendingVolume
}

func (m *certsWiring) conflict(fld *field.Path, format string, args ...any) {
	m.rep.Find(policy.EdgeProxyIstioCerts, m.mode, fld, format, args...)
}

func (m *certsWiring) edgeRef() emissary.ContainerRef {
	return emissary.ContainerRef{List: "containers", Index: m.edge}
}

// sidecar applies the sidecar-mode wiring.
func (m *certsWiring) sidecar() {
	volumeOK := m.ensureVolume(corev1.Volume{
		Name:         emissary.VolumeName,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}},
	}, "an emptyDir with medium Memory", emissary.VolumeWired, emissary.WhyVolume)
	// The annotations come first in the patch, so it reads in the order of the pod.
	m.enableInjection()
	m.proxyConfig()
	m.userVolumeMount(volumeOK)
	_, injected := emissary.IstioProxy(m.pod)
	m.trafficAnnotation(emissary.AnnotationIncludeInboundPorts, "intercept no inbound port: "+whyInbound, injected)
	m.trafficAnnotation(emissary.AnnotationIncludeOutboundIPRanges, "intercept no outbound traffic: "+whyOutbound, injected)
	m.addPendingVolume()
	// The container side, from the table edge-proxy-wiring checks too.
	for _, need := range emissary.SidecarNeeds {
		switch {
		case need.Mount != nil:
			if ref, ok := need.Mount.In.Container(m.pod, m.edge); ok {
				m.ensureMount(ref, *need.Mount, onProxy(need.Mount.In, need.Mount.Annotation, need.Mount.Why), volumeOK)
			}
		case need.Env != nil:
			if ref, ok := need.Env.In.Container(m.pod, m.edge); ok {
				m.ensureEnv(ref, *need.Env, onProxy(need.Env.In, need.Env.Annotation, need.Env.Why))
			}
		}
	}
	m.istioInitArgs()
}

// onProxy explains a need on istio-proxy, which only counts once Istio injected
// it: the annotation that would have produced it can no longer reach it.
func onProxy(in emissary.In, annotation, why string) string {
	if in != emissary.InProxy {
		return why
	}
	return alreadyInjected + ", so " + annotation + " can no longer reach istio-proxy, and " + why
}

// legacySecret applies the Ambassador 1.x / Istio <= 1.4 wiring.
func (m *certsWiring) legacySecret() {
	sa := emissary.ServiceAccount(m.pod)
	secret := emissary.LegacySecretName(sa)
	volumeOK := m.ensureVolume(corev1.Volume{
		Name:         emissary.VolumeName,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret, Optional: ptr.To(true)}},
	}, "secret "+strconv.Quote(secret)+" (optional)", func(v *corev1.Volume) bool { return emissary.LegacyVolumeWired(v, secret) },
		"Istio <= 1.4 keeps the certificates of ServiceAccount "+strconv.Quote(orDefault(sa))+" there")

	inj, ok := m.pod.Annotations[istio.SidecarInject]
	switch {
	case !ok:
		m.setAnnotation(istio.SidecarInject, "false",
			"legacy-secret mode: the edge proxy runs without an Istio sidecar and uses the mounted secret instead")
	case inj != "false":
		// Only "false" stops injection in every Istio version: Istio >= 1.27 reads
		// any value but "true" and "false" as "the namespace decides".
		m.conflict(annotationsPath.Key(istio.SidecarInject),
			"annotation %s is %q, not \"false\"%s: legacy-secret mode runs the edge proxy without a sidecar; meshgate left it alone: set it to \"false\", or drop meshgate.io/cert-mode: secret (and edgeProxy.certMode: secret) to use sidecar mode",
			istio.SidecarInject, inj, notExactlyFalse(inj))
	}
	if lbl, ok := m.pod.Labels[istio.SidecarInject]; ok && lbl != "false" {
		what := "which makes Istio inject a sidecar (the label wins over the annotation)"
		if !istio.InjectTruthy(lbl) {
			what = "and Istio reads the label instead of the annotation, where only \"false\" stops injection in every Istio version (Istio >= 1.27 lets the namespace decide on any other value)"
		}
		m.conflict(labelsPath.Key(istio.SidecarInject),
			"label %s is %q, %s, but legacy-secret mode runs the edge proxy without one; meshgate left it alone: set the label to \"false\" or remove it, or leave legacy-secret mode",
			istio.SidecarInject, lbl, what)
	}
	if ref, ok := emissary.IstioProxy(m.pod); ok {
		m.conflict(specPath.Child(ref.List).Index(ref.Index),
			"the pod already carries an injected %s container, but legacy-secret mode runs the edge proxy without a sidecar: create the pod with sidecar.istio.io/inject: \"false\", or leave legacy-secret mode to use the sidecar's certificates",
			emissary.ProxyContainerName)
	}
	if sa == "" || sa == emissary.DefaultServiceAccount {
		who := "the edge proxy runs as ServiceAccount \"default\""
		if sa == "" {
			who = "spec.serviceAccountName is unset, so the edge proxy runs as ServiceAccount \"default\""
		}
		m.conflict(specPath.Child("serviceAccountName"),
			"%s: its certificates come from secret %s, an identity (spiffe://<trust domain>/ns/%s/sa/default) that every pod on that account shares, so Istio authorization policies cannot single out the edge proxy: give it its own account (spec.serviceAccountName: ambassador, as the guides do) and meshgate mounts istio.<that account> instead",
			who, secret, m.namespace)
	}
	m.addPendingVolume()
	m.ensureMount(m.edgeRef(), emissary.MountNeed{In: emissary.InEdge, Dir: emissary.LegacyCertDir, ReadOnly: true}, whyLegacyMount, volumeOK)
}

// notExactlyFalse explains why a value that older Istio reads as "do not inject"
// (no, off, False, ...) is still not "false".
func notExactlyFalse(v string) string {
	if istio.InjectBlocks(v) {
		return " (Istio >= 1.27 reads only \"true\" and \"false\" and lets the namespace decide on anything else)"
	}
	return ""
}

func orDefault(sa string) string {
	if sa == "" {
		return emissary.DefaultServiceAccount
	}
	return sa
}

// enableInjection flips a sidecar.istio.io/inject label or annotation that would
// stop Istio from injecting the sidecar (vendor YAML ships "false" on these pods).
// This is the one user value meshgate overwrites, on purpose.
func (m *certsWiring) enableInjection() {
	if v, ok := m.pod.Labels[istio.SidecarInject]; ok && istio.InjectBlocks(v) {
		m.pod.Labels[istio.SidecarInject] = "true"
		m.rep.Replace(policy.EdgeProxyIstioCerts, labelsPath.Key(istio.SidecarInject), "true",
			"label was "+strconv.Quote(v)+", which keeps Istio's injector away: the edge proxy needs the sidecar that writes its certificates")
	}
	if v, ok := m.pod.Annotations[istio.SidecarInject]; ok && istio.InjectBlocks(v) {
		m.pod.Annotations[istio.SidecarInject] = "true"
		m.rep.Replace(policy.EdgeProxyIstioCerts, annotationsPath.Key(istio.SidecarInject), "true",
			"annotation was "+strconv.Quote(v)+" (as vendor YAML ships it), which stops injection: the edge proxy needs the sidecar that writes its certificates")
	}
}

// setAnnotation sets annotation key to value (absent or not).
func (m *certsWiring) setAnnotation(key, value, reason string) {
	m.rep.SetKey(policy.EdgeProxyIstioCerts, annotationsPath, m.pod.Annotations, key, value, reason)
	if m.pod.Annotations == nil {
		m.pod.Annotations = map[string]string{}
	}
	m.pod.Annotations[key] = value
}

// ensureAnnotation sets annotation key to want when absent; another value is a
// conflict.
func (m *certsWiring) ensureAnnotation(key, want, reason string) {
	v, ok := m.pod.Annotations[key]
	switch {
	case !ok:
		m.setAnnotation(key, want, reason)
	case v != want:
		m.conflict(annotationsPath.Key(key),
			"annotation %s is %q, not %q (%s); meshgate left it alone: set it to %q or remove it",
			key, v, want, reason, want)
	}
}

// trafficAnnotation sets one of the two traffic.sidecar.istio.io annotations to "".
// Before injection a user's other value is a conflict (ensureAnnotation). Once
// Istio's injector has run, the value is the injector's rendering: with the Istio
// CNI plugin (init container istio-validation) the injector writes both
// annotations itself, "*" by default, and the plugin sets up the pod's traffic
// capture from them when the pod starts. So, like istio-init's -b and -i, the
// value is set to "" rather than reported as the user's.
func (m *certsWiring) trafficAnnotation(key, reason string, injected bool) {
	v, ok := m.pod.Annotations[key]
	if !injected || !ok || v == "" {
		m.ensureAnnotation(key, "", reason)
		return
	}
	how := " (the Istio CNI plugin sets up the pod's traffic capture from it when the pod starts)"
	if emissary.IstioInit(m.pod) >= 0 {
		how = " (istio-init already got it as an argument, rewritten below)"
	}
	m.setAnnotation(key, "", alreadyInjected+" and the annotation reads "+strconv.Quote(v)+how+
		", so it is set to \"\" as istio-init's arguments are: "+reason)
}

func (m *certsWiring) proxyConfig() {
	key := istio.AnnotationProxyConfig
	v, ok := m.pod.Annotations[key]
	merged, changed, err := emissary.MergeOutputCerts(v, ok)
	switch {
	case err != nil:
		m.conflict(annotationsPath.Key(key),
			"annotation %s %s, so meshgate cannot add proxyMetadata.%s: %s (%s) and left it alone: make it carry that entry (other keys may stay)",
			key, err.Error(), emissary.EnvOutputCerts, emissary.CertDir, emissary.WhyProxyMount)
	case !changed:
	case ok && strings.TrimSpace(v) != "":
		m.setAnnotation(key, merged, "set proxyMetadata."+emissary.EnvOutputCerts+" to "+emissary.CertDir+" in the existing proxy config, other keys kept: "+emissary.WhyProxyMount)
	default:
		m.setAnnotation(key, merged, "set proxyMetadata."+emissary.EnvOutputCerts+" to "+emissary.CertDir+": "+emissary.WhyProxyMount)
	}
}

// userVolumeMount merges the istio-certs mount into sidecar.istio.io/userVolumeMount;
// with add false (the volume is someone else's) it only reports conflicts.
func (m *certsWiring) userVolumeMount(add bool) {
	key := emissary.AnnotationUserVolumeMount
	v, ok := m.pod.Annotations[key]
	merged, changed, err := emissary.MergeUserVolumeMount(v, ok)
	switch {
	case err != nil:
		m.conflict(annotationsPath.Key(key),
			"annotation %s %s, so meshgate cannot make istio-proxy mount volume %s writable at %s (%s) and left it alone: make it {%q:{\"mountPath\":%q}} (other mounts may stay)",
			key, err.Error(), emissary.VolumeName, emissary.CertDir, emissary.WhyProxyMount, emissary.VolumeName, emissary.CertDir)
	case !changed || !add:
	case !ok || strings.TrimSpace(v) == "":
		m.setAnnotation(key, merged, "mount volume "+emissary.VolumeName+" at "+emissary.CertDir+" in istio-proxy: it writes its certificates there")
	default:
		reason := "add the " + emissary.VolumeName + " mount at " + emissary.CertDir + " to the existing mounts: " + emissary.WhyProxyMount
		if _, form, _ := emissary.ParseUserVolumeMounts(v); form == emissary.FormList {
			reason += "; written in Istio's canonical map form {\"<volume>\":{...}}, every mount kept (the list form only works because Istio's template tolerates a repeated name key)"
		}
		m.setAnnotation(key, merged, reason)
	}
}

// ensureVolume checks the volume named like want. It reports whether the pod's
// volume of that name is (or will be) want: absent volumes are added by
// addPendingVolume, so the patch keeps the annotations first; a volume that
// wired() rejects is a conflict, and false.
func (m *certsWiring) ensureVolume(want corev1.Volume, wantDesc string, wired func(*corev1.Volume) bool, why string) bool {
	i := emissary.FindVolume(m.pod, want.Name)
	if i < 0 {
		m.pending = &pendingVolume{want, wantDesc, why}
		return true
	}
	have := &m.pod.Spec.Volumes[i]
	if wired(have) {
		return true
	}
	m.conflict(specPath.Child("volumes").Index(i),
		"volume %s is %s, not %s (%s); meshgate left it alone and mounts nothing from it: make it %s, or rename your volume so meshgate can add its own",
		want.Name, emissary.VolumeSource(have), wantDesc, why, wantDesc)
	return false
}

type pendingVolume struct {
	vol  corev1.Volume
	desc string
	why  string
}

// addPendingVolume adds the volume ensureVolume found missing.
func (m *certsWiring) addPendingVolume() {
	if m.pending == nil {
		return
	}
	v := m.pending.vol
	m.rep.Append(policy.EdgeProxyIstioCerts, specPath.Child("volumes"), len(m.pod.Spec.Volumes), v,
		"add volume "+v.Name+", "+m.pending.desc+": "+m.pending.why)
	m.pod.Spec.Volumes = append(m.pod.Spec.Volumes, v)
	m.pending = nil
}

// ensureMount mounts volume istio-certs as need says in the referenced container
// unless it is mounted so already. A mount of istio-certs elsewhere, a mount of
// another volume at the directory, or (for a writable need) a read-only one is a
// conflict. With add false (the volume is someone else's) it only reports
// conflicts.
func (m *certsWiring) ensureMount(ref emissary.ContainerRef, need emissary.MountNeed, why string, add bool) {
	c := ref.Get(m.pod)
	cPath := specPath.Child(ref.List).Index(ref.Index)
	dir := need.Dir
	if i := emissary.FindMount(c, emissary.VolumeName); i >= 0 {
		have := c.VolumeMounts[i]
		switch {
		case !emissary.SameDir(have.MountPath, dir):
			m.conflict(cPath.Child("volumeMounts").Index(i),
				"container %q mounts volume %s at %q, not %q (%s); meshgate left it alone: mount it at %q",
				c.Name, emissary.VolumeName, have.MountPath, dir, why, dir)
		case !need.Accept(have.MountPath, have.ReadOnly):
			m.conflict(cPath.Child("volumeMounts").Index(i),
				"container %q mounts volume %s read-only, but %s; meshgate left it alone: drop readOnly",
				c.Name, emissary.VolumeName, need.Why)
		}
		return
	}
	if i := emissary.FindMountAt(c, dir); i >= 0 {
		m.conflict(cPath.Child("volumeMounts").Index(i),
			"container %q mounts volume %q at %q, where volume %s belongs (%s); meshgate left it alone: mount that volume elsewhere",
			c.Name, c.VolumeMounts[i].Name, c.VolumeMounts[i].MountPath, emissary.VolumeName, why)
		return
	}
	if !add {
		return
	}
	mount := corev1.VolumeMount{Name: emissary.VolumeName, MountPath: dir, ReadOnly: need.ReadOnly}
	how := "writable"
	if need.ReadOnly {
		how = "read-only"
	}
	m.rep.Append(policy.EdgeProxyIstioCerts, cPath.Child("volumeMounts"), len(c.VolumeMounts), mount,
		"mount volume "+emissary.VolumeName+" "+how+" at "+dir+" in container "+strconv.Quote(c.Name)+": "+why)
	c.VolumeMounts = append(c.VolumeMounts, mount)
}

// ensureEnv appends need's env var to the referenced container when it is
// absent. A literal value need does not accept, or a valueFrom, is a conflict.
func (m *certsWiring) ensureEnv(ref emissary.ContainerRef, need emissary.EnvNeed, why string) {
	c := ref.Get(m.pod)
	name, want := need.Name, need.Value
	i := emissary.FindEnv(c, name)
	if i < 0 {
		ev := corev1.EnvVar{Name: name, Value: want}
		m.rep.Append(policy.EdgeProxyIstioCerts, specPath.Child(ref.List).Index(ref.Index).Child("env"), len(c.Env), ev,
			"set "+name+"="+want+" in container "+strconv.Quote(c.Name)+": "+why)
		c.Env = append(c.Env, ev)
		return
	}
	ev := c.Env[i]
	if ev.ValueFrom == nil && need.Accept(ev.Value) {
		return
	}
	have := strconv.Quote(ev.Value)
	if ev.ValueFrom != nil {
		have = "set from valueFrom"
	}
	fix := "set it to " + strconv.Quote(want) + need.Hint + " or remove it"
	if name == emissary.EnvSecretDir && ev.ValueFrom == nil && emissary.SameDir(ev.Value, want) {
		fix = "drop the trailing slash (Emissary's watcher compares the exact string " + strconv.Quote(want) + ")"
	}
	m.conflict(specPath.Child(ref.List).Index(ref.Index).Child("env").Index(i),
		"env %s of container %q is %s, not %q (%s); meshgate left it alone: %s",
		name, c.Name, have, want, why, fix)
}

// istioInitArgs gives an already injected istio-init the -b "" and -i "" that the
// two traffic annotations would have produced.
func (m *certsWiring) istioInitArgs() {
	j := emissary.IstioInit(m.pod)
	if j < 0 {
		return
	}
	c := &m.pod.Spec.InitContainers[j]
	list, name := &c.Args, "args"
	if len(c.Args) == 0 && len(c.Command) > 0 {
		list, name = &c.Command, "command" // Istio <= 1.5 put istio-iptables and its flags in command
	}
	out, changed := istio.RewriteIptablesArgs(*list)
	if !changed {
		return
	}
	fld := specPath.Child("initContainers").Index(j).Child(name)
	reason := alreadyInjected + `, so the two traffic.sidecar.istio.io annotations can no longer reach istio-init: istio-iptables gets -b "" and -i "" (intercept no inbound port and no outbound range)`
	if len(*list) == 0 {
		m.rep.Add(policy.EdgeProxyIstioCerts, fld, out, reason) // an empty list may be absent
	} else {
		m.rep.Replace(policy.EdgeProxyIstioCerts, fld, out, reason)
	}
	*list = out
}
