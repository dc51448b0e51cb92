package emissary

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/meshgate/meshgate/internal/policy"
)

// AmbassadorModule is the name of the Module that configures Emissary itself.
const AmbassadorModule = "ambassador"

// DefaultResolver is the resolver of a Mapping that names none when the
// ambassador Module sets no other.
const DefaultResolver = "kubernetes-service"

// builtinResolvers are the resolvers Emissary creates when no resolver of that
// name exists (IRServiceResolverFactory.load_all).
var builtinResolvers = map[string]string{
	"kubernetes-service":  policy.KubernetesServiceResolver,
	"kubernetes-endpoint": policy.KubernetesEndpointResolver,
	"endpoint":            policy.KubernetesEndpointResolver,
	"consul":              policy.ConsulResolver,
	"consul-endpoint":     policy.ConsulResolver,
}

// Resolution is how Emissary resolves a Mapping's service: through which
// resolver, and in which namespace an unqualified service name lives.
type Resolution struct {
	// Resolver is the resolver's name: the Mapping's, else the ambassador
	// Module's, else kubernetes-service.
	Resolver string
	// Kind is the resolver's kind ("" when Unknown is set).
	Kind string
	// Namespace is where an unqualified service resolves: the Mapping's
	// namespace, or Emissary's (the ambassador Module's) when the Module sets
	// use_ambassador_namespace_for_service_resolution.
	Namespace string
	// NamespaceFrom names the Module that moved Namespace away from the
	// Mapping's ("" when it did not).
	NamespaceFrom string
	// Unknown, when set, says why meshgate cannot tell how Emissary resolves
	// the service; the rules then leave the Mapping alone.
	Unknown string
}

// ToService reports whether the service is a Kubernetes Service: Kubernetes
// service or endpoint resolution, known for sure.
func (r Resolution) ToService() bool {
	return r.Unknown == "" && (r.Kind == policy.KubernetesServiceResolver || r.Kind == policy.KubernetesEndpointResolver)
}

// ResolveMapping tells how Emissary resolves the service of mp, a Mapping in
// namespace ns, from the ambassador Modules and resolvers the World holds,
// as Emissary's normalize_service_name and resolver lookup do. It never
// guesses: several ambassador Modules that disagree, resolvers of one name
// with different kinds, or a resolver name neither the World nor Emissary's
// built-ins know, set Unknown.
func ResolveMapping(ctx context.Context, w policy.World, mp Mapping, ns string) (Resolution, error) {
	r := Resolution{Resolver: mp.Resolver, Namespace: ns}
	var mod *policy.Module
	if w != nil {
		mods, err := policy.ListByName(ctx, w, policy.Modules, AmbassadorModule)
		if err != nil {
			return r, fmt.Errorf("look up Module %q: %w", AmbassadorModule, err)
		}
		m, why := agreeingModule(mods)
		if why != "" {
			r.Unknown = why
			return r, nil
		}
		mod = m
	}
	if mod != nil && mod.UseAmbassadorNamespaceForServiceResolution && mod.Namespace != "" && mod.Namespace != ns {
		r.Namespace = mod.Namespace
		r.NamespaceFrom = "Module " + mod.Namespace + "/" + mod.Name + " sets use_ambassador_namespace_for_service_resolution"
	}
	if r.Resolver == "" && mod != nil {
		r.Resolver = mod.Resolver
	}
	if r.Resolver == "" {
		r.Resolver = DefaultResolver
	}
	var found []policy.Resolver
	if w != nil {
		var err error
		if found, err = policy.ListByName(ctx, w, policy.Resolvers, r.Resolver); err != nil {
			return r, fmt.Errorf("look up resolver %q: %w", r.Resolver, err)
		}
	}
	kinds := map[string]bool{}
	for _, f := range found {
		kinds[f.Kind] = true
	}
	switch {
	case len(kinds) == 1:
		r.Kind = found[0].Kind
	case len(kinds) > 1:
		r.Unknown = fmt.Sprintf("resolvers called %q have different kinds (%s), so meshgate cannot tell which one Emissary uses", r.Resolver, strings.Join(sortedKeys(kinds), ", "))
	case builtinResolvers[r.Resolver] != "":
		r.Kind = builtinResolvers[r.Resolver]
	default:
		r.Unknown = fmt.Sprintf("resolver %q is not among the objects meshgate knows, so meshgate cannot tell whether it resolves to a Kubernetes Service (a ConsulResolver does not)", r.Resolver)
	}
	return r, nil
}

// agreeingModule returns the ambassador Module whose settings count: nil when
// there is none, or why several that disagree leave it open.
func agreeingModule(mods []policy.Module) (*policy.Module, string) {
	if len(mods) == 0 {
		return nil, ""
	}
	first := mods[0]
	for _, m := range mods[1:] {
		if m.UseAmbassadorNamespaceForServiceResolution != first.UseAmbassadorNamespaceForServiceResolution ||
			m.Resolver != first.Resolver ||
			(first.UseAmbassadorNamespaceForServiceResolution && m.Namespace != first.Namespace) {
			names := make([]string, 0, len(mods))
			for _, m := range mods {
				names = append(names, m.Namespace+"/"+m.Name)
			}
			sort.Strings(names)
			return nil, fmt.Sprintf("the ambassador Modules %s disagree on use_ambassador_namespace_for_service_resolution or resolver, so meshgate cannot tell how Emissary resolves the service", strings.Join(names, ", "))
		}
	}
	return &first, ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TLSContextMissing reports whether the World holds TLSContexts but none called
// name, and whether that absence is proven: only a World that holds every
// TLSContext of the cluster (policy.World.Complete: the admission server's
// cache, or meshgate check reading a cluster) proves it; files do not.
func TLSContextMissing(ctx context.Context, w policy.World, name string) (missing, proven bool, err error) {
	if w == nil || !w.Has(policy.KindTLSContext) {
		return false, false, nil
	}
	found, err := policy.ListByName(ctx, w, policy.TLSContexts, name)
	if err != nil {
		return false, false, fmt.Errorf("look up TLSContext %q: %w", name, err)
	}
	return len(found) == 0, w.Complete(policy.KindTLSContext), nil
}
