package istio

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveGatewayRef(t *testing.T) {
	tests := []struct {
		ref     string
		want    string
		form    string
		wantErr string
	}{
		{ref: "mesh", want: "mesh", form: RefMesh},
		{ref: "istio-ingress/istio-ingressgateway", want: "istio-ingress/istio-ingressgateway", form: RefQualified},
		{ref: "app/gw", want: "app/gw", form: RefQualified},
		{ref: "gw", want: "app/gw", form: RefShort},
		{ref: "gw.infra", want: "infra/gw", form: RefLegacy},
		{ref: "gw.infra.svc.cluster.local", want: "infra/gw", form: RefLegacy},
		{ref: "service-gw.default", want: "default/service-gw", form: RefLegacy},
		{ref: "./gw", wantErr: `"." is not a namespace`},
		{ref: "*/gw", wantErr: `"*" is not a namespace`},
		{ref: "", wantErr: "empty"},
		{ref: "/gw", wantErr: "must both be set"},
		{ref: "infra/", wantErr: "must both be set"},
		{ref: "gw.", wantErr: "must both be set"},
		{ref: ".infra", wantErr: "must both be set"},
		{ref: "Infra/gw", wantErr: `namespace "Infra" is not valid`},
		{ref: "infra/gw/x", wantErr: `gateway name "gw/x" is not valid`},
		{ref: "my_gw", wantErr: `gateway name "my_gw" is not valid`},
		{ref: "MESH", wantErr: `gateway name "MESH" is not valid`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := ResolveGatewayRef(tt.ref, "app")
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
			assert.Equal(t, tt.form, got.Form)
		})
	}
}

func TestParseAllowedNamespaces(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		admits  map[string]map[string]string // namespace -> its labels
		refuses map[string]map[string]string
		wantErr string
	}{
		{name: "every namespace", value: " * ", admits: map[string]map[string]string{"a": nil, "knative-apps": nil}},
		{name: "a comma list, spaces ignored", value: "auth, oauth2-proxy ,x", admits: map[string]map[string]string{"auth": nil, "oauth2-proxy": nil, "x": nil},
			refuses: map[string]map[string]string{"kubeflow": nil, "": nil}},
		{name: "one namespace", value: "auth", admits: map[string]map[string]string{"auth": nil}, refuses: map[string]map[string]string{"auth2": nil}},
		{name: "a label selector", value: "selector: team in (web, data), !legacy",
			admits:  map[string]map[string]string{"a": {"team": "web"}, "b": {"team": "data", "x": "y"}},
			refuses: map[string]map[string]string{"c": {"team": "ops"}, "d": {"team": "web", "legacy": "true"}, "e": nil}},
		{name: "the namespace name label", value: "selector:kubernetes.io/metadata.name=auth",
			admits: map[string]map[string]string{"auth": {"kubernetes.io/metadata.name": "auth"}}, refuses: map[string]map[string]string{"x": {"kubernetes.io/metadata.name": "x"}}},
		{name: "empty", value: " ", wantErr: "it is empty"},
		{name: "empty selector", value: "selector: ", wantErr: "the selector is empty"},
		{name: "bad selector", value: "selector: team in web", wantErr: `the selector "team in web" is not a label selector`},
		{name: "a name that is not a namespace", value: "auth, Kubeflow", wantErr: `"Kubeflow" is not a namespace name`},
		{name: "an empty entry", value: "auth,,x", wantErr: `"" is not a namespace name`},
		{name: "all is not a keyword", value: "all, *", wantErr: `"*" is not a namespace name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAllowedNamespaces(tt.value)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			for ns, labels := range tt.admits {
				assert.True(t, a.Admits(ns, labels), "admits %s %v", ns, labels)
			}
			for ns, labels := range tt.refuses {
				assert.False(t, a.Admits(ns, labels), "refuses %s %v", ns, labels)
			}
		})
	}
}

func TestAllowedNamespacesNeedsLabels(t *testing.T) {
	all, _ := ParseAllowedNamespaces("*")
	named, _ := ParseAllowedNamespaces("a, b")
	sel, _ := ParseAllowedNamespaces("selector: team=web")
	assert.False(t, all.NeedsLabels("x"))
	assert.False(t, named.NeedsLabels("x"))
	assert.True(t, sel.NeedsLabels("x"))
}

// FuzzParseAllowedNamespaces: any annotation value is read or refused with a
// reason, never a panic; what is read admits or refuses any namespace.
func FuzzParseAllowedNamespaces(f *testing.F) {
	for _, v := range []string{"*", "auth, oauth2-proxy", "selector: team in (a,b)", "selector:", "", "a;b", "selector: !x"} {
		f.Add(v, "auth", "team", "a")
	}
	f.Fuzz(func(t *testing.T, v, ns, key, value string) {
		a, err := ParseAllowedNamespaces(v)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a reason")
			}
			return
		}
		_ = a.NeedsLabels(ns)
		_ = a.Admits(ns, map[string]string{key: value})
	})
}
