package policy

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Rule is one meshgate rule as a value: everything the engine, the admission
// server, the CLI's reports, the metrics and the docs need to know about it.
// Each rule's file in mutators/ or validators/ registers its Rule with Register;
// every list of rules (the engine's dispatch, the webhook configurations, the
// JUnit and SARIF rule lists, the World's informers and RBAC) is derived from
// the registry.
type Rule struct {
	// ID is the rule's stable id: configuration files, metrics and CI reports
	// use it; docs/rules.md has a section "## <id> (...)".
	ID string
	// Summary is one line for reports and the docs index.
	Summary string
	// Mutation: the rule changes objects (its findings are conflicts); otherwise
	// it only reports findings.
	Mutation bool
	// Default is the rule's mode when the configuration does not set one.
	Default Mode
	// Reads are the World kinds the rule consults. When one is missing from the
	// cluster (its CRD is not installed) the rule runs without it.
	Reads []WorldKind
	// Reviews are the kinds of objects the rule reviews, each with the function
	// that reviews it.
	Reviews []Review
	// InTree, when set, is the rule's in-tree form: admission policies the API
	// server evaluates itself (`meshgate in-tree`).
	InTree *InTree
	// NoInTree, for a rule without an in-tree form that reads nothing but the
	// object and its namespace, says why it has none (`meshgate in-tree
	// --explain`).
	NoInTree string
}

// Review binds a rule's function to the kinds of objects it reviews.
type Review struct {
	// Kinds are the kinds the function is called for.
	Kinds []Kind
	// Check is the function: a PodFunc, a ServiceFunc or an ObjectFunc.
	Check Check
	// Select, when set, is a cheap test on the object's (or pod template's)
	// labels and annotations: the engine decodes the object and calls Check
	// only when it passes.
	Select func(labels, annotations map[string]string, cfg *Config) bool
	// Admission, when set, is where the function can change or report an
	// object at admission: the webhook registration sends the API server's
	// requests for the kinds only there. nil: everywhere.
	Admission *AdmissionScope
}

// Operation is an admission operation a kind is reviewed on.
type Operation string

// The admission operations meshgate reviews.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
)

// Kind is a kind of object a rule reviews, with what the webhook registration
// needs: its resource, the versions it is served at and the admission
// operations it is reviewed on.
type Kind struct {
	Group    string
	Kind     string
	Resource string
	// Versions are the API versions the webhook registers ("*" for all).
	Versions []string
	// Operations are the admission operations the kind is reviewed on. A kind
	// without operations is reviewed by `meshgate check` only (a workload's pod
	// template: the admission server reviews the pods it creates instead).
	Operations []Operation
	// Template is where a workload kind's pod template is ("spec", "template"):
	// a PodFunc reviews the template as the pods it will create.
	Template []string
}

// GroupKind returns the kind's group and kind.
func (k Kind) GroupKind() schema.GroupKind { return schema.GroupKind{Group: k.Group, Kind: k.Kind} }

// Reviews reports whether the kind is reviewed on op. Offline-only kinds
// (without operations) are reviewed on every operation `meshgate check` uses.
func (k Kind) Reviews(op Operation) bool {
	return len(k.Operations) == 0 || slices.Contains(k.Operations, op)
}

// Check is a rule's function. The engine decodes the object once per kind
// into what the function takes.
type Check interface{ form() Form }

// Form is what a Check takes: a Pod, a Service or an unstructured object.
type Form int

// The forms of objects a Check can take.
const (
	FormObject Form = iota
	FormPod
	FormService
)

// PodFunc reviews a Pod, or a workload's pod template as a Pod. An error means
// a World lookup failed: the review then has no verdict.
type PodFunc func(ctx context.Context, pod *corev1.Pod, t Target, w World, cfg *Config) (Report, error)

// ServiceFunc reviews a Service.
type ServiceFunc func(ctx context.Context, svc *corev1.Service, t Target, w World, cfg *Config) (Report, error)

// ObjectFunc reviews any object, as unstructured.
type ObjectFunc func(ctx context.Context, obj *unstructured.Unstructured, t Target, w World, cfg *Config) (Report, error)

func (PodFunc) form() Form     { return FormPod }
func (ServiceFunc) form() Form { return FormService }
func (ObjectFunc) form() Form  { return FormObject }

// FormOf returns the form c takes.
func FormOf(c Check) Form { return c.form() }

