package emissary

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestMergeOutputCerts(t *testing.T) {
	const canonical = "proxyMetadata:\n  OUTPUT_CERTS: /etc/istio-certs\n"
	tests := []struct {
		name     string
		existing string
		present  bool
		want     string // merged value when changed
		changed  bool
		errLike  string
	}{
		{name: "absent annotation gets the canonical value", present: false, want: canonical, changed: true},
		{name: "empty value", existing: "", present: true, want: canonical, changed: true},
		{name: "only a comment", existing: "# set by platform team\n", present: true, want: canonical, changed: true},
		{name: "already set", existing: canonical, present: true},
		{name: "already set with a trailing slash", existing: "proxyMetadata:\n  OUTPUT_CERTS: /etc/istio-certs/\n", present: true},
		{name: "already set, JSON form", existing: `{"proxyMetadata":{"OUTPUT_CERTS":"/etc/istio-certs"}}`, present: true},
		{
			name:     "other keys and an existing proxyMetadata map are kept",
			existing: "holdApplicationUntilProxyStarts: true\nproxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\n",
			present:  true, changed: true,
			want: "holdApplicationUntilProxyStarts: true\nproxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\n  OUTPUT_CERTS: /etc/istio-certs\n",
		},
		{
			name:     "integers beyond float64 precision keep their exact text",
			existing: "concurrency: 2\nterminationDrainDuration: 30s\nstatusPort: 9007199254740993\n",
			present:  true, changed: true,
			want: "concurrency: 2\nproxyMetadata:\n  OUTPUT_CERTS: /etc/istio-certs\nstatusPort: 9007199254740993\nterminationDrainDuration: 30s\n",
		},
		{name: "proxyMetadata: null is an empty map", existing: "proxyMetadata:\n", present: true, changed: true, want: canonical},
		{name: "OUTPUT_CERTS elsewhere is a conflict", existing: "proxyMetadata:\n  OUTPUT_CERTS: /var/certs\n", present: true, errLike: `already sets proxyMetadata.OUTPUT_CERTS to "/var/certs"`},
		{name: "non-string OUTPUT_CERTS is a conflict", existing: "proxyMetadata:\n  OUTPUT_CERTS: 42\n", present: true, errLike: "already sets proxyMetadata.OUTPUT_CERTS to 42"},
		{name: "unparsable YAML is a conflict", existing: "proxyMetadata: {OUTPUT_CERTS: /x", present: true, errLike: "does not parse as YAML"},
		{name: "a list is not a ProxyConfig", existing: "- a\n- b\n", present: true, errLike: "is a YAML list, not a mapping"},
		{name: "a scalar is not a ProxyConfig", existing: "concurrency", present: true, errLike: "is a YAML string, not a mapping"},
		{name: "proxyMetadata as a list is a conflict", existing: "proxyMetadata:\n- OUTPUT_CERTS\n", present: true, errLike: "has proxyMetadata as a YAML list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := MergeOutputCerts(tt.existing, tt.present)
			if tt.errLike != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errLike)
				assert.False(t, changed)
				assert.Equal(t, tt.existing, got, "a conflicting value is returned untouched")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.changed, changed)
			if !tt.changed {
				assert.Equal(t, tt.existing, got)
				return
			}
			assert.Equal(t, tt.want, got)
			assert.True(t, OutputCertsSet(got, true), "the merged value must read as wired")
			again, changedAgain, err := MergeOutputCerts(got, true)
			require.NoError(t, err)
			assert.False(t, changedAgain, "merging twice changes nothing")
			assert.Equal(t, got, again)
		})
	}
}

func TestMergeOutputCertsKeepsNestedValues(t *testing.T) {
	existing := "tracing:\n  zipkin:\n    address: zipkin.istio-system:9411\n  sampling: 100.0\nproxyMetadata:\n  A: \"1\"\n"
	got, changed, err := MergeOutputCerts(existing, true)
	require.NoError(t, err)
	require.True(t, changed)
	var before, after map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(existing), &before))
	require.NoError(t, yaml.Unmarshal([]byte(got), &after))
	before["proxyMetadata"].(map[string]any)["OUTPUT_CERTS"] = "/etc/istio-certs"
	assert.Equal(t, before, after, "the merge adds exactly one key")
}

