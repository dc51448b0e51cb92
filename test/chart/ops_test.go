package chart_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// containerFlags returns the Deployment's serve flags.
func containerFlags(t *testing.T, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	var d appsv1.Deployment
	one(t, objs, "Deployment", &d)
	flags := map[string]string{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args[1:] {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[k] = v
	}
	return flags
}

// TestMetricsHaveTheirOwnServiceAndRBAC: /metrics is on a Service of its own
// (the webhook's Service exposes only the webhook), a ClusterRole lets
// scrapers get /metrics, and the secure endpoint's token and access reviews
// are granted only when metrics.secure is on.
func TestMetricsHaveTheirOwnServiceAndRBAC(t *testing.T) {
	tests := []struct {
		name       string
		values     string
		wantFlag   string // "" = not passed
		wantScheme string
		wantAuth   bool
		wantReader bool
	}{
		{name: "default: secure, HTTPS with delegated authentication", wantFlag: "true", wantScheme: "https", wantAuth: true},
		{name: "explicitly insecure", values: "metrics: {secure: false}", wantFlag: "false", wantScheme: "http"},
		{name: "secure, Prometheus bound as reader", values: "metrics: {secure: true, readers: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]}", wantFlag: "true", wantScheme: "https", wantAuth: true, wantReader: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			flags := containerFlags(t, objs)
			if got, ok := flags["metrics-secure"]; got != tt.wantFlag || ok != (tt.wantFlag != "") {
				t.Errorf("--metrics-secure = %q (passed %v), want %q", got, ok, tt.wantFlag)
			}
			if _, ok := flags["client-ca-file"]; ok {
				t.Error("--client-ca-file passed without server.clientCAFile")
			}
			var webhookSvc, metricsSvc corev1.Service
			named(t, objs, "Service", "meshgate", &webhookSvc)
			named(t, objs, "Service", "meshgate-metrics", &metricsSvc)
			if len(webhookSvc.Spec.Ports) != 1 || webhookSvc.Spec.Ports[0].TargetPort != intstr.FromString("webhook") {
				t.Errorf("webhook Service ports = %+v, want the webhook only", webhookSvc.Spec.Ports)
			}
			if len(metricsSvc.Spec.Ports) != 1 || metricsSvc.Spec.Ports[0].TargetPort != intstr.FromString("metrics") ||
				metricsSvc.Spec.Ports[0].Name != tt.wantScheme+"-metrics" || *metricsSvc.Spec.Ports[0].AppProtocol != tt.wantScheme {
				t.Errorf("metrics Service ports = %+v, want %s-metrics to the metrics port", metricsSvc.Spec.Ports, tt.wantScheme)
			}
			if metricsSvc.Labels["meshgate.io/service"] != "metrics" || webhookSvc.Labels["meshgate.io/service"] != "" {
				t.Error("only the metrics Service carries meshgate.io/service: metrics (what the ServiceMonitor selects)")
			}
			var reader rbacv1.ClusterRole
			named(t, objs, "ClusterRole", "meshgate-metrics-reader", &reader)
			wantReader := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
			if !reflect.DeepEqual(reader.Rules, wantReader) {
				t.Errorf("metrics-reader rules = %+v, want %+v", reader.Rules, wantReader)
			}
			roles := map[string]bool{}
			for _, o := range ofKind(objs, "ClusterRole") {
				roles[o.GetName()] = true
			}
			bindings := map[string]bool{}
			for _, o := range ofKind(objs, "ClusterRoleBinding") {
				bindings[o.GetName()] = true
			}
			if roles["meshgate-metrics-auth"] != tt.wantAuth || bindings["meshgate-metrics-auth"] != tt.wantAuth {
				t.Errorf("metrics-auth role/binding rendered %v/%v, want %v", roles["meshgate-metrics-auth"], bindings["meshgate-metrics-auth"], tt.wantAuth)
			}
			if tt.wantAuth {
				var auth rbacv1.ClusterRole
				named(t, objs, "ClusterRole", "meshgate-metrics-auth", &auth)
				want := []rbacv1.PolicyRule{
					{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
					{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
				}
				if !reflect.DeepEqual(auth.Rules, want) {
					t.Errorf("metrics-auth rules = %+v, want exactly %+v", auth.Rules, want)
				}
			}
			if bindings["meshgate-metrics-reader"] != tt.wantReader {
				t.Errorf("metrics-reader binding rendered %v, want %v", bindings["meshgate-metrics-reader"], tt.wantReader)
			}
		})
	}
	t.Run("client CA file passed when set", func(t *testing.T) {
		flags := containerFlags(t, render(t, "server: {clientCAFile: /etc/meshgate/client-ca/ca.crt}"))
		if flags["client-ca-file"] != "/etc/meshgate/client-ca/ca.crt" {
			t.Errorf("--client-ca-file = %q", flags["client-ca-file"])
		}
	})
}

// TestServiceMonitorOnlyWhenEnabled: rendered only when enabled; HTTPS with
// Prometheus's token and the configured TLS when metrics.secure.
func TestServiceMonitorOnlyWhenEnabled(t *testing.T) {
	if n := len(ofKind(render(t, ""), "ServiceMonitor")); n != 0 {
		t.Fatalf("rendered %d ServiceMonitors by default", n)
	}
	tests := []struct {
		name, values, wantScheme string
		wantTLS                  map[string]any
	}{
		{name: "plain HTTP", values: "metrics: {secure: false, serviceMonitor: {enabled: true, labels: {release: kube-prometheus}}}", wantScheme: "http"},
		{name: "secure, skip verification", values: "metrics: {secure: true, serviceMonitor: {enabled: true}}", wantScheme: "https", wantTLS: map[string]any{"insecureSkipVerify": true}},
		{
			name:       "secure, verified with the CA",
			values:     "metrics: {secure: true, serviceMonitor: {enabled: true, tlsConfig: {ca: {secret: {name: meshgate-tls, key: ca.crt}}, serverName: meshgate-metrics.meshgate-system.svc}}}",
			wantScheme: "https",
			wantTLS:    map[string]any{"ca": map[string]any{"secret": map[string]any{"name": "meshgate-tls", "key": "ca.crt"}}, "serverName": "meshgate-metrics.meshgate-system.svc"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			sms := ofKind(objs, "ServiceMonitor")
			if len(sms) != 1 {
				t.Fatalf("rendered %d ServiceMonitors, want 1", len(sms))
			}
			sm := sms[0]
			if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
				t.Errorf("apiVersion %s", sm.GetAPIVersion())
			}
			sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			var metricsSvc corev1.Service
			named(t, objs, "Service", "meshgate-metrics", &metricsSvc)
			for k, v := range sel {
				if metricsSvc.Labels[k] != v {
					t.Errorf("the selector %v does not select the metrics Service (labels %v)", sel, metricsSvc.Labels)
				}
			}
			var webhookSvc corev1.Service
			named(t, objs, "Service", "meshgate", &webhookSvc)
			if webhookSvc.Labels["meshgate.io/service"] == sel["meshgate.io/service"] {
				t.Error("the selector also selects the webhook Service")
			}
			eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(eps) != 1 {
				t.Fatalf("endpoints = %v", eps)
			}
			ep := eps[0].(map[string]any)
			if ep["scheme"] != tt.wantScheme || ep["path"] != "/metrics" || ep["port"] != tt.wantScheme+"-metrics" {
				t.Errorf("endpoint = %v, want %s on %s-metrics, /metrics", ep, tt.wantScheme, tt.wantScheme)
			}
			if tt.wantTLS == nil {
				if _, ok := ep["tlsConfig"]; ok {
					t.Error("tlsConfig on a plain HTTP endpoint")
				}
				if _, ok := ep["bearerTokenFile"]; ok {
					t.Error("a bearer token sent over plain HTTP")
				}
				return
			}
			if ep["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
				t.Errorf("bearerTokenFile = %v", ep["bearerTokenFile"])
			}
			if !reflect.DeepEqual(ep["tlsConfig"], tt.wantTLS) {
				t.Errorf("tlsConfig = %v, want %v", ep["tlsConfig"], tt.wantTLS)
			}
		})
	}
}

// TestNetworkPolicy: opt-in; ingress only to the webhook, metrics and health
// ports from the configured peers, egress only to the API server and DNS.
func TestNetworkPolicy(t *testing.T) {
	if n := len(ofKind(render(t, ""), "NetworkPolicy")); n != 0 {
		t.Fatalf("rendered %d NetworkPolicies by default", n)
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p intstr.IntOrString, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Port: &p, Protocol: &proto}
	}
	tests := []struct {
		name           string
		values         string
		wantWebhook    []networkingv1.NetworkPolicyPeer
		wantMetrics    []networkingv1.NetworkPolicyPeer
		wantAPIServer  []networkingv1.NetworkPolicyPeer
		wantAPIPorts   []int
		wantDNSPeerLen int
	}{
		{
			name:         "defaults: webhook from anywhere, metrics from the monitoring namespace, API server anywhere on 443/6443",
			values:       "networkPolicy: {enabled: true}",
			wantMetrics:  []networkingv1.NetworkPolicyPeer{nsPeer("monitoring")},
			wantAPIPorts: []int{443, 6443}, wantDNSPeerLen: 1,
		},
		{
			name: "the control plane's CIDRs, another monitoring namespace, the API server's addresses",
			values: `networkPolicy:
  enabled: true
  webhookFrom: [{ipBlock: {cidr: 10.0.0.0/24}}]
  metricsFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: observability}}, podSelector: {matchLabels: {app: prometheus}}}]
  apiServer: {cidrs: [10.0.0.10/32, 10.0.0.11/32], ports: [6443]}`,
			wantWebhook: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24"}}},
			wantMetrics: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: nsPeer("observability").NamespaceSelector,
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "prometheus"}},
			}},
			wantAPIServer: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.10/32"}}, {IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.11/32"}}},
			wantAPIPorts:  []int{6443}, wantDNSPeerLen: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			var np networkingv1.NetworkPolicy
			one(t, objs, "NetworkPolicy", &np)
			var d appsv1.Deployment
			one(t, objs, "Deployment", &d)
			if !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
				t.Errorf("podSelector %v, want the Deployment's pods %v", np.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels)
			}
			if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
				t.Errorf("policyTypes = %v, want Ingress and Egress", np.Spec.PolicyTypes)
			}
			// Named ports exist on the container.
			cports := map[string]bool{}
			for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
				cports[p.Name] = true
			}
			if len(np.Spec.Ingress) != 3 {
				t.Fatalf("ingress rules = %+v, want webhook, metrics, health", np.Spec.Ingress)
			}
			for i, name := range []string{"webhook", "metrics", "health"} {
				r := np.Spec.Ingress[i]
				if !reflect.DeepEqual(r.Ports, []networkingv1.NetworkPolicyPort{port(intstr.FromString(name), tcp)}) || !cports[name] {
					t.Errorf("ingress %d ports = %+v, want the container's %s port only", i, r.Ports, name)
				}
			}
			if !reflect.DeepEqual(np.Spec.Ingress[0].From, tt.wantWebhook) {
				t.Errorf("webhook from = %+v, want %+v", np.Spec.Ingress[0].From, tt.wantWebhook)
			}
			if !reflect.DeepEqual(np.Spec.Ingress[1].From, tt.wantMetrics) {
				t.Errorf("metrics from = %+v, want %+v", np.Spec.Ingress[1].From, tt.wantMetrics)
			}
			if len(np.Spec.Egress) != 2 {
				t.Fatalf("egress rules = %+v, want the API server and DNS only", np.Spec.Egress)
			}
			var apiPorts []networkingv1.NetworkPolicyPort
			for _, p := range tt.wantAPIPorts {
				apiPorts = append(apiPorts, port(intstr.FromInt(p), tcp))
			}
			if !reflect.DeepEqual(np.Spec.Egress[0].Ports, apiPorts) || !reflect.DeepEqual(np.Spec.Egress[0].To, tt.wantAPIServer) {
				t.Errorf("API server egress = %+v, want ports %v to %+v", np.Spec.Egress[0], tt.wantAPIPorts, tt.wantAPIServer)
			}
			dns := np.Spec.Egress[1]
			if !reflect.DeepEqual(dns.Ports, []networkingv1.NetworkPolicyPort{port(intstr.FromInt(53), udp), port(intstr.FromInt(53), tcp)}) || len(dns.To) != tt.wantDNSPeerLen {
				t.Errorf("DNS egress = %+v", dns)
			}
		})
	}
}

