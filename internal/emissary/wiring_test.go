package emissary

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
)

// wiredPod is an edge pod with the complete sidecar wiring, as the Emissary guide
// writes it (list-form userVolumeMount, trailing-slash mount).
const wiredPod = `
metadata:
  annotations:
    proxy.istio.io/config: |
      proxyMetadata:
        OUTPUT_CERTS: /etc/istio-certs
    sidecar.istio.io/userVolumeMount: '[{"name": "istio-certs", "mountPath": "/etc/istio-certs"}]'
spec:
  containers:
  - name: emissary
    env:
    - name: AMBASSADOR_ISTIO_SECRET_DIR
      value: /etc/istio-certs
    - name: AMBASSADOR_ENVOY_BASE_ID
      value: "1"
    volumeMounts:
    - name: istio-certs
      mountPath: /etc/istio-certs/
      readOnly: true
  volumes:
  - name: istio-certs
    emptyDir:
      medium: Memory
`

func TestMissingSidecarWiring(t *testing.T) {
	tests := []struct {
		name    string
		pod     string
		edit    func(p *corev1.Pod)
		missing []string // substrings, in order
	}{
		{name: "complete wiring", pod: wiredPod},
		{name: "nothing at all", pod: "spec:\n  containers:\n  - name: emissary\n", missing: []string{
			"volume istio-certs", "mount of volume istio-certs at /etc/istio-certs", "env AMBASSADOR_ISTIO_SECRET_DIR",
			"env AMBASSADOR_ENVOY_BASE_ID", "proxyMetadata.OUTPUT_CERTS", "annotation sidecar.istio.io/userVolumeMount",
		}},
		{name: "emptyDir on disk still counts", pod: wiredPod, edit: func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir.Medium = "" }},
		{name: "secret volume is not the wiring", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Spec.Volumes[0].EmptyDir = nil
			p.Spec.Volumes[0].Secret = &corev1.SecretVolumeSource{SecretName: "istio.default"}
		}, missing: []string{"volume istio-certs"}},
		{name: "trailing slash in AMBASSADOR_ISTIO_SECRET_DIR", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].Value = "/etc/istio-certs/"
		}, missing: []string{"env AMBASSADOR_ISTIO_SECRET_DIR=/etc/istio-certs"}},
		{name: "base id 0 collides with istio-proxy", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[1].Value = "0"
		}, missing: []string{"env AMBASSADOR_ENVOY_BASE_ID=1"}},
		{name: "mount elsewhere", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts[0].MountPath = "/certs"
		}, missing: []string{"mount of volume istio-certs"}},
		{name: "OUTPUT_CERTS elsewhere", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Annotations["proxy.istio.io/config"] = "proxyMetadata:\n  OUTPUT_CERTS: /tmp\n"
		}, missing: []string{"proxyMetadata.OUTPUT_CERTS"}},
		{name: "read-only userVolumeMount", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Annotations["sidecar.istio.io/userVolumeMount"] = `{"istio-certs":{"mountPath":"/etc/istio-certs","readOnly":true}}`
		}, missing: []string{"annotation sidecar.istio.io/userVolumeMount"}},
		{name: "injection turned off by the vendor annotation", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Annotations["sidecar.istio.io/inject"] = "false"
		}, missing: []string{`sidecar.istio.io/inject must not be "false"`}},
		{name: "injection turned off by the label", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Labels = map[string]string{"sidecar.istio.io/inject": "no"}
		}, missing: []string{`must not be "no"`}},
		{name: "injected pod: istio-proxy's env and mount count, not the annotations", pod: wiredPod, edit: func(p *corev1.Pod) {
			delete(p.Annotations, "proxy.istio.io/config")
			delete(p.Annotations, "sidecar.istio.io/userVolumeMount")
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy",
				Env:          []corev1.EnvVar{{Name: "OUTPUT_CERTS", Value: "/etc/istio-certs"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio-certs"}}})
		}},
		{name: "injected pod without OUTPUT_CERTS on istio-proxy", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy",
				VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio-certs", ReadOnly: true}}})
		}, missing: []string{"env OUTPUT_CERTS=/etc/istio-certs in container \"istio-proxy\"", "writable mount of volume istio-certs"}},
		{name: "native sidecar istio-proxy counts as injected", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "istio-proxy"})
		}, missing: []string{"env OUTPUT_CERTS", "writable mount"}},
		{name: "valueFrom is not a literal meshgate can check", pod: wiredPod, edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "dir"}}
		}, missing: []string{"env AMBASSADOR_ISTIO_SECRET_DIR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := podFromYAML(t, tt.pod)
			if tt.edit != nil {
				tt.edit(pod)
			}
			got := MissingSidecarWiring(pod, EdgeContainer(pod))
			assert.Len(t, got, len(tt.missing), "missing: %s", strings.Join(got, "; "))
			for i := range tt.missing {
				if i < len(got) {
					assert.Contains(t, got[i], tt.missing[i])
				}
			}
		})
	}
	assert.Nil(t, MissingSidecarWiring(nil, 0))
	assert.Nil(t, MissingSidecarWiring(podFromYAML(t, wiredPod), 5), "an out-of-range edge index is no edge container")
}
