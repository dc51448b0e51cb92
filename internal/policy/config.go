package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Config is meshgate's configuration, one YAML file shared by `meshgate serve` and
// `meshgate check`. The zero value is not useful: start from DefaultConfig or Load.
type Config struct {
	// Rules sets each rule's mode: enforce, warn or off. For a mutation rule any
	// mode but off applies the mutation, and the mode is the severity of the
	// conflicts it reports.
	Rules map[string]Mode `json:"rules,omitempty"`
	// EdgeProxy says how edge-proxy pods are recognised and wired.
	EdgeProxy EdgeProxyConfig `json:"edgeProxy"`
	// Mappings configures the Mapping rules.
	Mappings MappingsConfig `json:"mappings"`
	// ServicePorts configures the Service port rules.
	ServicePorts ServicePortsConfig `json:"servicePorts"`
	// GatewayRefs configures virtualservice-gateway-ref.
	GatewayRefs GatewayRefsConfig `json:"gatewayRefs"`
	// Routes configures route-parent-ref.
	Routes RoutesConfig `json:"routes"`
	// Istio describes the mesh installation.
	Istio IstioConfig `json:"istio"`
}

// EdgeProxyConfig configures how edge-proxy pods are recognised and wired.
type EdgeProxyConfig struct {
	// Selectors: a pod whose labels contain every label of any one selector is an
	// edge proxy (besides the opt-in annotation meshgate.io/edge-proxy: "true").
	Selectors []map[string]string `json:"selectors,omitempty"`
	// CertMode is how certificates reach the edge proxy: "auto" (from the
	// namespace: sidecar, ambient or nothing) or "secret" (legacy Ambassador 1.x /
	// Istio <= 1.4: mount secret istio.<serviceAccountName>).
	CertMode string `json:"certMode,omitempty"`
	// Namespaces are where Emissary runs; the Istio TLSContext must live in one.
	Namespaces []string `json:"namespaces,omitempty"`
}

// MappingsConfig configures the Mapping rules.
type MappingsConfig struct {
	// TLSContext is the name of the TLSContext carrying Istio's certificates.
	TLSContext string `json:"tlsContext,omitempty"`
	// IstioSecret is the secret that TLSContext must use.
	IstioSecret string `json:"istioSecret,omitempty"`
}

// ServicePortsConfig configures the Service port rules.
type ServicePortsConfig struct {
	// Scope is "mesh" (namespaces with sidecar injection or ambient mode) or "all".
	Scope string `json:"scope,omitempty"`
}

// GatewayRefsConfig configures virtualservice-gateway-ref.
type GatewayRefsConfig struct {
	// AllowedNamespaces may be referenced from any namespace.
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`
}

// RoutesConfig configures route-parent-ref.
type RoutesConfig struct {
	// AllowedNamespaces: routes in these namespaces may reference Gateways in any
	// namespace without the Gateway admitting them (meshgate does not reject them).
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`
}

// IstioConfig describes the mesh installation.
type IstioConfig struct {
	// RootNamespace holds mesh-wide policy (PeerAuthentication), istio-system by default.
	RootNamespace string `json:"rootNamespace,omitempty"`
}

// Cert modes.
const (
	CertModeAuto   = "auto"
	CertModeSecret = "secret"
)