// nsPeer selects the namespace named ns.
func nsPeer(ns string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}}
}

// TestFlowControlForMeshgatesServiceAccount: opt-in; the FlowSchema sends
// meshgate's ServiceAccount, and nothing else, to its own priority level.
func TestFlowControlForMeshgatesServiceAccount(t *testing.T) {
	objs := render(t, "")
	if n := len(ofKind(objs, "FlowSchema")) + len(ofKind(objs, "PriorityLevelConfiguration")); n != 0 {
		t.Fatalf("rendered %d flow-control objects by default", n)
	}
	objs = render(t, "flowControl: {enabled: true}")
	var fs flowcontrolv1.FlowSchema
	var plc flowcontrolv1.PriorityLevelConfiguration
	one(t, objs, "FlowSchema", &fs)
	one(t, objs, "PriorityLevelConfiguration", &plc)
	if fs.Spec.PriorityLevelConfiguration.Name != plc.Name {
		t.Errorf("the FlowSchema sends to %q, want %q", fs.Spec.PriorityLevelConfiguration.Name, plc.Name)
	}
	if plc.Spec.Type != flowcontrolv1.PriorityLevelEnablementLimited || plc.Spec.Limited == nil ||
		plc.Spec.Limited.LimitResponse.Type != flowcontrolv1.LimitResponseTypeQueue {
		t.Errorf("priority level = %+v, want Limited, queuing", plc.Spec)
	}
	var sa corev1.ServiceAccount
	one(t, objs, "ServiceAccount", &sa)
	if len(fs.Spec.Rules) != 1 || len(fs.Spec.Rules[0].Subjects) != 1 {
		t.Fatalf("rules = %+v, want one rule with one subject", fs.Spec.Rules)
	}
	want := flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindServiceAccount, ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Name: sa.Name, Namespace: releaseNS}}
	if !reflect.DeepEqual(fs.Spec.Rules[0].Subjects[0], want) {
		t.Errorf("subject = %+v, want meshgate's ServiceAccount", fs.Spec.Rules[0].Subjects[0])
	}
}

