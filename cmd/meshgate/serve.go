package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newServeCommand runs the admission server. TODO(server helper): issue 3.
func newServeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhook server",
		RunE: func(*cobra.Command, []string) error {
			return &exitError{code: exitBadInput, err: errors.New("serve: not built yet")}
		},
	}
}
