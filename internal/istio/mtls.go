package istio

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshgate/meshgate/internal/policy"
)

// MTLSMode is an effective Istio mTLS mode.
type MTLSMode string

// Effective mTLS modes (UNSET never is one: it inherits).
const (
	Strict     MTLSMode = "STRICT"
	Permissive MTLSMode = "PERMISSIVE"
	Disable    MTLSMode = "DISABLE"
)

// MTLS is the effective mTLS mode of a workload and where it comes from.
type MTLS struct {
	Mode MTLSMode
	// From is the PeerAuthentication that decided the mode; nil means Istio's
	// built-in default (PERMISSIVE).
	From *policy.PeerAuthentication
	// Level is "workload", "namespace", "mesh" or "default".
	Level string
}

// Explain renders the mode with its source, for messages: `STRICT, set by
// PeerAuthentication apps/default (namespace-wide)` or `PERMISSIVE, Istio's
// default`.
func (m MTLS) Explain() string {
	if m.From == nil {
		return string(m.Mode) + ", Istio's default"
	}
	return string(m.Mode) + ", set by " + m.Source()
}

// Source describes where the mode comes from, for messages:
// `PeerAuthentication apps/default (namespace-wide)`, `PeerAuthentication
// istio-system/default (mesh-wide)`, `PeerAuthentication apps/quote (workload
// selector)` or `Istio's default`.
func (m MTLS) Source() string {
	if m.From == nil {
		return "Istio's default"
	}
	suffix := " (" + m.Level + "-wide)"
	if m.Level == "workload" {
		suffix = " (workload selector)"
	}
	return "PeerAuthentication " + m.From.Namespace + "/" + m.From.Name + suffix
}

// EffectiveMTLS resolves the mTLS mode Istio applies to a workload in namespace
// whose pods carry (at least) workloadLabels, from the PeerAuthentications the
// World knows, as istiod does:
//
//   - a workload-level PeerAuthentication in namespace (non-empty
//     selector.matchLabels) applies when every label of its selector is in
//     workloadLabels. meshgate passes a Service's spec.selector, which every
//     backing pod carries, so a match is certain; a selector naming labels the
//     Service does not select on may or may not match the pods and is ignored.
//   - else the namespace-wide one (no selector) in namespace;
//   - else the mesh-wide one (no selector) in rootNamespace;
//   - else PERMISSIVE, Istio's default.
//
// A mode of UNSET (or empty, or a value Istio's schema would reject) inherits
// from the next level. When several PeerAuthentications compete at one level,
// istiod takes the oldest; the World carries no creation times, so the first
// by name wins, which is deterministic. Port-level mTLS is not considered: a
// Mapping reaches one Service port, and meshgate only needs the mode that
// decides whether to originate TLS at all.
func EffectiveMTLS(ctx context.Context, w policy.World, rootNamespace, namespace string, workloadLabels map[string]string) (MTLS, error) {
	if w == nil {
		return MTLS{Mode: Permissive, Level: "default"}, nil
	}
	pas, err := policy.ListInNamespace(ctx, w, policy.PeerAuthentications, namespace)
	if err != nil {
		return MTLS{}, fmt.Errorf("list PeerAuthentications in %q: %w", namespace, err)
	}
	if len(workloadLabels) > 0 {
		if pa := first(pas, func(pa *policy.PeerAuthentication) bool {
			return len(pa.Selector) > 0 && selects(pa.Selector, workloadLabels)
		}); pa != nil {
			if mode, ok := modeOf(pa.Mode); ok {
				return MTLS{Mode: mode, From: pa, Level: "workload"}, nil
			}
		}
	}
	namespaceWide := func(pa *policy.PeerAuthentication) bool { return len(pa.Selector) == 0 }
	if pa := first(pas, namespaceWide); pa != nil {
		if mode, ok := modeOf(pa.Mode); ok {
			level := "namespace"
			if namespace == rootNamespace {
				level = "mesh"
			}
			return MTLS{Mode: mode, From: pa, Level: level}, nil
		}
	}
	if namespace != rootNamespace && rootNamespace != "" {
		root, err := policy.ListInNamespace(ctx, w, policy.PeerAuthentications, rootNamespace)
		if err != nil {
			return MTLS{}, fmt.Errorf("list PeerAuthentications in %q: %w", rootNamespace, err)
		}
		if pa := first(root, namespaceWide); pa != nil {
			if mode, ok := modeOf(pa.Mode); ok {
				return MTLS{Mode: mode, From: pa, Level: "mesh"}, nil
			}
		}
	}
	return MTLS{Mode: Permissive, Level: "default"}, nil
}

// first returns the PeerAuthentication with the smallest name among those that
// match, or nil. It returns a pointer into a copy so callers cannot alias the
// World's slice.
func first(pas []policy.PeerAuthentication, match func(*policy.PeerAuthentication) bool) *policy.PeerAuthentication {
	var best *policy.PeerAuthentication
	for i := range pas {
		pa := &pas[i]
		if !match(pa) {
			continue
		}
		if best == nil || pa.Name < best.Name {
			best = pa
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	return &c
}

func selects(selector, workloadLabels map[string]string) bool {
	return labels.SelectorFromSet(selector).Matches(labels.Set(workloadLabels))
}

// modeOf maps a spec.mtls.mode to an effective mode; false means inherit.
func modeOf(s string) (MTLSMode, bool) {
	switch MTLSMode(strings.ToUpper(strings.TrimSpace(s))) {
	case Strict:
		return Strict, true
	case Permissive:
		return Permissive, true
	case Disable:
		return Disable, true
	}
	return "", false
}
