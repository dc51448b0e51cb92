package webhook

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/meshgate/meshgate/internal/policy"
)

func resources(rules []admissionregistrationv1.RuleWithOperations) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Resources...)
	}
	return out
}

func TestHandOffLeavesTheCoveredKindsToTheAPIServer(t *testing.T) {
	handed := policy.HandedOffKinds()
	require.Len(t, handed, 1)
	assert.Equal(t, "services", handed[0].Resource, "both Service rules are covered completely in-tree")

	m, v := Configurations(RegistrationOptions{ClientConfig: URLClientConfig("https://127.0.0.1:9443", nil)})
	var before []string
	for _, w := range m.Webhooks {
		before = append(before, resources(w.Rules)...)
	}
	require.Contains(t, before, "services")
	HandOff(m, v)
	for _, w := range m.Webhooks {
		assert.NotContains(t, resources(w.Rules), "services")
	}
	for _, w := range v.Webhooks {
		assert.NotContains(t, resources(w.Rules), "services")
	}
	var left []string
	for _, w := range v.Webhooks {
		left = append(left, resources(w.Rules)...)
	}
	assert.True(t, slices.Contains(left, "pods") && slices.Contains(left, "mappings"), "the other kinds stay with the webhook: %v", left)
}
