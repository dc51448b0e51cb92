package engine

import (
	"errors"
	"fmt"

	"github.com/meshgate/meshgate/internal/policy"
)

// WorldError is a review that failed because the World could not answer a
// rule's question (a cache or API server read failed, or the review's context
// ended). No verdict is built on it: the admission server fails the request so
// that the webhook's failurePolicy decides, and `meshgate check` reports it as
// an error of its input.
type WorldError struct {
	// Rule is the rule whose lookup failed; empty when the review's context
	// had ended before any rule ran.
	Rule string
	// Object is the object under review.
	Object policy.ObjectRef
	// Err is the lookup's error.
	Err error
}

func (e *WorldError) Error() string {
	if e.Rule == "" {
		return fmt.Sprintf("%s: the review ended before its rules could read the cluster state: %v", e.Object, e.Err)
	}
	return fmt.Sprintf("%s: rule %s could not read the cluster state it needs: %v", e.Object, e.Rule, e.Err)
}

func (e *WorldError) Unwrap() error { return e.Err }

// TypeError is a review that failed because the object (or its pod template)
// does not convert to the Go type its kind's rules take (a `port: "80"`).
type TypeError struct {
	// Object is the object under review.
	Object policy.ObjectRef
	// Field is the path of the part that does not convert (spec.template for
	// a workload's pod template), "" for the whole object.
	Field string
	// Type names what it should be (Pod, Service, pod template).
	Type string
	// Err is the converter's error.
	Err error
}

func (e *TypeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s is not a valid %s: %v", e.Object, e.Field, e.Type, e.Err)
	}
	return fmt.Sprintf("%s: not a valid %s: %v", e.Object, e.Type, e.Err)
}

func (e *TypeError) Unwrap() error { return e.Err }

// IsWorldError reports whether err is (or wraps) a WorldError.
func IsWorldError(err error) bool {
	var we *WorldError
	return errors.As(err, &we)
}

// ruleError says which rule could not decide about which object.
func ruleError(rule string, t policy.Target, err error) error {
	return &WorldError{Rule: rule, Object: t.Object, Err: err}
}
