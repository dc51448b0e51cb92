package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/internal/check"
)

// newCheckCommand checks manifests offline, for CI.
func newCheckCommand() *cobra.Command {
	var o check.Options
	cmd := &cobra.Command{
		Use:   "check -f FILE|DIR|- [-f ...] [flags]",
		Short: "Check manifests against meshgate's rules, offline",
		Long: `Check Kubernetes manifests against meshgate's rules, as the admission webhook
would, without a cluster. Inputs are files, directories (recursive: .yaml, .yml,
.json) and - for standard input; multi-document YAML, JSON and kind: List work,
so do 'helm template ... | meshgate check -f -' and 'kustomize build | ...'.
The input objects (plus --world files, and the cluster with --kubeconfig or
--context) form the World the rules consult.

Documents without a kind (values files, Chart.yaml, JSON fixtures) and Helm
templates are skipped with a note; --exclude leaves paths out. Objects defined
twice are reported; --world-per-dir checks overlays (prod/, staging/) apart.
When the World does not know what a rule needs (no Namespace object says a
namespace is in the mesh, no Gateways), the report says which rules could not
apply.

Exit codes: 0 no enforce finding, 1 an enforce finding, 2 bad usage or input
(a document with a kind that does not parse or convert is reported with file
and line, and the rest is still checked); --warn-exit-code N exits N on
warnings without enforce findings; --fail-on-skipped exits 2 when anything was
skipped. Machine output (-o json|junit|sarif|github|gitlab, --write-mutated -) is
the only thing on standard output; messages go to standard error.`,
		Example: `  meshgate check -f manifests/
  helm template my-release ./chart | meshgate check -f - -o json
  meshgate check -f k8s/ -o sarif --output-file meshgate.sarif
  meshgate check -f k8s/ --diff --write-mutated out/
  meshgate check --live --context prod
  meshgate check --live -n emissary -f new-mapping.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Files = append(o.Files, args...)
			o.Stdin, o.Stdout, o.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			o.AutoMemoryLimit = true
			if o.Live && cmd.Flags().Changed("namespace") {
				o.LiveNamespace = o.Namespace
			}
			check.ToolVersion = version
			code, err := check.Run(cmd.Context(), o)
			if err != nil {
				if check.IsUsageError(err) {
					err = fmt.Errorf("check: %w\n\n%s", err, cmd.UsageString())
				} else {
					err = fmt.Errorf("check: %w", err)
				}
				return &exitError{code: exitBadInput, err: err}
			}
			if code != exitOK {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file, directory (recursive) or - for standard input (repeatable)")
	f.StringArrayVar(&o.Exclude, "exclude", nil, "glob of paths not to read, relative to a -f directory (repeatable; ** for any depth, a pattern without / matches at any depth: --exclude 'charts/**' --exclude '*.json')")
	f.BoolVar(&o.WorldPerDir, "world-per-dir", false, "check each top-level directory of a -f directory (and each file argument) in a World of its own, for environment overlays (prod/, staging/); files directly in the directory are in all of them")
	f.StringArrayVar(&o.WorldFiles, "world", nil, "more objects for the World only, not checked: file or directory (repeatable)")
	f.StringVar(&o.ConfigFile, "config", "", "meshgate configuration file (defaults otherwise)")
	f.StringVarP(&o.Format, "output", "o", check.FormatText, "report format: "+strings.Join(check.Formats, ", "))
	f.StringVar(&o.OutputFile, "output-file", "", "write the report to this file instead of standard output")
	f.BoolVar(&o.Diff, "diff", false, "print a unified diff of every object the mutations change")
	f.StringVar(&o.WriteMutated, "write-mutated", "", "write the mutated manifests into this directory (one file per input file), or - for standard output")
	f.IntVar(&o.WarnExitCode, "warn-exit-code", 0, "exit code when there are warnings but no enforce finding")
	f.BoolVar(&o.FailOnSkipped, "fail-on-skipped", false, "exit 2 when any input is skipped (not a Kubernetes object, or an unrendered template): for pipelines that render everything first")
	f.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of objects that do not set one")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "read the World from this cluster too (read-only list calls)")
	f.StringVar(&o.Context, "context", "", "kubeconfig context to read the World from (implies reading the cluster)")
	f.BoolVar(&o.Live, "live", false, "audit the live cluster (--kubeconfig/--context, else the default kubeconfig): review every object of a kind the rules review, read-only; -f files overlay it; -n limits it to one namespace; mutations are reported as drift")
	f.StringVar(&o.Color, "color", check.ColorAuto, "colour text output: auto (on a terminal, unless NO_COLOR is set), always, never")
	f.IntVar(&o.Workers, "workers", 0, "parallel workers (default: the number of CPUs)")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitBadInput, err: fmt.Errorf("check: %w\n\n%s", err, c.UsageString())}
	})
	return cmd
}
