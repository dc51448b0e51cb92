package chart_test

import (
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/yaml"

	native "github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/webhook"
)

// TestNativePoliciesMatchMeshgatePolicies renders the chart with
// inTree.enabled and compares every policy and binding with what
// `meshgate policies` generates for the same configuration and namespaces.
func TestNativePoliciesMatchMeshgatePolicies(t *testing.T) {
	tests := []struct {
		name   string
		config string
	}{
		{name: "defaults"},
		{name: "scope all, warn, other selectors", config: "{servicePorts: {scope: all}, rules: {service-port-name: warn}, edgeProxy: {selectors: [{app.kubernetes.io/name: edge}]}}"},
		{name: "rules off", config: "{rules: {service-port-name: off, service-port-protocol: off}}"},
		{name: "cert mode secret, edge-proxy-istio-certs enforced", config: "{edgeProxy: {certMode: secret}, rules: {edge-proxy-istio-certs: enforce}}"},
		{name: "edge-proxy-istio-certs off", config: "{rules: {edge-proxy-istio-certs: off}}"},
		{name: "Istio TLSContext elsewhere, legacy cert mode", config: "{mappings: {tlsContext: mesh-upstream, istioSecret: mesh-certs}, edgeProxy: {namespaces: [edge], certMode: secret}, rules: {mapping-tls-context: warn}}"},
		{name: "suppressions", config: "{suppressions: [{rule: service-port-name, namespace: 'legacy-*', selector: {matchLabels: {team: a, app: b}, matchExpressions: [{key: tier, operator: NotIn, values: [x]}, {key: c, operator: Exists}]}}, {rule: service-port-name, kind: Service, name: 'db-?'}, {rule: virtualservice-gateway-ref, name: kiali}, {rule: service-port-protocol, namespace: x}]}"},
		{name: "existing findings deny on UPDATE", config: "{updates: {allowExistingFindings: false}}"},
		{name: "existing findings deny on UPDATE, rule warns", config: "{updates: {allowExistingFindings: false}, rules: {service-port-name: warn}}"},
		{name: "no edge-proxy selectors, no edge namespaces", config: "{edgeProxy: {selectors: [], namespaces: []}, mappings: {tlsContext: '', istioSecret: null}}"},
		{name: "modes written unquoted", config: "{rules: {service-port-name: off, mapping-tls-context: warn}, updates: {allowExistingFindings: true}}"},
		{name: "gateway references allowed into istio-system, warn", config: "{gatewayRefs: {allowedNamespaces: [istio-system, infra]}, rules: {virtualservice-gateway-ref: warn}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := "inTree: {enabled: true}\nwebhook: {excludeNamespaces: [istio-system]}\n"
			if tt.config != "" {
				vals += "config: " + tt.config + "\n"
			}
			objs := renderServed(t, vals)
			cfg, err := policy.ParseConfig([]byte(tt.config))
			if err != nil {
				t.Fatal(err)
			}
			set, err := native.Generate(cfg, native.Options{
				ExcludeNamespaces:  []string{"kube-system", "kube-node-lease", releaseNS, "istio-system"},
				ServiceAccountUser: webhook.ServiceAccountUser(releaseNS, "meshgate"),
			})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]runtime.Object{}
			for _, o := range set.Objects() {
				want[kindName(t, o)] = o
			}
			got := 0
			for _, u := range objs {
				key := u.GetKind() + "/" + u.GetName()
				w, ok := want[key]
				switch u.GetKind() {
				case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
				default:
					continue
				}
				got++
				if !ok {
					t.Errorf("the chart renders %s, meshgate policies does not", key)
					continue
				}
				if labels := u.GetLabels(); labels[native.LabelRule] != w.(metav1.Object).GetLabels()[native.LabelRule] || labels[native.LabelManagedBy] != native.ManagedBy {
					t.Errorf("%s: labels %v, want those of meshgate policies", key, labels)
				}
				// The release records the values it was rendered for: the
				// chart's policies carry no configuration hash of their own.
				if h, ok := u.GetAnnotations()[native.AnnotationConfigHash]; ok {
					t.Errorf("%s: config hash %s", key, h)
				}
				if d := specDiff(t, u.Object["spec"], w); d != "" {
					t.Errorf("%s differs from meshgate policies:\n%s", key, d)
				}
			}
			if got != len(want) {
				t.Errorf("the chart renders %d policies and bindings, meshgate policies %d", got, len(want))
			}
		})
	}
	if objs := render(t, "inTree: {enabled: true}"); len(ofKind(objs, "ValidatingAdmissionPolicy")) != 0 {
		t.Error("the policies must not be rendered for a cluster that does not serve their kinds")
	}
}

// renderServed renders the chart for a cluster whose discovery lists
// ValidatingAdmissionPolicy and MutatingAdmissionPolicy in
// admissionregistration.k8s.io/v1 (Helm's client-only defaults list groups
// and versions only).
func renderServed(t *testing.T, vals string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := renderServedErr(t, vals)
	if err != nil {
		t.Fatalf("render with values %q: %v", vals, err)
	}
	return objs
}

// renderServedErr is renderServed returning the error.
func renderServedErr(t *testing.T, vals string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	rel, err := installServed(t, releaseNS, vals)
	if err != nil {
		return nil, err
	}
	return decodeManifests(t, rel.Manifest), nil
}

