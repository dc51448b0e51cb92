package world

import (
	"maps"
	"sort"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshgate/meshgate/internal/policy"
)

// Slim returns what a World reads of obj and nothing else: the admission
// server's cache holds these instead of whole objects (a cluster's Services
// are most of what it holds). What is kept, per form:
//
//   - *corev1.Service becomes a *ServiceSummary: name, namespace,
//     resourceVersion, spec.type, spec.selector and each port's name, port,
//     protocol and appProtocol (what the Mapping rules read of an upstream
//     Service), in less than half the memory of a typed Service;
//   - *metav1.PartialObjectMetadata (the metadata-only kinds): name,
//     namespace, resourceVersion and deletionTimestamp, plus the labels and
//     annotations its World kind keeps (policy.Keep: a Namespace's labels,
//     an Istio Gateway's sharing annotation);
//   - *unstructured.Unstructured of a World kind: apiVersion, kind, name,
//     namespace, resourceVersion and the spec fields its World kind keeps
//     (policy.Keep.Spec); any other kind loses its managedFields and
//     last-applied annotation only.
//
// Anything else is returned unchanged. Slim is idempotent (an informer may
// pass an object through it twice) and never modifies obj.
func Slim(obj any) any {
	switch o := obj.(type) {
	case *corev1.Service:
		return SummarizeService(o)
	case *metav1.PartialObjectMetadata:
		return slimMetadata(o)
	case *unstructured.Unstructured:
		if k, ok := policy.WorldKindOf(o.GroupVersionKind().GroupKind()); ok {
			return slimUnstructured(o, k.Decl.Decl().Keep.Spec)
		}
		return stripBookkeeping(o)
	}
	return obj
}

// ServiceSummary is what a World reads of a Service. It is a client.Object
// (the informer keys and indexes it by its metadata), so an informer's
// transform can store it in place of the Service.
type ServiceSummary struct {
	metav1.TypeMeta
	// ObjectMeta holds the name, namespace and resourceVersion only.
	metav1.ObjectMeta
	Type corev1.ServiceType
	// Selector is spec.selector as key, value, key, value ..., sorted by key.
	Selector []string
	Ports    []ServicePortSummary
}

// ServicePortSummary is what a World reads of a Service port.
type ServicePortSummary struct {
	Name        string
	Protocol    corev1.Protocol
	AppProtocol *string
	Port        int32
}

var _ runtime.Object = (*ServiceSummary)(nil)

// SummarizeService returns what a World reads of svc. The strings most
// Services share (namespaces, selector keys, port names and protocols) are
// interned.
func SummarizeService(svc *corev1.Service) *ServiceSummary {
	out := &ServiceSummary{
		TypeMeta:   svc.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: intern(svc.Namespace), ResourceVersion: svc.ResourceVersion},
		Type:       corev1.ServiceType(intern(string(svc.Spec.Type))),
	}
	if len(svc.Spec.Selector) > 0 {
		keys := make([]string, 0, len(svc.Spec.Selector))
		for k := range svc.Spec.Selector {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out.Selector = make([]string, 0, 2*len(keys))
		for _, k := range keys {
			out.Selector = append(out.Selector, intern(k), svc.Spec.Selector[k])
		}
	}
	if len(svc.Spec.Ports) > 0 {
		out.Ports = make([]ServicePortSummary, len(svc.Spec.Ports))
		for i, p := range svc.Spec.Ports {
			out.Ports[i] = ServicePortSummary{
				Name: intern(p.Name), Protocol: corev1.Protocol(intern(string(p.Protocol))), AppProtocol: p.AppProtocol, Port: p.Port,
			}
		}
	}
	return out
}

// Service returns the summarized Service: a new object each call, holding
// only the summary's fields.
func (s *ServiceSummary) Service() *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   s.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, ResourceVersion: s.ResourceVersion},
		Spec:       corev1.ServiceSpec{Type: s.Type},
	}
	if len(s.Selector) > 0 {
		svc.Spec.Selector = make(map[string]string, len(s.Selector)/2)
		for i := 0; i+1 < len(s.Selector); i += 2 {
			svc.Spec.Selector[s.Selector[i]] = s.Selector[i+1]
		}
	}
	if len(s.Ports) > 0 {
		svc.Spec.Ports = make([]corev1.ServicePort, len(s.Ports))
		for i, p := range s.Ports {
			svc.Spec.Ports[i] = corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port}
		}
	}
	return svc
}

