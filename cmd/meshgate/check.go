package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCheckCommand checks manifests offline. TODO(cli helper): issue 4.
func newCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check manifests against meshgate's rules, offline",
		RunE: func(*cobra.Command, []string) error {
			return &exitError{code: exitBadInput, err: errors.New("check: not built yet")}
		},
	}
}
