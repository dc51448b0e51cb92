package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshgate/meshgate/internal/policy"
)

func TestWorldErrorSaysWhatStopped(t *testing.T) {
	svc := policy.ObjectRef{Kind: "Service", Namespace: "shop", Name: "web"}
	tests := []struct {
		name string
		err  *WorldError
		want string
	}{
		{
			name: "a rule's lookup failed",
			err:  &WorldError{Rule: policy.ServicePortName, Object: svc, Err: errors.New("connection refused")},
			want: "rule service-port-name could not read the cluster state it needs: connection refused",
		},
		{
			name: "the review's context ended before any rule ran",
			err:  &WorldError{Object: svc, Err: context.Canceled},
			want: "the review ended before its rules could read the cluster state: context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Contains(t, tt.err.Error(), tt.want)
			assert.NotContains(t, tt.err.Error(), "rule  ", "no empty rule name")
			assert.True(t, IsWorldError(tt.err))
		})
	}
}