// Kinds the rules share.
var (
	// PodKinds are Pods (reviewed on CREATE) and the workload kinds whose pod
	// template a PodFunc reviews (by `meshgate check`).
	PodKinds = []Kind{
		{Kind: "Pod", Resource: "pods", Versions: []string{"v1"}, Operations: []Operation{Create}},
		{Group: "apps", Kind: "Deployment", Resource: "deployments", Versions: []string{"v1"}, Template: []string{"spec", "template"}},
		{Group: "apps", Kind: "StatefulSet", Resource: "statefulsets", Versions: []string{"v1"}, Template: []string{"spec", "template"}},
		{Group: "apps", Kind: "DaemonSet", Resource: "daemonsets", Versions: []string{"v1"}, Template: []string{"spec", "template"}},
		{Group: "apps", Kind: "ReplicaSet", Resource: "replicasets", Versions: []string{"v1"}, Template: []string{"spec", "template"}},
		{Group: "batch", Kind: "Job", Resource: "jobs", Versions: []string{"v1"}, Template: []string{"spec", "template"}},
		{Group: "batch", Kind: "CronJob", Resource: "cronjobs", Versions: []string{"v1"}, Template: []string{"spec", "jobTemplate", "spec", "template"}},
	}
	// ServiceKind is core/v1 Service.
	ServiceKind = Kind{Kind: "Service", Resource: "services", Versions: []string{"v1"}, Operations: []Operation{Create, Update}}
	// MappingKind is Emissary's Mapping.
	MappingKind = Kind{Group: GroupEmissary, Kind: "Mapping", Resource: "mappings", Versions: emissaryVersions, Operations: []Operation{Create, Update}}
	// TLSContextKind is Emissary's TLSContext.
	TLSContextKind = Kind{Group: GroupEmissary, Kind: "TLSContext", Resource: "tlscontexts", Versions: emissaryVersions, Operations: []Operation{Create, Update}}
	// VirtualServiceKind is Istio's VirtualService.
	VirtualServiceKind = Kind{Group: GroupIstioNet, Kind: "VirtualService", Resource: "virtualservices", Versions: []string{"v1", "v1beta1", "v1alpha3"}, Operations: []Operation{Create, Update}}
	// RouteKinds are the Gateway API route kinds.
	RouteKinds = []Kind{routeKind("HTTPRoute"), routeKind("GRPCRoute"), routeKind("TLSRoute"), routeKind("TCPRoute"), routeKind("UDPRoute")}
)

var emissaryVersions = []string{"v2", "v3alpha1"}

func routeKind(kind string) Kind {
	return Kind{Group: GroupGatewayAPI, Kind: kind, Resource: strings.ToLower(kind) + "s", Versions: []string{"*"}, Operations: []Operation{Create, Update}}
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Rule{}
)