// DeepCopyObject implements runtime.Object.
func (s *ServiceSummary) DeepCopyObject() runtime.Object {
	out := &ServiceSummary{TypeMeta: s.TypeMeta, Type: s.Type}
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Selector = append([]string(nil), s.Selector...)
	if s.Ports != nil {
		out.Ports = make([]ServicePortSummary, len(s.Ports))
		for i, p := range s.Ports {
			out.Ports[i] = p
			if p.AppProtocol != nil {
				ap := *p.AppProtocol
				out.Ports[i].AppProtocol = &ap
			}
		}
	}
	return out
}

// intern returns the canonical copy of s, so that the many objects that
// share a string share its memory.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// slimMetadata keeps the identity, the deletion timestamp (the CRD watch reads
// it) and the labels and annotations the object's World kind keeps.
func slimMetadata(in *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
	out := &metav1.PartialObjectMetadata{
		TypeMeta: in.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: in.Name, Namespace: in.Namespace, ResourceVersion: in.ResourceVersion,
			DeletionTimestamp: in.DeletionTimestamp,
		},
	}
	gk := in.GroupVersionKind().GroupKind()
	if gk.Empty() {
		// The cache sets the kind of every metadata object; one without a
		// kind keeps its labels, in case it is a Namespace.
		out.Labels = in.Labels
		return out
	}
	k, ok := policy.WorldKindOf(gk)
	if !ok {
		return out
	}
	keep := k.Decl.Decl().Keep
	if keep.Labels {
		out.Labels = in.Labels
	}
	for _, a := range keep.Annotations {
		if v, ok := in.Annotations[a]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[a] = v
		}
	}
	return out
}

// slimUnstructured keeps apiVersion, kind, the identity and the spec paths.
func slimUnstructured(in *unstructured.Unstructured, keep []policy.SpecPath) *unstructured.Unstructured {
	meta := map[string]any{}
	for _, f := range []string{"name", "namespace", "resourceVersion"} {
		if v, ok := nested(in.Object, "metadata", f); ok {
			meta[f] = v
		}
	}
	out := map[string]any{"apiVersion": in.GetAPIVersion(), "kind": in.GetKind(), "metadata": meta}
	if spec, ok := in.Object["spec"].(map[string]any); ok {
		out["spec"] = keepPaths(spec, keep)
	}
	return &unstructured.Unstructured{Object: out}
}

// keepPaths copies the fields of keep from m into a new map.
func keepPaths(m map[string]any, keep []policy.SpecPath) map[string]any {
	out := map[string]any{}
	for _, k := range keep {
		v, ok := nested(m, k.Path...)
		if !ok {
			continue
		}
		if k.Only != nil {
			v = keepOnly(v, k.Only)
		}
		setNested(out, v, k.Path...)
	}
	return out
}

// keepOnly keeps only the fields of keep of an object, or of each object of a
// list.
func keepOnly(v any, keep []policy.SpecPath) any {
	switch v := v.(type) {
	case map[string]any:
		return keepPaths(v, keep)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = keepOnly(e, keep)
		}
		return out
	}
	return v
}

// nested returns the value at path in m (without copying it).
func nested(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, p := range path {
		cm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = cm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// setNested sets path in m to v, creating the maps on the way.
func setNested(m map[string]any, v any, path ...string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// stripBookkeeping returns a copy of in without managedFields and the
// last-applied-configuration annotation, which no World reads.
func stripBookkeeping(in *unstructured.Unstructured) *unstructured.Unstructured {
	meta, ok := in.Object["metadata"].(map[string]any)
	if !ok {
		return in
	}
	_, managed := meta["managedFields"]
	annotations, _ := meta["annotations"].(map[string]any)
	_, applied := annotations[corev1.LastAppliedConfigAnnotation]
	if !managed && !applied {
		return in
	}
	outMeta := maps.Clone(meta)
	delete(outMeta, "managedFields")
	if applied {
		outAnn := maps.Clone(annotations)
		delete(outAnn, corev1.LastAppliedConfigAnnotation)
		if len(outAnn) == 0 {
			delete(outMeta, "annotations")
		} else {
			outMeta["annotations"] = outAnn
		}
	}
	out := maps.Clone(in.Object)
	out["metadata"] = outMeta
	return &unstructured.Unstructured{Object: out}
}