// installServed is a client-only dry-run install into ns for a cluster
// that serves both policy kinds.
func installServed(t *testing.T, ns, vals string) (*release.Release, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = releaseName, ns
	install.KubeVersion = kubeVersion
	install.APIVersions = chartutil.VersionSet{
		"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
		"admissionregistration.k8s.io/v1/MutatingAdmissionPolicy",
	}
	return install.Run(loadChart(t), values(t, vals))
}

// TestInTreeValuesOldAndNewNames: inTree.* and its 0.1.0 name
// nativePolicies.* (deprecated: NOTES.txt says so) both work; a key given
// under nativePolicies wins.
func TestInTreeValuesOldAndNewNames(t *testing.T) {
	tests := []struct {
		name         string
		values       string
		wantPolicies bool
		wantHandOff  bool
		wantNote     bool
	}{
		{name: "defaults: off", values: ""},
		{name: "inTree.enabled", values: "inTree: {enabled: true}", wantPolicies: true, wantHandOff: true},
		{name: "inTree fallback", values: "inTree: {enabled: true, webhook: fallback}", wantPolicies: true},
		{name: "nativePolicies.enabled (0.1.0)", values: "nativePolicies: {enabled: true}", wantPolicies: true, wantHandOff: true, wantNote: true},
		{name: "nativePolicies fallback (0.1.0)", values: "nativePolicies: {enabled: true, webhook: fallback}", wantPolicies: true, wantNote: true},
		{name: "an old key wins over the new one", values: "inTree: {enabled: true}\nnativePolicies: {webhook: fallback}", wantPolicies: true, wantNote: true},
		{name: "old names, off", values: "nativePolicies: {enabled: false}", wantNote: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := installServed(t, releaseNS, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeManifests(t, rel.Manifest)
			if got := len(ofKind(objs, "ValidatingAdmissionPolicy")) > 0; got != tt.wantPolicies {
				t.Errorf("policies rendered: %v, want %v", got, tt.wantPolicies)
			}
			var cm corev1.ConfigMap
			one(t, objs, "ConfigMap", &cm)
			cfg, err := policy.ParseConfig([]byte(cm.Data["config.yaml"]))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.InTree.Enabled != tt.wantHandOff {
				t.Errorf("meshgate's config has inTree.enabled %v, want %v (hand off)", cfg.InTree.Enabled, tt.wantHandOff)
			}
			if got := strings.Contains(rel.Info.Notes, "DEPRECATED: the values nativePolicies.*"); got != tt.wantNote {
				t.Errorf("deprecation note: %v, want %v:\n%s", got, tt.wantNote, rel.Info.Notes)
			}
		})
	}
	for _, vals := range []string{"nativePolicies: {enable: true}", "nativePolicies: {webhook: off}", "inTree: {webhook: off}"} {
		if _, err := installServed(t, releaseNS, vals); err == nil {
			t.Errorf("values %q accepted: the schema must refuse them", vals)
		}
	}
}

// TestNativePoliciesRefuseSuppressionsTheyCannotMirror: as `meshgate
// policies`, the chart does not render policies that would deny what a
// suppression with a \ escape silences.
func TestNativePoliciesRefuseSuppressionsTheyCannotMirror(t *testing.T) {
	_, err := renderServedErr(t, "inTree: {enabled: true}\nconfig: {suppressions: [{rule: service-port-name, name: 'db-\\*'}]}\n")
	if err == nil || !strings.Contains(err.Error(), "cannot be mirrored in the in-tree policies") {
		t.Fatalf("render: %v, want the suppression refused", err)
	}
	if _, err := renderServedErr(t, "inTree: {enabled: false}\nconfig: {suppressions: [{rule: service-port-name, name: 'db-\\*'}]}\n"); err != nil {
		t.Errorf("without the policies the suppression is fine: %v", err)
	}
}

func kindName(t *testing.T, o runtime.Object) string {
	t.Helper()
	switch p := o.(type) {
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return "ValidatingAdmissionPolicy/" + p.Name
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return "ValidatingAdmissionPolicyBinding/" + p.Name
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		return "MutatingAdmissionPolicy/" + p.Name
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		return "MutatingAdmissionPolicyBinding/" + p.Name
	}
	t.Fatalf("unexpected %T", o)
	return ""
}

// specDiff compares a rendered spec with the generated object's spec, both
// decoded into the generated object's type.
func specDiff(t *testing.T, spec any, want runtime.Object) string {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{"spec": spec})
	if err != nil {
		t.Fatal(err)
	}
	got := reflect.New(reflect.TypeOf(want).Elem()).Interface()
	if err := yaml.UnmarshalStrict(b, got); err != nil {
		t.Fatal(err)
	}
	gotSpec, wantSpec := specOf(got.(runtime.Object)), specOf(want)
	if apiequality.Semantic.DeepEqual(gotSpec, wantSpec) {
		return ""
	}
	return diff.Diff(wantSpec, gotSpec)
}

func specOf(o runtime.Object) any {
	switch p := o.(type) {
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return p.Spec
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return p.Spec
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		return p.Spec
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		return p.Spec
	}
	return nil
}
