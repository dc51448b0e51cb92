package chart_test

import (
	"cmp"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/webhook"
)

const noCertManager = "certManager: {enabled: false}"

func TestDeploymentIsHighlyAvailable(t *testing.T) {
	objs := render(t, "")
	var d appsv1.Deployment
	one(t, objs, "Deployment", &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	sel := d.Spec.Selector.MatchLabels
	pod := d.Spec.Template.Spec

	if len(pod.TopologySpreadConstraints) != 1 {
		t.Fatalf("topologySpreadConstraints = %+v, want one", pod.TopologySpreadConstraints)
	}
	tsc := pod.TopologySpreadConstraints[0]
	// Hard spreading, but never blocking the second replica of a one-node
	// cluster: no minDomains (with fewer domains the global minimum counts
	// as 0, so the second pod could go nowhere), and nodes the pods cannot
	// run on (tainted: cordoned, NotReady, control plane) are no domain.
	if tsc.TopologyKey != corev1.LabelHostname || tsc.WhenUnsatisfiable != corev1.DoNotSchedule || tsc.MaxSkew != 1 {
		t.Errorf("spread = %s/%s/%d, want kubernetes.io/hostname/DoNotSchedule/1", tsc.TopologyKey, tsc.WhenUnsatisfiable, tsc.MaxSkew)
	}
	if tsc.MinDomains != nil {
		t.Errorf("minDomains = %d: a one-node cluster could not schedule the second replica", *tsc.MinDomains)
	}
	if tsc.NodeTaintsPolicy == nil || *tsc.NodeTaintsPolicy != corev1.NodeInclusionPolicyHonor {
		t.Errorf("nodeTaintsPolicy = %v, want Honor (a cordoned or control-plane node is no domain to spread to)", tsc.NodeTaintsPolicy)
	}
	if pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q, want system-cluster-critical", pod.PriorityClassName)
	}
	if tsc.LabelSelector == nil || !reflect.DeepEqual(tsc.LabelSelector.MatchLabels, sel) {
		t.Errorf("spread selects %v, want the Deployment's pods %v", tsc.LabelSelector, sel)
	}
	if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
		t.Fatal("no pod anti-affinity")
	}
	anti := pod.Affinity.PodAntiAffinity
	if len(anti.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Error("pod anti-affinity must be soft (preferred), not required")
	}
	if len(anti.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("preferred anti-affinity = %+v, want one term", anti.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	term := anti.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != corev1.LabelHostname || !reflect.DeepEqual(term.LabelSelector.MatchLabels, sel) {
		t.Errorf("anti-affinity term = %+v, want hostname over the Deployment's pods", term)
	}

	var pdb policyv1.PodDisruptionBudget
	one(t, objs, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB minAvailable/maxUnavailable = %v/%v, want 1/unset", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, sel) {
		t.Errorf("PDB selects %v, want the Deployment's pods %v", pdb.Spec.Selector.MatchLabels, sel)
	}
	if pdb.Namespace != releaseNS || d.Namespace != releaseNS {
		t.Errorf("namespaces: PDB %q, Deployment %q, want %q", pdb.Namespace, d.Namespace, releaseNS)
	}
}

func TestPodDisruptionBudgetFollowsValues(t *testing.T) {
	tests := []struct {
		name            string
		values          string
		wantPDB         bool
		wantMinAvail    *intstr.IntOrString
		wantMaxUnavail  *intstr.IntOrString
		wantReplicasNum int32
	}{
		{name: "default keeps one pod", values: "", wantPDB: true, wantMinAvail: ptr.To(intstr.FromInt32(1)), wantReplicasNum: 2},
		{name: "maxUnavailable wins over minAvailable", values: "podDisruptionBudget: {maxUnavailable: 1}", wantPDB: true, wantMaxUnavail: ptr.To(intstr.FromInt32(1)), wantReplicasNum: 2},
		{name: "a percentage", values: "replicaCount: 3\npodDisruptionBudget: {minAvailable: \"50%\"}", wantPDB: true, wantMinAvail: ptr.To(intstr.FromString("50%")), wantReplicasNum: 3},
		{name: "one replica gets no PDB (it would block every drain)", values: "replicaCount: 1", wantReplicasNum: 1},
		{name: "disabled", values: "podDisruptionBudget: {enabled: false}", wantReplicasNum: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			var d appsv1.Deployment
			one(t, objs, "Deployment", &d)
			if *d.Spec.Replicas != tt.wantReplicasNum {
				t.Errorf("replicas = %d, want %d", *d.Spec.Replicas, tt.wantReplicasNum)
			}
			pdbs := ofKind(objs, "PodDisruptionBudget")
			if !tt.wantPDB {
				if len(pdbs) != 0 {
					t.Fatalf("rendered a PodDisruptionBudget: %v", pdbs[0].Object)
				}
				return
			}
			var pdb policyv1.PodDisruptionBudget
			one(t, objs, "PodDisruptionBudget", &pdb)
			if !reflect.DeepEqual(pdb.Spec.MinAvailable, tt.wantMinAvail) || !reflect.DeepEqual(pdb.Spec.MaxUnavailable, tt.wantMaxUnavail) {
				t.Errorf("minAvailable/maxUnavailable = %v/%v, want %v/%v", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable, tt.wantMinAvail, tt.wantMaxUnavail)
			}
		})
	}
}

