package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// version and commit are set at build time with
// -ldflags "-X main.version=... -X main.commit=..." (the Dockerfile and make image do).
var (
	version = "dev"
	commit  = "unknown"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meshgate's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s (commit %s)\n", version, commit)
			return err
		},
	}
}

func asExit(err error, target **exitError) bool { return errors.As(err, target) }
