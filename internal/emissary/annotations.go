package emissary

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"sigs.k8s.io/yaml"
)

// MergeOutputCerts returns the proxy.istio.io/config annotation value with
// proxyMetadata.OUTPUT_CERTS set to CertDir, keeping every other key.
// present tells whether the pod has the annotation at all. changed is false when
// the value already says so (or when err is set). An error means meshgate must
// not touch the value: it is not a YAML mapping, its proxyMetadata is not a
// mapping, or OUTPUT_CERTS already names another directory; the error text says
// which and is meant for a conflict finding.
//
// The merged value is re-rendered by sigs.k8s.io/yaml (keys sorted, comments
// dropped), the way Istio itself reads it (YAML -> JSON -> ProxyConfig).
// Numbers keep their exact text.
func MergeOutputCerts(existing string, present bool) (merged string, changed bool, err error) {
	switch {
	case !present || strings.TrimSpace(existing) == "":
		return canonicalProxyConfig, true, nil
	case existing == canonicalProxyConfig:
		return existing, false, nil // the common case, without a YAML round trip
	}
	doc, err := decodeYAML(existing)
	if err != nil {
		return existing, false, fmt.Errorf("does not parse as YAML (%v)", shortErr(err))
	}
	cfg := map[string]any{}
	switch d := doc.(type) {
	case nil: // only comments
	case map[string]any:
		cfg = d
	default:
		return existing, false, fmt.Errorf("is a YAML %s, not a mapping of ProxyConfig fields", jsonKind(doc))
	}
	meta := map[string]any{}
	switch pm := cfg[ProxyMetadataKey].(type) {
	case nil:
	case map[string]any:
		meta = pm
	default:
		return existing, false, fmt.Errorf("has %s as a YAML %s, not a mapping of environment variables", ProxyMetadataKey, jsonKind(pm))
	}
	if v, ok := meta[EnvOutputCerts]; ok {
		if s, isString := v.(string); isString && SameDir(s, CertDir) {
			return existing, false, nil
		}
		return existing, false, fmt.Errorf("already sets %s.%s to %s", ProxyMetadataKey, EnvOutputCerts, jsonText(v))
	}
	meta[EnvOutputCerts] = CertDir
	cfg[ProxyMetadataKey] = meta
	out, err := marshalYAML(cfg)
	if err != nil {
		return existing, false, fmt.Errorf("cannot be re-rendered (%v)", shortErr(err))
	}
	return out, true, nil
}

// canonicalProxyConfig is what meshgate writes into an empty proxy.istio.io/config,
// exactly as the merge renders it.
const canonicalProxyConfig = ProxyMetadataKey + ":\n  " + EnvOutputCerts + ": " + CertDir + "\n"

// canonicalUserVolumeMount is what meshgate writes into an empty
// sidecar.istio.io/userVolumeMount, exactly as Canonical renders it.
const canonicalUserVolumeMount = `{"` + VolumeName + `":{"mountPath":"` + CertDir + `"}}`

// OutputCertsSet reports whether the proxy.istio.io/config value sets
// proxyMetadata.OUTPUT_CERTS to CertDir.
func OutputCertsSet(value string, present bool) bool {
	if !present {
		return false
	}
	_, changed, err := MergeOutputCerts(value, present)
	return err == nil && !changed
}

// Forms of the sidecar.istio.io/userVolumeMount annotation.
const (
	// FormNone: absent or empty.
	FormNone = "none"
	// FormMap is Istio's canonical form, {"<volume>": {<VolumeMount fields>}}: the
	// injection template ranges over it and takes each key as the mount's name.
	FormMap = "map"
	// FormList is the form the Emissary guide shows,
	// [{"name": "<volume>", <VolumeMount fields>}]. Istio's template still names
	// each entry by its index and then repeats "name" from the entry: it works
	// only because the YAML parser lets the second "name" win.
	FormList = "list"
)

// UserVolumeMounts is the parsed sidecar.istio.io/userVolumeMount annotation:
// volume name -> the mount's other fields, as written.
type UserVolumeMounts map[string]map[string]any