func TestPodSecurityIsRestricted(t *testing.T) {
	var d appsv1.Deployment
	one(t, render(t, ""), "Deployment", &d)
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot, runAsUser 65532, seccomp RuntimeDefault", psc)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("containers = %d, init containers = %d, want 1 and 0", len(pod.Containers), len(pod.InitContainers))
	}
	sc := pod.Containers[0].SecurityContext
	if sc == nil {
		t.Fatal("the container has no securityContext")
	}
	checks := []struct {
		field string
		ok    bool
	}{
		{"runAsNonRoot", sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
		{"runAsUser 65532", sc.RunAsUser != nil && *sc.RunAsUser == 65532},
		{"readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"allowPrivilegeEscalation false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"not privileged", sc.Privileged == nil || !*sc.Privileged},
		{"capabilities drop ALL, add none", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0},
		{"seccomp RuntimeDefault", sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("container securityContext: want %s, got %+v", c.field, sc)
		}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the pod uses a host namespace")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	res := pod.Containers[0].Resources
	for name, q := range map[string]resource.Quantity{
		"requests.cpu": res.Requests[corev1.ResourceCPU], "requests.memory": res.Requests[corev1.ResourceMemory],
		"limits.memory": res.Limits[corev1.ResourceMemory],
	} {
		if q.IsZero() {
			t.Errorf("resources: %s is not set", name)
		}
	}
}

func TestContainerWiring(t *testing.T) {
	objs := render(t, "config: {rules: {service-port-name: warn}}\nserver: {tlsMinVersion: \"1.3\"}")
	var d appsv1.Deployment
	one(t, objs, "Deployment", &d)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if !strings.HasPrefix(c.Image, "ghcr.io/meshgate/meshgate:") || !strings.HasSuffix(c.Image, ":0.1.0") {
		t.Errorf("image = %q, want ghcr.io/meshgate/meshgate:0.1.0 (the appVersion)", c.Image)
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("args = %v, want `serve ...`", c.Args)
	}
	flags := map[string]string{}
	for _, a := range c.Args[1:] {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[k] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}

	// The serving certificate: the Secret the certificate is written to,
	// mounted read-only at --cert-dir.
	if mounts["tls"].MountPath != flags["cert-dir"] || !mounts["tls"].ReadOnly {
		t.Errorf("tls mount %+v, --cert-dir %q: want the Secret mounted read-only at --cert-dir", mounts["tls"], flags["cert-dir"])
	}
	if s := volumes["tls"].Secret; s == nil || s.SecretName != "meshgate-tls" {
		t.Errorf("tls volume = %+v, want Secret meshgate-tls", volumes["tls"])
	}
	// The configuration: the ConfigMap's config.yaml at --config.
	var cm corev1.ConfigMap
	one(t, objs, "ConfigMap", &cm)
	if cmv := volumes["config"].ConfigMap; cmv == nil || cmv.Name != cm.Name {
		t.Errorf("config volume = %+v, want ConfigMap %s", volumes["config"], cm.Name)
	}
	if want := mounts["config"].MountPath + "/config.yaml"; flags["config"] != want {
		t.Errorf("--config = %q, want %q", flags["config"], want)
	}
	if !strings.Contains(cm.Data["config.yaml"], "service-port-name: warn") {
		t.Errorf("config.yaml = %q, want the values' config", cm.Data["config.yaml"])
	}
	if flags["tls-min-version"] != "1.3" || flags["port"] != "9443" {
		t.Errorf("--tls-min-version %q --port %q, want 1.3 and 9443", flags["tls-min-version"], flags["port"])
	}

	// Ports and probes.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["webhook"] != 9443 || ports["metrics"] != 8443 || ports["health"] != 8081 {
		t.Errorf("ports = %v, want webhook 9443, metrics 8443, health 8081", ports)
	}
	if flags["metrics-bind-address"] != ":8443" || flags["health-probe-bind-address"] != ":8081" {
		t.Errorf("bind addresses = %q %q", flags["metrics-bind-address"], flags["health-probe-bind-address"])
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("health") {
			t.Errorf("%s probe = %+v, want GET %s on the health port", p.name, p.probe, p.path)
		}
	}

	// Own namespace and service account, as serve's flag defaults read them.
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAMESPACE"] != "metadata.namespace" || env["MESHGATE_SERVICE_ACCOUNT"] != "spec.serviceAccountName" {
		t.Errorf("downward API env = %v, want POD_NAMESPACE=metadata.namespace, MESHGATE_SERVICE_ACCOUNT=spec.serviceAccountName", env)
	}
	if _, set := flags["namespace"]; set {
		t.Error("--namespace is set: it must come from the downward API")
	}
	var sa corev1.ServiceAccount
	one(t, objs, "ServiceAccount", &sa)
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("serviceAccountName = %q, want the chart's ServiceAccount %q", pod.ServiceAccountName, sa.Name)
	}

	// The Service: 443 to the webhook port, selecting the pods.
	var svc corev1.Service
	named(t, objs, "Service", "meshgate", &svc)
	if !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service selects %v, want %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort != intstr.FromString("webhook") {
		t.Errorf("Service ports = %+v, want 443 -> webhook", svc.Spec.Ports)
	}
}

