package mutators

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/ruletest"
	"github.com/meshgate/meshgate/internal/world"
)

// edgePod is the Emissary Helm chart's pod, trimmed to what the rule reads.
const edgePod = `
apiVersion: v1
kind: Pod
metadata:
  name: emissary-ingress-0
  namespace: emissary
  labels:
    app.kubernetes.io/name: emissary-ingress
    product: aes
    profile: main
spec:
  serviceAccountName: emissary-ingress
  containers:
  - name: emissary-ingress
    image: docker.io/emissaryingress/emissary:3.10.0
    ports:
    - name: admin
      containerPort: 8877
    env:
    - name: AMBASSADOR_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
`

// certsWorld knows one namespace of each data plane.
func certsWorld(t testing.TB) policy.World {
	t.Helper()
	w := world.NewMemory("default")
	for name, labels := range map[string]map[string]any{
		"emissary": {"istio-injection": "enabled"},
		"rev":      {"istio.io/rev": "1-26-2"},
		"ambient":  {"istio.io/dataplane-mode": "ambient"},
		"plain":    {},
	} {
		_, err := w.Add(&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels},
		}})
		require.NoError(t, err)
	}
	return w
}

func podFrom(t testing.TB, s string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(s), pod))
	return pod
}

// runCerts runs the rule on a copy of pod and proves what every caller relies
// on: the recorded operations, applied to the pod as submitted, give exactly the
// pod the rule produced, and a second run changes nothing and finds the same.
func runCerts(t *testing.T, pod *corev1.Pod, ns string, cfg *policy.Config) (*corev1.Pod, policy.Report) {
	t.Helper()
	w := certsWorld(t)
	target := policy.Target{Object: policy.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: pod.Name}, Namespace: ns}
	got := pod.DeepCopy()
	rep := ruletest.MutationContract(t, nil, got, func() (policy.Report, error) {
		return EdgeProxyIstioCerts(context.Background(), got, target, w, cfg)
	})
	for _, c := range rep.Changes {
		require.Equal(t, policy.EdgeProxyIstioCerts, c.Rule)
	}
	return got, rep
}

func changedFields(rep policy.Report) []string {
	var out []string
	for _, c := range rep.Changes {
		out = append(out, c.Field)
	}
	return out
}

var sidecarFields = []string{
	"metadata.annotations[proxy.istio.io/config]",
	"metadata.annotations[sidecar.istio.io/userVolumeMount]",
	"metadata.annotations[traffic.sidecar.istio.io/includeInboundPorts]",
	"metadata.annotations[traffic.sidecar.istio.io/includeOutboundIPRanges]",
	"spec.volumes",
	"spec.containers[0].volumeMounts",
	"spec.containers[0].env",
	"spec.containers[0].env",
}