var ruleID = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// Register adds r to the registry. It panics when r is not well formed (an
// id that is not lower-case kebab, one already registered, no summary, an
// invalid default mode, no reviews, a review without kinds or function, a World
// kind that is not declared, or a kind that another rule reviews in a
// different form): a rule's file registers its rule in init, so a mistake stops
// every test at once.
func Register(r Rule) {
	if err := validRule(r); err != nil {
		panic(err)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[r.ID]; dup {
		panic(fmt.Sprintf("policy.Register: rule %q registered twice", r.ID))
	}
	for _, other := range registry {
		if err := compatible(r, other); err != nil {
			panic(err)
		}
	}
	registry[r.ID] = r
}

// Unregister removes rule id (for tests that register a rule of their own).
func Unregister(id string) {
	registryMu.Lock()
	defer registryMu.Unlock()
	delete(registry, id)
}

func validRule(r Rule) error {
	switch {
	case !ruleID.MatchString(r.ID):
		return fmt.Errorf("policy.Register: rule id %q is not lower-case kebab", r.ID)
	case r.Summary == "":
		return fmt.Errorf("policy.Register: rule %s: no summary", r.ID)
	case r.Default != Enforce && r.Default != Warn:
		return fmt.Errorf("policy.Register: rule %s: default mode %q (want enforce or warn)", r.ID, r.Default)
	case len(r.Reviews) == 0:
		return fmt.Errorf("policy.Register: rule %s: reviews no kind", r.ID)
	}
	for _, wk := range r.Reads {
		if _, ok := LookupWorldKind(wk); !ok {
			return fmt.Errorf("policy.Register: rule %s reads World kind %q, which is not declared", r.ID, wk)
		}
	}
	forms := map[schema.GroupKind]Form{}
	for i, rv := range r.Reviews {
		if rv.Check == nil || len(rv.Kinds) == 0 {
			return fmt.Errorf("policy.Register: rule %s: review %d has no function or no kinds", r.ID, i)
		}
		if rv.Admission != nil {
			if err := validScope(rv.Admission); err != nil {
				return fmt.Errorf("policy.Register: rule %s: %w", r.ID, err)
			}
		}
		for _, k := range rv.Kinds {
			if k.Kind == "" || k.Resource == "" || len(k.Versions) == 0 {
				return fmt.Errorf("policy.Register: rule %s: kind %+v needs kind, resource and versions", r.ID, k)
			}
			if len(k.Template) > 0 && rv.Check.form() != FormPod {
				return fmt.Errorf("policy.Register: rule %s: %s has a pod template, only a PodFunc reviews it", r.ID, k.GroupKind())
			}
			if _, dup := forms[k.GroupKind()]; dup {
				return fmt.Errorf("policy.Register: rule %s reviews %s twice", r.ID, k.GroupKind())
			}
			forms[k.GroupKind()] = rv.Check.form()
		}
	}
	return nil
}

// compatible checks that a and b, when they review the same kind, take it in
// the same form and declare it the same way: the engine decodes an object once
// for all its rules.
func compatible(a, b Rule) error {
	for _, ra := range a.Reviews {
		for _, ka := range ra.Kinds {
			for _, rb := range b.Reviews {
				for _, kb := range rb.Kinds {
					if ka.GroupKind() != kb.GroupKind() {
						continue
					}
					if ra.Check.form() != rb.Check.form() {
						return fmt.Errorf("policy.Register: rules %s and %s review %s in different forms", a.ID, b.ID, ka.GroupKind())
					}
					if !slices.Equal(ka.Template, kb.Template) {
						return fmt.Errorf("policy.Register: rules %s and %s disagree on where %s's pod template is", a.ID, b.ID, ka.GroupKind())
					}
				}
			}
		}
	}
	return nil
}

// Rules returns every registered rule, mutations first, each group by id. The
// engine runs them in this order.
func Rules() []Rule {
	registryMu.RLock()
	out := make([]Rule, 0, len(registry))
	for _, r := range registry {
		out = append(out, r)
	}
	registryMu.RUnlock()
	slices.SortFunc(out, func(a, b Rule) int {
		if a.Mutation != b.Mutation {
			if a.Mutation {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// LookupRule returns the registered rule id.
func LookupRule(id string) (Rule, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[id]
	return r, ok
}

// IsMutation reports whether id is a registered mutation rule.
func IsMutation(id string) bool {
	r, ok := LookupRule(id)
	return ok && r.Mutation
}

// RulesFor returns the rules that review objects of gk, in Rules order.
func RulesFor(gk schema.GroupKind) []Rule {
	var out []Rule
	for _, r := range Rules() {
		if r.reviews(gk) {
			out = append(out, r)
		}
	}
	return out
}

func (r Rule) reviews(gk schema.GroupKind) bool {
	for _, rv := range r.Reviews {
		for _, k := range rv.Kinds {
			if k.GroupKind() == gk {
				return true
			}
		}
	}
	return false
}

// ReviewedKinds returns every kind some rule reviews, once each, in the order
// of Rules and their reviews.
func ReviewedKinds() []Kind {
	var out []Kind
	seen := map[schema.GroupKind]bool{}
	for _, r := range Rules() {
		for _, rv := range r.Reviews {
			for _, k := range rv.Kinds {
				if !seen[k.GroupKind()] {
					seen[k.GroupKind()] = true
					out = append(out, k)
				}
			}
		}
	}
	return out
}

// RulesReading returns the ids of the rules that read World kind wk.
func RulesReading(wk WorldKind) []string {
	var out []string
	for _, r := range Rules() {
		if slices.Contains(r.Reads, wk) {
			out = append(out, r.ID)
		}
	}
	return out
}

// EdgeProxySelect is a Review.Select for rules about edge-proxy pods: it passes
// the pods cfg recognises as edge proxies.
func EdgeProxySelect(labels, annotations map[string]string, cfg *Config) bool {
	return cfg.IsEdgeProxy(labels, annotations)
}
