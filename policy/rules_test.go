package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryRuleIsDocumented keeps docs/rules.md and the README's table in step
// with the rule list.
func TestEveryRuleIsDocumented(t *testing.T) {
	rules, err := os.ReadFile("../docs/rules.md")
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for _, r := range Rules {
		assert.Contains(t, string(rules), "## "+r.ID+" (", "docs/rules.md needs a section for %s", r.ID)
		assert.Contains(t, string(readme), "`"+r.ID+"`", "README.md's rule table needs %s", r.ID)
		_, ok := LookupRule(r.ID)
		assert.True(t, ok)
		assert.Equal(t, strings.ToLower(r.ID), r.ID)
	}
	_, ok := LookupRule("no-such-rule")
	assert.False(t, ok)
}
