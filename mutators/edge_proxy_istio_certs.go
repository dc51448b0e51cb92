package mutators

import (
	"context"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/emissary"
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
		InTree: edgeProxyIstioCertsInTree,
	})
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
		m.pod.Labels[istio.SidecarInject] = istio.InjectOn
		m.rep.Replace(policy.EdgeProxyIstioCerts, labelsPath.Key(istio.SidecarInject), istio.InjectOn,
			"label was "+strconv.Quote(v)+", which keeps Istio's injector away: the edge proxy needs the sidecar that writes its certificates")
	}
	if v, ok := m.pod.Annotations[istio.SidecarInject]; ok && istio.InjectBlocks(v) {
		m.pod.Annotations[istio.SidecarInject] = istio.InjectOn
		m.rep.Replace(policy.EdgeProxyIstioCerts, annotationsPath.Key(istio.SidecarInject), istio.InjectOn,
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