// Service port scopes.
const (
	ScopeMesh = "mesh"
	ScopeAll  = "all"
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() *Config {
	c := &Config{Rules: map[string]Mode{}}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Rules == nil {
		c.Rules = map[string]Mode{}
	}
	for _, r := range Rules() {
		if _, ok := c.Rules[r.ID]; !ok {
			c.Rules[r.ID] = r.Default
		}
	}
	if c.EdgeProxy.Selectors == nil {
		c.EdgeProxy.Selectors = []map[string]string{
			{"product": "aes", "profile": "main"},
			{"service": "ambassador"},
		}
	}
	if c.EdgeProxy.CertMode == "" {
		c.EdgeProxy.CertMode = CertModeAuto
	}
	if c.EdgeProxy.Namespaces == nil {
		c.EdgeProxy.Namespaces = []string{"ambassador", "emissary"}
	}
	if c.Mappings.TLSContext == "" {
		c.Mappings.TLSContext = "istio-upstream"
	}
	if c.Mappings.IstioSecret == "" {
		c.Mappings.IstioSecret = "istio-certs"
	}
	if c.ServicePorts.Scope == "" {
		c.ServicePorts.Scope = ScopeMesh
	}
	if c.GatewayRefs.AllowedNamespaces == nil {
		c.GatewayRefs.AllowedNamespaces = []string{"istio-system", "istio-ingress"}
	}
	if c.Routes.AllowedNamespaces == nil {
		c.Routes.AllowedNamespaces = []string{}
	}
	if c.Istio.RootNamespace == "" {
		c.Istio.RootNamespace = "istio-system"
	}
}

// Mode returns the mode of rule id (Off for an unknown id).
func (c *Config) Mode(id string) Mode {
	if m, ok := c.Rules[id]; ok {
		return m
	}
	return Off
}

// Enabled reports whether rule id is not off.
func (c *Config) Enabled(id string) bool { return c.Mode(id) != Off }

// Validate checks every value; the error lists every problem.
func (c *Config) Validate() error {
	var errs []error
	ids := make([]string, 0, len(c.Rules))
	for id := range c.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := LookupRule(id); !ok {
			errs = append(errs, fmt.Errorf("rules: unknown rule %q (known: %s)", id, knownRules()))
			continue
		}
		if m := c.Rules[id]; !m.Valid() {
			errs = append(errs, fmt.Errorf("rules.%s: unknown mode %q (want enforce, warn or off)", id, m))
		}
	}
	for i, sel := range c.EdgeProxy.Selectors {
		if len(sel) == 0 {
			errs = append(errs, fmt.Errorf("edgeProxy.selectors[%d]: an empty selector would match every pod", i))
		}
		keys := make([]string, 0, len(sel))
		for k := range sel {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			// The webhook registration writes them into CEL match conditions.
			if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("edgeProxy.selectors[%d]: %q is not a label key: %s", i, k, strings.Join(msgs, "; ")))
			}
			if msgs := validation.IsValidLabelValue(sel[k]); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("edgeProxy.selectors[%d].%s: %q is not a label value: %s", i, k, sel[k], strings.Join(msgs, "; ")))
			}
		}
	}
	if !slices.Contains([]string{CertModeAuto, CertModeSecret}, c.EdgeProxy.CertMode) {
		errs = append(errs, fmt.Errorf("edgeProxy.certMode: unknown value %q (want auto or secret)", c.EdgeProxy.CertMode))
	}
	if !slices.Contains([]string{ScopeMesh, ScopeAll}, c.ServicePorts.Scope) {
		errs = append(errs, fmt.Errorf("servicePorts.scope: unknown value %q (want mesh or all)", c.ServicePorts.Scope))
	}
	return errors.Join(errs...)
}

func knownRules() string {
	s := ""
	for i, r := range Rules() {
		if i > 0 {
			s += ", "
		}
		s += r.ID
	}
	return s
}

// ParseConfig reads a configuration document. Unknown keys and bad values are
// errors; anything not set takes its documented default.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if len(bytes.TrimSpace(j)) > 0 && !bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
		// Case-sensitive and strict: "certmode" is not "certMode".
		strictErrs, err := sigsjson.UnmarshalStrict(j, c)
		if err != nil {
			return nil, fmt.Errorf("parse config: %w", err)
		}
		if len(strictErrs) > 0 {
			return nil, fmt.Errorf("parse config: %w", errors.Join(strictErrs...))
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	return c, nil
}

// LoadConfig reads the configuration file at path; an empty path gives the defaults.
func LoadConfig(path string) (*Config, error) {
	if path == "" {
		return DefaultConfig(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
