// Package benchdata holds what meshgate's admission benchmarks send: one
// object per reviewed kind, shaped as kube-apiserver hands it to a webhook on
// CREATE (defaulted, with managedFields), the World the rules look up, and the
// AdmissionReview around an object. The handler benchmarks (webhook/), the
// load generator (hack/loadgen) and the API server benchmark
// (hack/bench-apiserver) share them, so their numbers are about the same
// objects.
package benchdata

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
)

//go:embed objects/*.yaml
var files embed.FS

// Names of the objects, as Object takes them.
const (
	EmissaryPod    = "emissary-pod"
	OrdinaryPod    = "ordinary-pod"
	Service        = "service"
	VirtualService = "virtualservice"
	HTTPRoute      = "httproute"
	Mapping        = "mapping"
)

// Object returns a fresh copy of the named object.
func Object(name string) (*unstructured.Unstructured, error) {
	objs, err := load(name + ".yaml")
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("benchdata: %s.yaml holds %d objects, want 1", name, len(objs))
	}
	return objs[0], nil
}

// WorldObjects returns what the rules look up: the namespaces (emissary and
// apps in sidecar mode), the Mapping's upstream Service, the Istio TLSContext
// and the gateways the routes attach to.
func WorldObjects() ([]*unstructured.Unstructured, error) { return load("world.yaml") }

// World returns an in-memory World holding WorldObjects, every kind marked as
// listed from a cluster (as the admission server's cache is once synced).
func World() (*world.Memory, error) {
	objs, err := WorldObjects()
	if err != nil {
		return nil, err
	}
	w := world.NewMemory("default")
	for _, o := range objs {
		if _, err := w.Add(o); err != nil {
			return nil, fmt.Errorf("benchdata: world: %w", err)
		}
	}
	w.MarkAllKnown()
	return w, nil
}

func load(file string) ([]*unstructured.Unstructured, error) {
	data, err := files.ReadFile("objects/" + file)
	if err != nil {
		return nil, fmt.Errorf("benchdata: %w", err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---\n") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("benchdata: %s: %w", file, err)
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out, nil
}

// Resource returns the resource of obj's kind as a webhook sees it, from the
// rule registry's kinds.
func Resource(obj *unstructured.Unstructured) (metav1.GroupVersionResource, error) {
	gvk := obj.GroupVersionKind()
	for _, r := range policy.Rules() {
		for _, rv := range r.Reviews {
			for _, k := range rv.Kinds {
				if k.GroupKind() == gvk.GroupKind() {
					return metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: k.Resource}, nil
				}
			}
		}
	}
	return metav1.GroupVersionResource{}, fmt.Errorf("benchdata: no rule reviews %s", gvk.GroupKind())
}

// Review returns the AdmissionReview kube-apiserver sends a webhook when obj
// is created: the request's kind, resource, name and namespace, the creating
// user, the create options and the object.
func Review(obj *unstructured.Unstructured) ([]byte, error) {
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("benchdata: encode %s: %w", obj.GetKind(), err)
	}
	res, err := Resource(obj)
	if err != nil {
		return nil, err
	}
	gvk := obj.GroupVersionKind()
	kind := metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
	opts, err := json.Marshal(metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}})
	if err != nil {
		return nil, fmt.Errorf("benchdata: encode the create options: %w", err)
	}
	dryRun := false
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:  types.UID("3c6a9f34-2a5e-4f0e-8d6b-1f7e2b9c4d10"),
			Kind: kind, Resource: res, RequestKind: &kind, RequestResource: &res,
			Name: obj.GetName(), Namespace: obj.GetNamespace(), Operation: admissionv1.Create,
			UserInfo: authenticationv1.UserInfo{
				Username: "system:serviceaccount:kube-system:replicaset-controller",
				UID:      "6f0b8d3e-9c1a-4e2b-8f7d-0a1b2c3d4e5f",
				Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			},
			Object:  runtime.RawExtension{Raw: raw},
			DryRun:  &dryRun,
			Options: runtime.RawExtension{Raw: opts},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("benchdata: encode the review: %w", err)
	}
	return body, nil
}

// ForCreate returns a copy of obj as a client submits it: named name (the
// generated name dropped), without managedFields, owner references, status
// and the fields the API server allocates (a Service's cluster IPs).
func ForCreate(obj *unstructured.Unstructured, name string) *unstructured.Unstructured {
	out := obj.DeepCopy()
	out.SetName(name)
	out.SetGenerateName("")
	out.SetManagedFields(nil)
	out.SetOwnerReferences(nil)
	delete(out.Object, "status")
	if out.GetKind() == "Service" {
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIPs")
	}
	return out
}