func TestEdgeProxyIstioCertsSidecar(t *testing.T) {
	got, rep := runCerts(t, podFrom(t, edgePod), "emissary", policy.DefaultConfig())
	assert.Equal(t, sidecarFields, changedFields(rep))
	assert.Empty(t, rep.Findings)

	assert.Equal(t, map[string]string{
		"proxy.istio.io/config":                            "proxyMetadata:\n  OUTPUT_CERTS: /etc/istio-certs\n",
		"sidecar.istio.io/userVolumeMount":                 `{"istio-certs":{"mountPath":"/etc/istio-certs"}}`,
		"traffic.sidecar.istio.io/includeInboundPorts":     "",
		"traffic.sidecar.istio.io/includeOutboundIPRanges": "",
	}, got.Annotations)
	require.Len(t, got.Spec.Volumes, 1)
	assert.Equal(t, "istio-certs", got.Spec.Volumes[0].Name)
	require.NotNil(t, got.Spec.Volumes[0].EmptyDir)
	assert.Equal(t, corev1.StorageMediumMemory, got.Spec.Volumes[0].EmptyDir.Medium)
	c := got.Spec.Containers[0]
	assert.Equal(t, []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio-certs", ReadOnly: true}}, c.VolumeMounts)
	assert.Equal(t, []corev1.EnvVar{
		c.Env[0],
		{Name: "AMBASSADOR_ISTIO_SECRET_DIR", Value: "/etc/istio-certs"},
		{Name: "AMBASSADOR_ENVOY_BASE_ID", Value: "1"},
	}, c.Env)
}

func TestEdgeProxyIstioCerts(t *testing.T) {
	secretCfg := policy.DefaultConfig()
	secretCfg.EdgeProxy.CertMode = policy.CertModeSecret
	enforceCfg := policy.DefaultConfig()
	enforceCfg.Rules[policy.EdgeProxyIstioCerts] = policy.Enforce
	offCfg := policy.DefaultConfig()
	offCfg.Rules[policy.EdgeProxyIstioCerts] = policy.Off

	tests := []struct {
		name     string
		ns       string
		cfg      *policy.Config
		edit     func(p *corev1.Pod)
		fields   []string // changed fields, in order
		findings []string // substrings of the findings, in order
		mode     policy.Mode
		check    func(t *testing.T, p *corev1.Pod)
	}{
		{name: "istio.io/rev namespace is sidecar mode", ns: "rev", fields: sidecarFields},
		{name: "ambient namespace: no change, no finding", ns: "ambient"},
		{name: "namespace outside the mesh: no change", ns: "plain"},
		{name: "namespace the World does not know: no change", ns: "elsewhere"},
		{name: "pod label inject=true in a plain namespace: sidecar mode", ns: "plain",
			edit:   func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "true" },
			fields: sidecarFields},
		{name: "not an edge proxy (ambassador-agent: product=aes without profile=main)", ns: "emissary",
			edit: func(p *corev1.Pod) { delete(p.Labels, "profile") }},
		{name: "opt-in annotation on a pod without the labels", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Labels = nil
				p.Annotations = map[string]string{"meshgate.io/edge-proxy": "true"}
			},
			fields: sidecarFields},
		{name: "opted out: no change", ns: "emissary",
			edit: func(p *corev1.Pod) { p.Annotations = map[string]string{"meshgate.io/inject": "false"} }},
		{name: "rule off: no change", ns: "emissary", cfg: offCfg},
		{name: "empty annotations map", ns: "emissary",
			edit: func(p *corev1.Pod) { p.Annotations = map[string]string{} }, fields: sidecarFields},
		{name: "vendor inject annotation false is flipped", ns: "emissary",
			edit:   func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/inject": "false"} },
			fields: append([]string{"metadata.annotations[sidecar.istio.io/inject]"}, sidecarFields...),
			check: func(t *testing.T, p *corev1.Pod) {
				assert.Equal(t, "true", p.Annotations["sidecar.istio.io/inject"])
			}},
		{name: "inject label no is flipped too", ns: "emissary",
			edit:   func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "no" },
			fields: append([]string{"metadata.labels[sidecar.istio.io/inject]"}, sidecarFields...),
			check: func(t *testing.T, p *corev1.Pod) {
				assert.Equal(t, "true", p.Labels["sidecar.istio.io/inject"])
			}},
		{name: "env set from valueFrom is a conflict", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "AMBASSADOR_ISTIO_SECRET_DIR",
					ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "dir"}}})
			},
			fields:   without(sidecarFields, 6),
			findings: []string{`env AMBASSADOR_ISTIO_SECRET_DIR of container "emissary-ingress" is set from valueFrom, not "/etc/istio-certs"`}},
		{name: "a user's base id other than 0 is kept silently", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "AMBASSADOR_ENVOY_BASE_ID", Value: "2"})
			},
			fields: without(sidecarFields, 7)},
		{name: "another volume mounted at /etc/istio-certs is a conflict", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "certs", MountPath: "/etc/istio-certs"}}
			},
			fields:   without(sidecarFields, 5),
			findings: []string{`container "emissary-ingress" mounts volume "certs" at "/etc/istio-certs", where volume istio-certs belongs`}},
		{name: "istio-certs mounted elsewhere in the edge container is a conflict", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "istio-certs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/certs"}}
			},
			fields:   without(sidecarFields, 4, 5),
			findings: []string{`mounts volume istio-certs at "/certs", not "/etc/istio-certs"`}},
		{name: "a conflicting istio-certs volume: nothing is mounted from it, not even in istio-proxy", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "istio-certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "istio.default"}}}}
			},
			fields: []string{
				"metadata.annotations[proxy.istio.io/config]",
				"metadata.annotations[traffic.sidecar.istio.io/includeInboundPorts]",
				"metadata.annotations[traffic.sidecar.istio.io/includeOutboundIPRanges]",
				"spec.containers[0].env", "spec.containers[0].env",
			},
			findings: []string{`volume istio-certs is secret "istio.default", not an emptyDir with medium Memory`}},
		{name: "conflicts are reported in the rule's mode", ns: "emissary", cfg: enforceCfg, mode: policy.Enforce,
			edit: func(p *corev1.Pod) {
				p.Annotations = map[string]string{"traffic.sidecar.istio.io/includeInboundPorts": "*"}
			},
			fields:   without(sidecarFields, 2),
			findings: []string{`annotation traffic.sidecar.istio.io/includeInboundPorts is "*", not ""`}},
		{name: "unknown cert mode is reported and read as auto", ns: "emissary",
			edit:     func(p *corev1.Pod) { p.Annotations = map[string]string{"meshgate.io/cert-mode": "secrets"} },
			fields:   sidecarFields,
			findings: []string{`annotation meshgate.io/cert-mode is "secrets", which meshgate does not know`}},
		{name: "injected by Istio first: istio-proxy and istio-init are wired directly", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "istio-init", Args: []string{"istio-iptables", "-i", "*", "-b", "*"}}}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy"})
			},
			fields: append(append([]string{}, sidecarFields...),
				"spec.containers[1].env", "spec.containers[1].volumeMounts", "spec.initContainers[0].args"),
			check: func(t *testing.T, p *corev1.Pod) {
				proxy := p.Spec.Containers[1]
				assert.Equal(t, []corev1.EnvVar{{Name: "OUTPUT_CERTS", Value: "/etc/istio-certs"}}, proxy.Env)
				assert.Equal(t, []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio-certs"}}, proxy.VolumeMounts, "istio-proxy writes there: not read-only")
				assert.Equal(t, []string{"istio-iptables", "-i", "", "-b", ""}, p.Spec.InitContainers[0].Args)
			}},
		{name: "injected by Istio first with the CNI plugin: the traffic annotations Istio wrote are set to \"\", no conflict", ns: "emissary",
			edit: func(p *corev1.Pod) {
				// Istio's template with pilot.cni.enabled writes both annotations for
				// the CNI plugin and renders istio-validation instead of istio-init.
				p.Annotations = map[string]string{
					"traffic.sidecar.istio.io/includeInboundPorts":     "*",
					"traffic.sidecar.istio.io/includeOutboundIPRanges": "*",
				}
				p.Spec.InitContainers = []corev1.Container{{Name: "istio-validation",
					Args: []string{"istio-iptables", "-i", "*", "-b", "*", "--run-validation", "--skip-rule-apply"}}}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy"})
			},
			fields: append(append([]string{}, sidecarFields...), "spec.containers[1].env", "spec.containers[1].volumeMounts"),
			check: func(t *testing.T, p *corev1.Pod) {
				assert.Equal(t, "", p.Annotations["traffic.sidecar.istio.io/includeInboundPorts"])
				assert.Equal(t, "", p.Annotations["traffic.sidecar.istio.io/includeOutboundIPRanges"])
				assert.Equal(t, []string{"istio-iptables", "-i", "*", "-b", "*", "--run-validation", "--skip-rule-apply"},
					p.Spec.InitContainers[0].Args, "istio-validation only validates: its arguments are left alone")
			}},
		{name: "Istio <= 1.5 istio-init keeps its flags in command", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "istio-init", Command: []string{"istio-iptables", "-p", "15001", "-i", "*", "-b", "*"}}}
			},
			fields: append(append([]string{}, sidecarFields...), "spec.initContainers[0].command"),
			check: func(t *testing.T, p *corev1.Pod) {
				assert.Equal(t, []string{"istio-iptables", "-p", "15001", "-i", "", "-b", ""}, p.Spec.InitContainers[0].Command)
				assert.Empty(t, p.Spec.InitContainers[0].Args)
			}},
		{name: "istio-init without any argument gets them added", ns: "emissary",
			edit:   func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{{Name: "istio-init"}} },
			fields: append(append([]string{}, sidecarFields...), "spec.initContainers[0].args")},
		{name: "native sidecar istio-proxy (an init container) is wired too", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "istio-init", Args: []string{"-i", "", "-b", ""}}, {Name: "istio-proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			},
			fields: append(append([]string{}, sidecarFields...), "spec.initContainers[1].env", "spec.initContainers[1].volumeMounts")},
		{name: "istio-proxy with its own OUTPUT_CERTS and a read-only mount: conflicts", ns: "emissary",
			edit: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "istio-certs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy",
					Env:          []corev1.EnvVar{{Name: "OUTPUT_CERTS", Value: "/var/run/certs"}},
					VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio-certs", ReadOnly: true}}})
			},
			fields: without(sidecarFields, 4),
			findings: []string{
				`env OUTPUT_CERTS of container "istio-proxy" is "/var/run/certs", not "/etc/istio-certs"`,
				`container "istio-proxy" mounts volume istio-certs read-only`,
			}},
		{name: "legacy secret from config: secret of the pod's account", ns: "plain", cfg: secretCfg,
			fields: []string{"metadata.annotations[sidecar.istio.io/inject]", "spec.volumes", "spec.containers[0].volumeMounts"},
			check: func(t *testing.T, p *corev1.Pod) {
				assert.Equal(t, "false", p.Annotations["sidecar.istio.io/inject"])
				require.Len(t, p.Spec.Volumes, 1)
				s := p.Spec.Volumes[0].Secret
				require.NotNil(t, s)
				assert.Equal(t, "istio.emissary-ingress", s.SecretName)
				require.NotNil(t, s.Optional)
				assert.True(t, *s.Optional)
				assert.Equal(t, []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istiocerts/", ReadOnly: true}}, p.Spec.Containers[0].VolumeMounts)
			}},
		{name: "legacy secret wins over a sidecar namespace", ns: "emissary", cfg: secretCfg,
			fields: []string{"metadata.annotations[sidecar.istio.io/inject]", "spec.volumes", "spec.containers[0].volumeMounts"}},
		{name: "legacy secret by annotation with the default account warns about istio.default", ns: "plain",
			edit: func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "default"
				p.Annotations = map[string]string{"meshgate.io/cert-mode": "secret", "sidecar.istio.io/inject": "false"}
			},
			fields:   []string{"spec.volumes", "spec.containers[0].volumeMounts"},
			findings: []string{`the edge proxy runs as ServiceAccount "default": its certificates come from secret istio.default`}},
		{name: "legacy secret with injection on: conflicts, nothing overwritten", ns: "emissary", cfg: secretCfg,
			edit: func(p *corev1.Pod) {
				p.Annotations = map[string]string{"sidecar.istio.io/inject": "true"}
				p.Labels["sidecar.istio.io/inject"] = "true"
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy"})
			},
			fields: []string{"spec.volumes", "spec.containers[0].volumeMounts"},
			findings: []string{
				`annotation sidecar.istio.io/inject is "true", not "false"`,
				`label sidecar.istio.io/inject is "true"`,
				`already carries an injected istio-proxy container`,
			}},
		{name: "legacy secret: inject values only older Istio reads as false are conflicts (Istio >= 1.27 accepts only true/false)", ns: "emissary", cfg: secretCfg,
			edit: func(p *corev1.Pod) {
				p.Annotations = map[string]string{"sidecar.istio.io/inject": "no"}
				p.Labels["sidecar.istio.io/inject"] = "False"
			},
			fields: []string{"spec.volumes", "spec.containers[0].volumeMounts"},
			findings: []string{
				`annotation sidecar.istio.io/inject is "no", not "false" (Istio >= 1.27 reads only "true" and "false"`,
				`label sidecar.istio.io/inject is "False", and Istio reads the label instead of the annotation`,
			}},
		{name: "legacy secret: inject label false is fine", ns: "emissary", cfg: secretCfg,
			edit:   func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "false" },
			fields: []string{"metadata.annotations[sidecar.istio.io/inject]", "spec.volumes", "spec.containers[0].volumeMounts"}},
		{name: "legacy secret with another secret in istio-certs: conflict, no mount", ns: "plain", cfg: secretCfg,
			edit: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "istio-certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "istio.default"}}}}
			},
			fields:   []string{"metadata.annotations[sidecar.istio.io/inject]"},
			findings: []string{`volume istio-certs is secret "istio.default", not secret "istio.emissary-ingress" (optional)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := podFrom(t, edgePod)
			pod.Namespace = tt.ns
			if tt.edit != nil {
				tt.edit(pod)
			}
			cfg := tt.cfg
			if cfg == nil {
				cfg = policy.DefaultConfig()
			}
			got, rep := runCerts(t, pod, tt.ns, cfg)
			assert.Equal(t, tt.fields, changedFields(rep))
			require.Len(t, rep.Findings, len(tt.findings), "findings: %v", rep.Findings)
			mode := tt.mode
			if mode == "" {
				mode = policy.Warn
			}
			for i, want := range tt.findings {
				assert.Contains(t, rep.Findings[i].Message, want)
				assert.Equal(t, mode, rep.Findings[i].Mode)
				assert.Equal(t, policy.EdgeProxyIstioCerts, rep.Findings[i].Rule)
				assert.NotEmpty(t, rep.Findings[i].Field)
				assert.Contains(t, rep.Findings[i].Message, ": ", "a finding says what to do")
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// without returns fields minus the entries at the given indexes.
func without(fields []string, drop ...int) []string {
	var out []string
	for i, f := range fields {
		keep := true
		for _, d := range drop {
			keep = keep && i != d
		}
		if keep {
			out = append(out, f)
		}
	}
	return out
}

func TestEdgeProxyIstioCertsMergesExistingAnnotations(t *testing.T) {
	pod := podFrom(t, edgePod)
	pod.Annotations = map[string]string{
		"proxy.istio.io/config":            "holdApplicationUntilProxyStarts: true\nproxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\n",
		"sidecar.istio.io/userVolumeMount": `[{"name":"tracing-ca","mountPath":"/etc/tracing-ca","readOnly":true}]`,
	}
	got, rep := runCerts(t, pod, "emissary", policy.DefaultConfig())
	assert.Empty(t, rep.Findings)
	assert.Equal(t, "holdApplicationUntilProxyStarts: true\nproxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\n  OUTPUT_CERTS: /etc/istio-certs\n",
		got.Annotations["proxy.istio.io/config"])
	assert.Equal(t, `{"istio-certs":{"mountPath":"/etc/istio-certs"},"tracing-ca":{"mountPath":"/etc/tracing-ca","readOnly":true}}`,
		got.Annotations["sidecar.istio.io/userVolumeMount"])
	var reasons []string
	for _, c := range rep.Changes {
		reasons = append(reasons, c.Reason)
	}
	assert.Contains(t, strings.Join(reasons, "\n"), "canonical map form", "the rewrite of the list form is explained")
}

func TestEdgeProxyIstioCertsSurvivesNilInputs(t *testing.T) {
	target := policy.Target{Namespace: "emissary"}
	assert.Empty(t, ruletest.Must(EdgeProxyIstioCerts(context.Background(), nil, target, certsWorld(t), policy.DefaultConfig())).Changes)
	assert.Empty(t, ruletest.Must(EdgeProxyIstioCerts(context.Background(), podFrom(t, edgePod), target, certsWorld(t), nil)).Changes)
	rep := ruletest.Must(EdgeProxyIstioCerts(context.Background(), podFrom(t, edgePod), target, nil, policy.DefaultConfig()))
	assert.Empty(t, rep.Changes, "no World: the namespace is unknown, so not in the mesh")
	noContainers := podFrom(t, edgePod)
	noContainers.Spec.Containers = nil
	assert.Empty(t, ruletest.Must(EdgeProxyIstioCerts(context.Background(), noContainers, target, certsWorld(t), policy.DefaultConfig())).Changes)
}
