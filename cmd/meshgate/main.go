// Command meshgate is the admission webhook (`meshgate serve`) and the offline
// policy check for CI (`meshgate check`) in one binary.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	exitOK       = 0
	exitBadInput = 2
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "meshgate",
		Short:         "Admission webhook and CI check that make Emissary-ingress and Istio work together",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand(), newCheckCommand(), newServeCommand(), newInTreeCommand(), newPoliciesCommand())
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := newRootCommand()
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if asExit(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "meshgate:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "meshgate:", err)
	return exitBadInput
}
