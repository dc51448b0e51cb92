// Package manifest reads Kubernetes objects from YAML and JSON streams: several
// documents per stream, `kind: List` expanded, empty documents skipped.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Decode reads every object in r. name is used in error messages.
func Decode(name string, r io.Reader) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufioReader(r))
	var out []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		objs, err := DecodeDocument(raw)
		if err != nil {
			return out, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		out = append(out, objs...)
	}
}

// DecodeDocument decodes one YAML or JSON document into objects (a List gives its
// items; a document of only comments gives none).
func DecodeDocument(raw []byte) ([]*unstructured.Unstructured, error) {
	var obj map[string]any
	if err := utilyaml.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, nil
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.IsList() {
		list, err := u.ToList()
		if err != nil {
			return nil, fmt.Errorf("read List: %w", err)
		}
		out := make([]*unstructured.Unstructured, 0, len(list.Items))
		for i := range list.Items {
			if err := checkObject(&list.Items[i]); err != nil {
				return nil, fmt.Errorf("List item %d: %w", i, err)
			}
			out = append(out, &list.Items[i])
		}
		return out, nil
	}
	if err := checkObject(u); err != nil {
		return nil, err
	}
	return []*unstructured.Unstructured{u}, nil
}

func checkObject(u *unstructured.Unstructured) error {
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return fmt.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	return nil
}