func TestRBACIsReadOnlyOnWhatTheWorldReads(t *testing.T) {
	objs := render(t, "audit: {interval: 0s}")
	var role rbacv1.ClusterRole
	named(t, objs, "ClusterRole", "meshgate", &role)
	got := map[string][]string{}
	for _, r := range role.Rules {
		if !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("rule %+v: verbs %v, want exactly get, list, watch", r, r.Verbs)
		}
		if len(r.ResourceNames) != 0 || len(r.NonResourceURLs) != 0 {
			t.Errorf("rule %+v: unexpected resourceNames or nonResourceURLs", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if strings.Contains(g+res, "*") {
					t.Errorf("rule %+v: wildcard", r)
				}
				got[g] = append(got[g], res)
			}
		}
	}
	for _, v := range got {
		sort.Strings(v)
	}
	// Exactly what the World reads: the kinds the registered rules read, and
	// the CRDs that serve them.
	want := map[string][]string{}
	for _, r := range webhook.ClusterRoleRules() {
		want[r.APIGroups[0]] = append(want[r.APIGroups[0]], r.Resources...)
	}
	for _, v := range want {
		sort.Strings(v)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ClusterRole grants %v, want exactly %v", got, want)
	}

	var binding rbacv1.ClusterRoleBinding
	named(t, objs, "ClusterRoleBinding", "meshgate", &binding)
	var sa corev1.ServiceAccount
	one(t, objs, "ServiceAccount", &sa)
	if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != role.Name {
		t.Errorf("binding roleRef = %+v, want ClusterRole %s", binding.RoleRef, role.Name)
	}
	wantSubject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: releaseNS}}
	if !reflect.DeepEqual(binding.Subjects, wantSubject) {
		t.Errorf("binding subjects = %+v, want %+v", binding.Subjects, wantSubject)
	}
	for _, k := range []string{"Role", "RoleBinding"} {
		if n := len(ofKind(objs, k)); n != 0 {
			t.Errorf("rendered %d %s: only the ClusterRole is needed", n, k)
		}
	}
}

