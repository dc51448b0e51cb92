package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionCommand(t *testing.T) {
	tests := []struct {
		name, version, commit, want string
	}{
		{name: "unstamped build", version: "dev", commit: "unknown", want: "dev (commit unknown)\n"},
		{name: "release build stamped by ldflags", version: "0.1.0", commit: "3de1b25", want: "0.1.0 (commit 3de1b25)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldV, oldC := version, commit
			t.Cleanup(func() { version, commit = oldV, oldC })
			version, commit = tt.version, tt.commit
			cmd := newVersionCommand()
			var out strings.Builder
			cmd.SetOut(&out)
			cmd.SetArgs(nil)
			require.NoError(t, cmd.Execute())
			assert.Equal(t, tt.want, out.String())
		})
	}
}