func TestMergeUserVolumeMount(t *testing.T) {
	const canonical = `{"istio-certs":{"mountPath":"/etc/istio-certs"}}`
	tests := []struct {
		name     string
		existing string
		present  bool
		want     string
		changed  bool
		errLike  string
	}{
		{name: "absent", want: canonical, changed: true},
		{name: "empty", existing: " ", present: true, want: canonical, changed: true},
		{name: "JSON null", existing: "null", present: true, want: canonical, changed: true},
		{name: "map form already wired", existing: canonical, present: true},
		{name: "map form wired with a trailing slash", existing: `{"istio-certs":{"mountPath":"/etc/istio-certs/"}}`, present: true},
		{name: "list form already wired, as the Emissary guide writes it, is left alone", existing: `[{"name": "istio-certs", "mountPath": "/etc/istio-certs"}]`, present: true},
		{
			name: "map form with other mounts: merged, others kept", present: true, changed: true,
			existing: `{"tls-secret":{"mountPath":"/etc/istio/tls-certs/","readOnly":true}}`,
			want:     `{"istio-certs":{"mountPath":"/etc/istio-certs"},"tls-secret":{"mountPath":"/etc/istio/tls-certs/","readOnly":true}}`,
		},
		{
			name: "list form with other mounts: rewritten in map form, others kept", present: true, changed: true,
			existing: `[{"name":"tracing-ca","mountPath":"/etc/tracing-ca","readOnly":true,"subPath":"ca.crt"}]`,
			want:     `{"istio-certs":{"mountPath":"/etc/istio-certs"},"tracing-ca":{"mountPath":"/etc/tracing-ca","readOnly":true,"subPath":"ca.crt"}}`,
		},
		{name: "istio-certs mounted elsewhere", existing: `{"istio-certs":{"mountPath":"/certs"}}`, present: true, errLike: `mounts istio-certs at "/certs"`},
		{name: "istio-certs without a mountPath", existing: `{"istio-certs":{}}`, present: true, errLike: "mounts istio-certs at null"},
		{name: "istio-certs read-only", existing: `[{"name":"istio-certs","mountPath":"/etc/istio-certs","readOnly":true}]`, present: true, errLike: "read-only"},
		{name: "not JSON (Istio reads it with a JSON decoder)", existing: `istio-certs: {mountPath: /etc/istio-certs}`, present: true, errLike: "is not valid JSON"},
		{name: "trailing garbage", existing: `{} {}`, present: true, errLike: "is not valid JSON"},
		{name: "a string", existing: `"istio-certs"`, present: true, errLike: "is a JSON string"},
		{name: "map entry not an object", existing: `{"istio-certs":"/etc/istio-certs"}`, present: true, errLike: `maps "istio-certs" to a JSON string`},
		{name: "list entry without a name", existing: `[{"mountPath":"/x"}]`, present: true, errLike: "without a name at [0]"},
		{name: "list entry not an object", existing: `["istio-certs"]`, present: true, errLike: "has a JSON string at [0]"},
		{name: "list mounting a volume twice", existing: `[{"name":"a","mountPath":"/a"},{"name":"a","mountPath":"/b"}]`, present: true, errLike: `mounts volume "a" twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := MergeUserVolumeMount(tt.existing, tt.present)
			if tt.errLike != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errLike)
				assert.False(t, changed)
				assert.False(t, UserVolumeMountSet(tt.existing, tt.present))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.changed, changed)
			if !tt.changed {
				assert.Equal(t, tt.existing, got)
				assert.True(t, UserVolumeMountSet(tt.existing, tt.present))
				return
			}
			assert.JSONEq(t, tt.want, got)
			assert.Equal(t, tt.want, got, "keys are written sorted, so the value is deterministic")
			assert.True(t, UserVolumeMountSet(got, true))
			_, form, err := ParseUserVolumeMounts(got)
			require.NoError(t, err)
			assert.Equal(t, FormMap, form, "meshgate writes Istio's map form")
		})
	}
}

func TestParseUserVolumeMountsForms(t *testing.T) {
	for _, tt := range []struct{ value, form string }{
		{"", FormNone},
		{`{"a":{"mountPath":"/a"}}`, FormMap},
		{`[{"name":"a","mountPath":"/a"}]`, FormList},
		{`[]`, FormList},
	} {
		_, form, err := ParseUserVolumeMounts(tt.value)
		require.NoError(t, err, tt.value)
		assert.Equal(t, tt.form, form, tt.value)
	}
}

// The fast paths compare with constants: they must be exactly what the slow
// paths render, or a pod wired by one path would be rewritten by the other.
func TestCanonicalValuesMatchTheirRendering(t *testing.T) {
	y, err := marshalYAML(map[string]any{ProxyMetadataKey: map[string]any{EnvOutputCerts: CertDir}})
	require.NoError(t, err)
	assert.Equal(t, y, canonicalProxyConfig)
	j, err := UserVolumeMounts{VolumeName: {"mountPath": CertDir}}.Canonical()
	require.NoError(t, err)
	assert.Equal(t, j, canonicalUserVolumeMount)
}
