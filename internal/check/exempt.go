package check

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshgate/meshgate/internal/istio"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

// NoteExempt is the note kind of a Service the Service port rules skip as one
// of Istio's own.
const NoteExempt = "exempt"

// exemptNote says when the Service port rules skip obj as one of Istio's own
// Services (istio.Owned), so that an exemption is never silent. It is a note,
// not a finding: it never fails the check.
func exemptNote(obj *manifest.Object, ref policy.ObjectRef) []Note {
	u := obj.Object
	if u == nil || u.GetKind() != "Service" || u.GroupVersionKind().Group != "" {
		return nil
	}
	svc := &corev1.Service{}
	if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, svc) != nil {
		return nil
	}
	why := istio.Owned(svc)
	if why == "" {
		return nil
	}
	return []Note{{Kind: NoteExempt, File: obj.Source, Line: obj.LineOf("metadata.labels"),
		Message: ref.String() + ": not checked by " + policy.ServicePortProtocol + " and " + policy.ServicePortName + ": " + why}}
}