// TestCriticalPriorityComesWithItsQuota: the default priority class is
// system-cluster-critical, and a ResourceQuota scoped to it lets such pods
// be admitted where the cluster limits them to namespaces holding one.
func TestCriticalPriorityComesWithItsQuota(t *testing.T) {
	tests := []struct {
		name, values, wantClass string
		wantQuota               bool
		wantErr                 string
	}{
		{name: "default", wantClass: "system-cluster-critical", wantQuota: true},
		{name: "node-critical", values: "priorityClassName: system-node-critical", wantClass: "system-node-critical", wantQuota: true},
		{name: "a class of one's own needs no quota", values: "priorityClassName: platform-high", wantClass: "platform-high"},
		{name: "no class", values: "priorityClassName: \"\""},
		{name: "quota off", values: "criticalPodsQuota: {enabled: false}", wantClass: "system-cluster-critical"},
		{name: "a quota too small for the rollout", values: "replicaCount: 3\ncriticalPodsQuota: {pods: 3}", wantErr: "criticalPodsQuota.pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderErr(t, releaseName, releaseNS, tt.values)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var d appsv1.Deployment
			one(t, objs, "Deployment", &d)
			if d.Spec.Template.Spec.PriorityClassName != tt.wantClass {
				t.Errorf("priorityClassName = %q, want %q", d.Spec.Template.Spec.PriorityClassName, tt.wantClass)
			}
			quotas := ofKind(objs, "ResourceQuota")
			if (len(quotas) == 1) != tt.wantQuota || len(quotas) > 1 {
				t.Fatalf("rendered %d ResourceQuotas, want quota %v", len(quotas), tt.wantQuota)
			}
			if !tt.wantQuota {
				return
			}
			var q corev1.ResourceQuota
			one(t, objs, "ResourceQuota", &q)
			want := &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{tt.wantClass},
			}}}
			if q.Namespace != releaseNS || !reflect.DeepEqual(q.Spec.ScopeSelector, want) {
				t.Errorf("quota in %s scoped %+v, want %s scoped to %s", q.Namespace, q.Spec.ScopeSelector, releaseNS, tt.wantClass)
			}
			pods := q.Spec.Hard[corev1.ResourcePods]
			if pods.Value() < int64(*d.Spec.Replicas)+1 {
				t.Errorf("quota pods = %s, less than the replicas plus the rolling update's surge", pods.String())
			}
		})
	}
}
