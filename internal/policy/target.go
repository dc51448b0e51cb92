package policy

// Target is what a rule is looking at: the object its findings and changes are
// reported against, and the namespace the object lives in.
type Target struct {
	// Object is reported on every finding and change. For a pod template this is
	// the workload (Deployment, CronJob, ...), not the pod.
	Object ObjectRef
	// Namespace is the effective namespace: the admission request's namespace, or
	// the manifest's, or "default".
	Namespace string
	// Template is true when the pod is a workload's pod template rather than a Pod
	// being created.
	Template bool
}

// NewReport starts an empty report about t's object.
func (t Target) NewReport() Report { return Report{Object: t.Object} }