// ParseUserVolumeMounts reads the annotation in either form. Istio reads it with
// a JSON decoder, so JSON is all it accepts.
func ParseUserVolumeMounts(value string) (UserVolumeMounts, string, error) {
	if strings.TrimSpace(value) == "" {
		return UserVolumeMounts{}, FormNone, nil
	}
	doc, err := decodeJSON([]byte(value))
	if err != nil {
		return nil, "", fmt.Errorf("is not valid JSON (%v)", shortErr(err))
	}
	out := UserVolumeMounts{}
	switch d := doc.(type) {
	case map[string]any:
		for name, v := range d {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, "", fmt.Errorf("maps %q to a JSON %s, not a volume mount object", name, jsonKind(v))
			}
			out[name] = m
		}
		return out, FormMap, nil
	case []any:
		for i, v := range d {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, "", fmt.Errorf("has a JSON %s at [%d], not a volume mount object", jsonKind(v), i)
			}
			name, ok := m["name"].(string)
			if !ok || name == "" {
				return nil, "", fmt.Errorf("has an entry without a name at [%d]", i)
			}
			if _, dup := out[name]; dup {
				return nil, "", fmt.Errorf("mounts volume %q twice", name)
			}
			rest := maps.Clone(m)
			delete(rest, "name")
			out[name] = rest
		}
		return out, FormList, nil
	case nil:
		return UserVolumeMounts{}, FormNone, nil
	}
	return nil, "", fmt.Errorf("is a JSON %s, not an object or a list of volume mounts", jsonKind(doc))
}

// CheckCertsMount tells whether the parsed annotation mounts istio-certs where
// istio-proxy must write the certificates. found is false when istio-certs is not
// mentioned; err says what is wrong with an istio-certs entry that is.
func (u UserVolumeMounts) CheckCertsMount() (found bool, err error) {
	m, ok := u[VolumeName]
	if !ok {
		return false, nil
	}
	mp, _ := m["mountPath"].(string)
	if !SameDir(mp, CertDir) {
		return true, fmt.Errorf("mounts %s at %s", VolumeName, jsonText(m["mountPath"]))
	}
	if ro, _ := m["readOnly"].(bool); ro {
		return true, fmt.Errorf("mounts %s read-only", VolumeName)
	}
	return true, nil
}

// Canonical renders the mounts in Istio's map form (keys sorted).
func (u UserVolumeMounts) Canonical() (string, error) {
	b, err := json.Marshal(map[string]map[string]any(u))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// MergeUserVolumeMount returns the sidecar.istio.io/userVolumeMount value that
// also mounts istio-certs at CertDir in istio-proxy, in Istio's canonical map
// form, keeping every other mount. An error means meshgate
// must not touch the value (not JSON, an entry it cannot read, or istio-certs
// mounted elsewhere or read-only); its text is meant for a conflict finding.
//
// A value that already mounts istio-certs correctly is left as it is, in either
// form: the Emissary guide's list form works, and rewriting a working value would
// only make GitOps tools see drift. A list-form value that lacks the mount is
// rewritten in the map form, every mount kept.
func MergeUserVolumeMount(existing string, present bool) (merged string, changed bool, err error) {
	switch {
	case !present || strings.TrimSpace(existing) == "":
		return canonicalUserVolumeMount, true, nil
	case existing == canonicalUserVolumeMount:
		return existing, false, nil // the common case, without a JSON round trip
	}
	mounts := UserVolumeMounts{}
	if present {
		mounts, _, err = ParseUserVolumeMounts(existing)
	}
	if err != nil {
		return existing, false, err
	}
	found, err := mounts.CheckCertsMount()
	if err != nil {
		return existing, false, err
	}
	if found {
		return existing, false, nil
	}
	mounts[VolumeName] = map[string]any{"mountPath": CertDir}
	out, err := mounts.Canonical()
	if err != nil {
		return existing, false, fmt.Errorf("cannot be re-rendered (%v)", shortErr(err))
	}
	return out, true, nil
}

// UserVolumeMountSet reports whether the annotation value (either form) mounts
// istio-certs at CertDir, writable.
func UserVolumeMountSet(value string, present bool) bool {
	if !present {
		return false
	}
	if value == canonicalUserVolumeMount {
		return true
	}
	mounts, _, err := ParseUserVolumeMounts(value)
	if err != nil {
		return false
	}
	found, err := mounts.CheckCertsMount()
	return found && err == nil
}

// decodeYAML reads a YAML document the way Istio reads proxy.istio.io/config
// (YAML converted to JSON), keeping numbers as written.
func decodeYAML(s string) (any, error) {
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		return nil, err
	}
	return decodeJSON(j)
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func marshalYAML(v any) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return "", err
	}
	return string(y), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// jsonText renders a decoded value compactly for a message.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// shortErr keeps parser errors to one short line.
func shortErr(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