// TestWebhooksMatchTheServersConfigurations compares the chart's webhook
// configurations with webhook.Configurations, the registration the server's
// own code builds, for several values: rules, paths, names, selectors, match
// conditions and every policy field must be equal. The config block is the
// server's configuration: it shapes the pod and Service webhooks' namespace
// selectors and match conditions in both.
func TestWebhooksMatchTheServersConfigurations(t *testing.T) {
	tests := []struct {
		name   string
		ns     string
		values string
		opts   webhook.RegistrationOptions
		// config is the values' config block, read by the server.
		config string
		// inTree is inTree.webhook with the in-tree policies rendered ("":
		// not rendered); handOff narrows the configurations (webhook.HandOff).
		inTree string
	}{
		{name: "defaults", ns: releaseNS, opts: webhook.RegistrationOptions{}},
		{name: "no cert-manager", ns: releaseNS, values: noCertManager, opts: webhook.RegistrationOptions{}},
		{
			name: "fail open, short timeout, extra exclusions, object selector", ns: "platform",
			values: "webhook: {failurePolicy: Ignore, timeoutSeconds: 3, excludeNamespaces: [istio-system, ambassador-internal], objectSelector: {matchLabels: {meshgate.io/review: \"true\"}}}",
			opts: webhook.RegistrationOptions{
				FailurePolicy: "Ignore", TimeoutSeconds: 3, ExcludeNamespaces: []string{"istio-system", "ambassador-internal"},
				ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"meshgate.io/review": "true"}},
			},
		},
		{
			name: "custom edge-proxy selectors, Service ports checked everywhere", ns: releaseNS,
			config: `{edgeProxy: {selectors: [{app.kubernetes.io/name: emissary-ingress, app.kubernetes.io/component: proxy}, {gateway: edge}]}, servicePorts: {scope: all}}`,
			opts:   webhook.RegistrationOptions{},
		},
		{
			name: "legacy secret mode, no selectors (only the opt-in annotation), a rule off", ns: releaseNS,
			config: `{edgeProxy: {certMode: secret, selectors: []}, rules: {service-port-name: "off"}}`,
			opts:   webhook.RegistrationOptions{},
		},
		{
			name: "selectors set to null take the defaults", ns: releaseNS,
			config: `{edgeProxy: {selectors: null, namespaces: [edge]}, servicePorts: {scope: mesh}}`,
			opts:   webhook.RegistrationOptions{},
		},
		{name: "in-tree policies take over", ns: releaseNS, inTree: "handOff"},
		{
			name: "in-tree policies take over, Service ports checked everywhere, legacy secret mode", ns: "platform", inTree: "handOff",
			config: `{edgeProxy: {certMode: secret, selectors: [{gateway: edge}]}, servicePorts: {scope: all}}`,
		},
		{name: "in-tree policies as well, the webhooks keep every kind", ns: releaseNS, inTree: "fallback", config: `{servicePorts: {scope: all}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := tt.values
			if tt.config != "" {
				vals += "\nconfig: " + tt.config
			}
			objs, err := renderErr(t, releaseName, tt.ns, vals)
			if tt.inTree != "" {
				var rel *release.Release
				rel, err = installServed(t, tt.ns, vals+"\ninTree: {enabled: true, webhook: "+tt.inTree+"}")
				if err == nil {
					objs = decodeManifests(t, rel.Manifest)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			var mut admissionregistrationv1.MutatingWebhookConfiguration
			var val admissionregistrationv1.ValidatingWebhookConfiguration
			one(t, objs, "MutatingWebhookConfiguration", &mut)
			one(t, objs, "ValidatingWebhookConfiguration", &val)
			// The server reads the ConfigMap the chart renders.
			var cm corev1.ConfigMap
			one(t, objs, "ConfigMap", &cm)
			cfg, err := policy.ParseConfig([]byte(cm.Data["config.yaml"]))
			if err != nil {
				t.Fatalf("the server would refuse the rendered config: %v", err)
			}
			ca := mut.Webhooks[0].ClientConfig.CABundle
			o := tt.opts
			o.Config = cfg
			o.ExcludeNamespaces = append([]string{tt.ns}, o.ExcludeNamespaces...)
			o.ClientConfig = func(path string) admissionregistrationv1.WebhookClientConfig {
				return admissionregistrationv1.WebhookClientConfig{
					Service:  &admissionregistrationv1.ServiceReference{Namespace: tt.ns, Name: "meshgate", Path: &path, Port: ptr.To[int32](443)},
					CABundle: ca,
				}
			}
			wantMut, wantVal := webhook.Configurations(o)
			if tt.inTree == "handOff" {
				webhook.HandOff(wantMut, wantVal)
			}
			if !apiequality.Semantic.DeepEqual(mut.Webhooks, wantMut.Webhooks) {
				t.Errorf("mutating webhooks differ from webhook.Configurations:\n%s", diff.Diff(wantMut.Webhooks, mut.Webhooks))
			}
			if !apiequality.Semantic.DeepEqual(val.Webhooks, wantVal.Webhooks) {
				t.Errorf("validating webhooks differ from webhook.Configurations:\n%s", diff.Diff(wantVal.Webhooks, val.Webhooks))
			}
			t.Logf("%d mutating and %d validating webhooks", len(mut.Webhooks), len(val.Webhooks))
		})
	}
}

func TestWebhookPoliciesFromValues(t *testing.T) {
	tests := []struct {
		name                 string
		values               string
		wantMutFail, wantVal admissionregistrationv1.FailurePolicyType
		wantTimeout          int32
	}{
		// "" and 0: each webhook's own, the edge-proxy Pod mutation Fail and 5s, the rest Ignore and 3s.
		{name: "default: only the Pod mutation fails closed, 5s; the rest open, 3s"},
		{name: "every webhook fails closed, 10s", values: "webhook: {failurePolicy: Fail, timeoutSeconds: 10}", wantMutFail: "Fail", wantVal: "Fail", wantTimeout: 10},
		{name: "both fail open", values: "webhook: {failurePolicy: Ignore}", wantMutFail: "Ignore", wantVal: "Ignore"},
		{name: "mutating fails open, validating keeps its own", values: "webhook: {mutating: {failurePolicy: Ignore}, timeoutSeconds: 5}", wantMutFail: "Ignore", wantTimeout: 5},
		{name: "validating fails closed, mutating keeps its own", values: "webhook: {validating: {failurePolicy: Fail}, timeoutSeconds: 30}", wantVal: "Fail", wantTimeout: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			var mut admissionregistrationv1.MutatingWebhookConfiguration
			var val admissionregistrationv1.ValidatingWebhookConfiguration
			one(t, objs, "MutatingWebhookConfiguration", &mut)
			one(t, objs, "ValidatingWebhookConfiguration", &val)
			type hook struct {
				name        string
				fail        admissionregistrationv1.FailurePolicyType
				wantFail    admissionregistrationv1.FailurePolicyType
				timeout     int32
				sideEffects *admissionregistrationv1.SideEffectClass
				versions    []string
				match       *admissionregistrationv1.MatchPolicyType
			}
			var hooks []hook
			for _, m := range mut.Webhooks {
				hooks = append(hooks, hook{m.Name, *m.FailurePolicy, cmp.Or(tt.wantMutFail, ownPolicy(m.Name)), *m.TimeoutSeconds, m.SideEffects, m.AdmissionReviewVersions, m.MatchPolicy})
				if m.ReinvocationPolicy == nil || *m.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
					t.Errorf("%s: reinvocationPolicy = %v, want IfNeeded", m.Name, m.ReinvocationPolicy)
				}
			}
			for _, v := range val.Webhooks {
				hooks = append(hooks, hook{v.Name, *v.FailurePolicy, cmp.Or(tt.wantVal, ownPolicy(v.Name)), *v.TimeoutSeconds, v.SideEffects, v.AdmissionReviewVersions, v.MatchPolicy})
			}
			for _, h := range hooks {
				wantTimeout := cmp.Or(tt.wantTimeout, ownTimeout(h.name))
				if h.fail != h.wantFail || h.timeout != wantTimeout {
					t.Errorf("%s: failurePolicy %s, timeoutSeconds %d; want %s, %d", h.name, h.fail, h.timeout, h.wantFail, wantTimeout)
				}
				if *h.sideEffects != admissionregistrationv1.SideEffectClassNone || !slices.Equal(h.versions, []string{"v1"}) || *h.match != admissionregistrationv1.Equivalent {
					t.Errorf("%s: sideEffects %s, admissionReviewVersions %v, matchPolicy %s; want None, [v1], Equivalent", h.name, *h.sideEffects, h.versions, *h.match)
				}
			}
		})
	}
}

// ownPolicy and ownTimeout are a webhook's own outage settings: only the
// edge-proxy Pod mutation fails closed.
func ownPolicy(name string) admissionregistrationv1.FailurePolicyType {
	if strings.HasPrefix(name, "edge-proxy-pods") && strings.HasSuffix(name, ".mutate.meshgate.io") {
		return admissionregistrationv1.Fail
	}
	return admissionregistrationv1.Ignore
}

func ownTimeout(name string) int32 {
	if ownPolicy(name) == admissionregistrationv1.Fail {
		return 5
	}
	return 3
}

func TestNamespaceSelectorAlwaysExcludesSystemAndOwnNamespaces(t *testing.T) {
	tests := []struct {
		name   string
		ns     string
		values string
		want   []string
	}{
		{name: "defaults", ns: releaseNS, want: []string{"kube-system", "kube-node-lease", releaseNS}},
		{name: "another release namespace", ns: "gatekeeping", want: []string{"kube-system", "kube-node-lease", "gatekeeping"}},
		{name: "extra exclusions are added", ns: releaseNS, values: "webhook: {excludeNamespaces: [istio-system, cert-manager]}", want: []string{"kube-system", "kube-node-lease", releaseNS, "istio-system", "cert-manager"}},
		{name: "repeating an always-excluded namespace is harmless", ns: releaseNS, values: "webhook: {excludeNamespaces: [kube-system, meshgate-system]}", want: []string{"kube-system", "kube-node-lease", releaseNS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderErr(t, releaseName, tt.ns, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			var mut admissionregistrationv1.MutatingWebhookConfiguration
			var val admissionregistrationv1.ValidatingWebhookConfiguration
			one(t, objs, "MutatingWebhookConfiguration", &mut)
			one(t, objs, "ValidatingWebhookConfiguration", &val)
			want := metav1.LabelSelectorRequirement{
				Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: tt.want,
			}
			selectors := map[string]*metav1.LabelSelector{}
			for _, w := range mut.Webhooks {
				selectors["mutating "+w.Name] = w.NamespaceSelector
			}
			for _, w := range val.Webhooks {
				selectors["validating "+w.Name] = w.NamespaceSelector
			}
			for name, got := range selectors {
				// Every webhook excludes them first; a scope's own
				// requirements on the namespace's labels come after.
				if got == nil || len(got.MatchLabels) != 0 || len(got.MatchExpressions) == 0 || !reflect.DeepEqual(got.MatchExpressions[0], want) {
					t.Errorf("%s: namespaceSelector = %+v, want %+v first", name, got, want)
				}
			}
		})
	}
}

// TestMutatingConfigurationRunsBeforeIstio: the API server calls mutating
// webhook configurations sorted by name, so meshgate's must sort before
// every Istio injector configuration.
func TestMutatingConfigurationRunsBeforeIstio(t *testing.T) {
	istio := []string{"istio-sidecar-injector", "istio-revision-tag-default", "istio-sidecar-injector-1-27"}
	tests := []struct {
		name    string
		release string
		values  string
		want    string
	}{
		{name: "default release", release: "meshgate", want: "0-meshgate"},
		{name: "a release name after istio", release: "zeta", want: "0-zeta-meshgate"},
		{name: "an explicit name", release: "meshgate", values: "webhook: {mutating: {name: admission-meshgate}}", want: "admission-meshgate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderErr(t, tt.release, releaseNS, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			mut := ofKind(objs, "MutatingWebhookConfiguration")
			if len(mut) != 1 || mut[0].GetName() != tt.want {
				t.Fatalf("mutating configurations %v, want one named %q", kinds(mut), tt.want)
			}
			order := append([]string{mut[0].GetName()}, istio...)
			sort.Strings(order) // as the API server orders the configurations
			if order[0] != tt.want {
				t.Errorf("call order %v: meshgate's %q does not come first", order, tt.want)
			}
		})
	}

	t.Run("a name after istio is refused", func(t *testing.T) {
		_, err := renderErr(t, "meshgate", releaseNS, "webhook: {mutating: {name: meshgate}}")
		if err == nil || !strings.Contains(err.Error(), "must sort before") {
			t.Fatalf("render error = %v, want the ordering refusal", err)
		}
	})
}

func TestCertManagerCAChain(t *testing.T) {
	objs := render(t, "")
	issuers := map[string]*unstructured.Unstructured{}
	for _, o := range ofKind(objs, "Issuer") {
		issuers[o.GetName()] = o
	}
	certs := map[string]*unstructured.Unstructured{}
	for _, o := range ofKind(objs, "Certificate") {
		certs[o.GetName()] = o
	}
	if len(issuers) != 2 || len(certs) != 2 {
		t.Fatalf("want 2 Issuers and 2 Certificates, rendered %v", kinds(objs))
	}
	str := func(u *unstructured.Unstructured, path ...string) string {
		s, _, _ := unstructured.NestedString(u.Object, path...)
		return s
	}
	selfSigned, caIssuer := issuers["meshgate-selfsigned"], issuers["meshgate-ca"]
	if selfSigned == nil || caIssuer == nil {
		t.Fatalf("issuers %v, want meshgate-selfsigned and meshgate-ca", issuers)
	}
	if _, ok, _ := unstructured.NestedMap(selfSigned.Object, "spec", "selfSigned"); !ok {
		t.Errorf("meshgate-selfsigned is not a selfSigned issuer: %v", selfSigned.Object["spec"])
	}
	ca, serving := certs["meshgate-ca"], certs["meshgate-serving"]
	if ca == nil || serving == nil {
		t.Fatalf("certificates %v, want meshgate-ca and meshgate-serving", certs)
	}
	if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
		t.Error("the CA Certificate is not isCA")
	}
	if str(ca, "spec", "issuerRef", "name") != selfSigned.GetName() {
		t.Errorf("the CA Certificate is issued by %q, want the selfSigned issuer", str(ca, "spec", "issuerRef", "name"))
	}
	if got := str(caIssuer, "spec", "ca", "secretName"); got == "" || got != str(ca, "spec", "secretName") {
		t.Errorf("the CA issuer signs with Secret %q, want the CA Certificate's %q", got, str(ca, "spec", "secretName"))
	}
	if got := str(serving, "spec", "issuerRef", "name"); got != caIssuer.GetName() || got == selfSigned.GetName() {
		t.Errorf("the serving Certificate is issued by %q, want the CA issuer %q (never the selfSigned one)", got, caIssuer.GetName())
	}
	if isCA, _, _ := unstructured.NestedBool(serving.Object, "spec", "isCA"); isCA {
		t.Error("the serving Certificate is a CA")
	}
	dns, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	wantDNS := []string{"meshgate", "meshgate.meshgate-system", "meshgate.meshgate-system.svc", "meshgate.meshgate-system.svc.cluster.local"}
	if !slices.Equal(dns, wantDNS) {
		t.Errorf("dnsNames = %v, want %v", dns, wantDNS)
	}
	var d appsv1.Deployment
	one(t, objs, "Deployment", &d)
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "tls" && (v.Secret == nil || v.Secret.SecretName != str(serving, "spec", "secretName")) {
			t.Errorf("the pods mount %+v, want the serving Certificate's Secret %q", v.Secret, str(serving, "spec", "secretName"))
		}
	}
	if n := len(ofKind(objs, "Secret")); n != 0 {
		t.Errorf("rendered %d Secrets: cert-manager writes the certificate", n)
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		w := ofKind(objs, kind)[0]
		if got := w.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != "meshgate-system/meshgate-serving" {
			t.Errorf("%s inject-ca-from = %q, want meshgate-system/meshgate-serving", kind, got)
		}
		if _, has, _ := unstructured.NestedFieldNoCopy(w.Object, "webhooks"); !has {
			t.Fatalf("%s has no webhooks", kind)
		}
		hooks, _, _ := unstructured.NestedSlice(w.Object, "webhooks")
		if _, has, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle"); has {
			t.Errorf("%s carries a caBundle: cainjector owns it", kind)
		}
	}
}

func TestGeneratedTLSWithoutCertManager(t *testing.T) {
	objs := render(t, noCertManager)
	for _, kind := range []string{"Issuer", "Certificate"} {
		if n := len(ofKind(objs, kind)); n != 0 {
			t.Errorf("rendered %d %s without cert-manager", n, kind)
		}
	}
	var s corev1.Secret
	named(t, objs, "Secret", "meshgate-tls", &s)
	if s.Type != corev1.SecretTypeTLS || s.Name != "meshgate-tls" {
		t.Errorf("Secret %s of type %s, want meshgate-tls of type kubernetes.io/tls", s.Name, s.Type)
	}
	roots := x509.NewCertPool()
	caCert := parseCert(t, s.Data["ca.crt"])
	if !caCert.IsCA {
		t.Error("ca.crt is not a CA")
	}
	roots.AddCert(caCert)
	serving := parseCert(t, s.Data["tls.crt"])
	if serving.IsCA {
		t.Error("tls.crt is a CA certificate")
	}
	for _, name := range []string{"meshgate", "meshgate.meshgate-system", "meshgate.meshgate-system.svc", "meshgate.meshgate-system.svc.cluster.local"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("tls.crt does not verify for %s against ca.crt: %v", name, err)
		}
	}
	if len(s.Data["tls.key"]) == 0 {
		t.Error("no tls.key")
	}
	var mut admissionregistrationv1.MutatingWebhookConfiguration
	var val admissionregistrationv1.ValidatingWebhookConfiguration
	one(t, objs, "MutatingWebhookConfiguration", &mut)
	one(t, objs, "ValidatingWebhookConfiguration", &val)
	for kind, ca := range map[string][]byte{"mutating": mut.Webhooks[0].ClientConfig.CABundle, "validating": val.Webhooks[0].ClientConfig.CABundle} {
		if string(ca) != string(s.Data["ca.crt"]) {
			t.Errorf("%s caBundle is not the generated CA", kind)
		}
	}
	if _, ok := mut.Annotations["cert-manager.io/inject-ca-from"]; ok {
		t.Error("inject-ca-from without cert-manager")
	}
}

func TestUserProvidedTLSSecret(t *testing.T) {
	caPEM := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	bundle := base64.StdEncoding.EncodeToString([]byte(caPEM))
	objs := render(t, fmt.Sprintf("certManager: {enabled: false}\ntls: {existingSecret: my-webhook-tls, caBundle: %q}", bundle))
	if n := len(ofKind(objs, "Secret")); n != 0 {
		t.Errorf("rendered %d Secrets; the user's is used", n)
	}
	var d appsv1.Deployment
	one(t, objs, "Deployment", &d)
	var mounted string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "tls" && v.Secret != nil {
			mounted = v.Secret.SecretName
		}
	}
	if mounted != "my-webhook-tls" {
		t.Errorf("the pods mount Secret %q, want my-webhook-tls", mounted)
	}
	var val admissionregistrationv1.ValidatingWebhookConfiguration
	one(t, objs, "ValidatingWebhookConfiguration", &val)
	if string(val.Webhooks[0].ClientConfig.CABundle) != caPEM {
		t.Errorf("caBundle = %q, want tls.caBundle", val.Webhooks[0].ClientConfig.CABundle)
	}

	_, err := renderErr(t, releaseName, releaseNS, "certManager: {enabled: false}\ntls: {existingSecret: my-webhook-tls}")
	if err == nil || !strings.Contains(err.Error(), "tls.caBundle") {
		t.Errorf("an existing Secret without caBundle: error %v, want one naming tls.caBundle", err)
	}
}

func TestValuesSchema(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		wantErr string // empty: accepted
	}{
		{name: "defaults", values: ""},
		{name: "one replica is allowed", values: "replicaCount: 1"},
		{name: "zero replicas", values: "replicaCount: 0", wantErr: "replicaCount"},
		{name: "unknown failure policy", values: "webhook: {failurePolicy: Maybe}", wantErr: "failurePolicy"},
		{name: "timeout over the API server's 30s", values: "webhook: {timeoutSeconds: 31}", wantErr: "timeoutSeconds"},
		{name: "zero timeout", values: "webhook: {timeoutSeconds: 0}", wantErr: "timeoutSeconds"},
		{name: "TLS 1.1", values: "server: {tlsMinVersion: \"1.1\"}", wantErr: "tlsMinVersion"},
		{name: "a misspelt top-level key", values: "replicas: 3", wantErr: "replicas"},
		{name: "a misspelt nested key", values: "certManager: {enable: false}", wantErr: "enable"},
		{name: "an invalid excluded namespace", values: "webhook: {excludeNamespaces: [Not_A_Namespace]}", wantErr: "excludeNamespaces"},
		{name: "a bad duration", values: "certManager: {duration: 90d}", wantErr: "duration"},
		{name: "DoNotSchedule spread", values: "topologySpread: {whenUnsatisfiable: DoNotSchedule}"},
		{name: "audit off", values: "audit: {interval: 0s}"},
		{name: "a ServiceAccount name that is no DNS name (it is written into CEL)", values: "serviceAccount: {name: 'a\" || true'}", wantErr: "serviceAccount"},
		{name: "a timeout of each webhook's own", values: "webhook: {timeoutSeconds: null, failurePolicy: \"\"}"},
		{name: "an API server address that is no CIDR", values: "networkPolicy: {apiServer: {cidrs: [10.0.0.1]}}", wantErr: "cidrs"},
		{name: "an unknown report format", values: "audit: {format: html}", wantErr: "format"},
		{name: "a bad audit interval", values: "audit: {interval: hourly}", wantErr: "interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderErr(t, releaseName, releaseNS, tt.values)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error naming %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %v does not name %q", err, tt.wantErr)
			}
		})
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("not PEM: %q", data)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStoppingPodDrains: a meshgate pod that is stopping keeps serving for
// server.drainSeconds after it leaves the Service's endpoints, so requests the
// API server already sent it are answered; the grace period covers the pause.
func TestStoppingPodDrains(t *testing.T) {
	tests := []struct {
		name      string
		values    string
		wantDelay string
		wantGrace int64
	}{
		{name: "default delay", values: "", wantDelay: "5s", wantGrace: 35},
		{name: "longer delay", values: "server: {drainSeconds: 15}", wantDelay: "15s", wantGrace: 45},
		{name: "no delay", values: "server: {drainSeconds: 0}", wantDelay: "0s", wantGrace: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d appsv1.Deployment
			one(t, render(t, tt.values), "Deployment", &d)
			spec := d.Spec.Template.Spec
			if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds != tt.wantGrace {
				t.Errorf("terminationGracePeriodSeconds = %v, want %d", spec.TerminationGracePeriodSeconds, tt.wantGrace)
			}
			c := spec.Containers[0]
			if !slices.Contains(c.Args, "--drain-delay="+tt.wantDelay) {
				t.Errorf("args = %v, want --drain-delay=%s", c.Args, tt.wantDelay)
			}
			// The server drains itself once signalled: a preStop pause
			// would only delay that, with keep-alive connections still open.
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
				t.Errorf("preStop = %+v, want none", c.Lifecycle.PreStop)
			}
		})
	}
}

// TestAuditRBACIsExactlyWhatTheAuditNeeds: with the audit on (the default),
// the chart adds list on every kind a rule reviews, writes on the reports of
// the chosen format, and the Lease of its leader election in its own
// namespace; with it off, none of that, and no audit flag.
func TestAuditRBACIsExactlyWhatTheAuditNeeds(t *testing.T) {
	named := func(objs []*unstructured.Unstructured, kind, name string, into any) bool {
		for _, o := range ofKind(objs, kind) {
			if o.GetName() == name {
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
					t.Fatal(err)
				}
				return true
			}
		}
		return false
	}
	tests := []struct {
		name, values, reportGroup string
		reports                   []string
	}{
		{"openreports by default", "", "openreports.io", []string{"reports", "clusterreports"}},
		{"wg-policy reports as an option", "audit: {format: policyreport}", "wgpolicyk8s.io", []string{"policyreports", "clusterpolicyreports"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.values)
			var role rbacv1.ClusterRole
			if !named(objs, "ClusterRole", releaseName+"-audit", &role) {
				t.Fatalf("no ClusterRole %s-audit in %v", releaseName, kinds(objs))
			}
			want := append(webhook.AuditClusterRoleRules(), rbacv1.PolicyRule{
				APIGroups: []string{tc.reportGroup}, Resources: tc.reports, Verbs: []string{"list", "create", "update", "delete"},
			})
			if !apiequality.Semantic.DeepEqual(role.Rules, want) {
				t.Errorf("audit ClusterRole:\n%s", diff.Diff(want, role.Rules))
			}
			var lease rbacv1.Role
			if !named(objs, "Role", releaseName+"-audit-leader", &lease) {
				t.Fatal("no Role for the audit's Lease")
			}
			if lease.Namespace != releaseNS {
				t.Errorf("Lease Role in %q, want %q", lease.Namespace, releaseNS)
			}
			for _, r := range lease.Rules {
				if slices.Contains(r.Resources, "leases") && slices.Contains(r.Verbs, "update") && !slices.Equal(r.ResourceNames, []string{webhook.AuditLeaseName}) {
					t.Errorf("the Lease Role updates leases other than %s: %+v", webhook.AuditLeaseName, r)
				}
			}
			var d appsv1.Deployment
			one(t, objs, "Deployment", &d)
			if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--audit-interval=1h") {
				t.Errorf("args %v lack --audit-interval=1h", d.Spec.Template.Spec.Containers[0].Args)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		objs := render(t, "audit: {interval: 0s}")
		for _, o := range append(ofKind(objs, "ClusterRole"), ofKind(objs, "Role")...) {
			if strings.Contains(o.GetName(), "audit") {
				t.Errorf("audit off, but %s %s rendered", o.GetKind(), o.GetName())
			}
		}
		var d appsv1.Deployment
		one(t, objs, "Deployment", &d)
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--audit") {
				t.Errorf("audit off, but arg %s", a)
			}
		}
	})
}

// TestValuesSchemaReportFormatsAreTheAudits: audit.format takes exactly
// the report formats meshgate writes.
func TestValuesSchemaReportFormatsAreTheAudits(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Audit struct {
				Properties struct {
					Format struct {
						Enum []string `json:"enum"`
					} `json:"format"`
				} `json:"properties"`
			} `json:"audit"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Properties.Audit.Properties.Format.Enum; !slices.Equal(got, audit.Formats) {
		t.Errorf("values.schema.json audit.format enum %v, want audit.Formats %v", got, audit.Formats)
	}
}
