package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/internal/intree"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/webhook"
)

// newInTreeCommand writes the rules' in-tree policies (see docs/in-tree.md).
func newInTreeCommand() *cobra.Command {
	return inTreeCommand("in-tree")
}

// newPoliciesCommand is `meshgate policies`, the name `meshgate in-tree` had
// in 0.1.0: hidden, and deprecated in its favour.
func newPoliciesCommand() *cobra.Command {
	cmd := inTreeCommand("policies")
	cmd.Deprecated = "use `meshgate in-tree`"
	cmd.Hidden = true
	return cmd
}

// inTreeCommand is the command that writes the in-tree policies, named name.
func inTreeCommand(name string) *cobra.Command {
	var (
		configPath, out, namespace, serviceAccount string
		static, explain                            bool
		o                                          intree.Options
	)
	cmd := &cobra.Command{
		Use:   name + " [--config FILE] [-o DIR|-] [--static] [--explain]",
		Short: "Write the in-tree policies (ValidatingAdmissionPolicy, MutatingAdmissionPolicy) for a configuration",
		Long: `Write, for the configuration given (the file meshgate serve and meshgate check
read), the ValidatingAdmissionPolicies and MutatingAdmissionPolicies
(admissionregistration.k8s.io/v1) with their bindings that let the API server
apply the rules, or the parts of rules, that need nothing but the object and
its namespace, without calling meshgate. A rule in mode enforce is bound with
action Deny, in mode warn with Warn; a rule that is off gets no binding.

-o - (the default) writes one YAML stream to standard output; -o DIR writes
one file per rule, <rule-id>.yaml. --static names the objects *.static.k8s.io,
for the API server's static manifests directory. --explain prints, instead,
which part of which rule the policies cover. See docs/in-tree.md.`,
		Example: `  meshgate in-tree --config meshgate.yaml | kubectl apply -f -
  meshgate in-tree --config meshgate.yaml --namespace meshgate-system -o in-tree/
  meshgate in-tree --static -o /etc/kubernetes/admission/
  meshgate in-tree --explain`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if explain {
				return intree.Explain(cmd.OutOrStdout())
			}
			cfg, err := policy.LoadConfig(configPath)
			if err != nil {
				return &exitError{code: exitBadInput, err: err}
			}
			o.Static = static
			if namespace != "" {
				o.ExcludeNamespaces = append(o.ExcludeNamespaces, namespace)
			}
			o.ServiceAccountUser = webhook.ServiceAccountUser(namespace, serviceAccount)
			set, err := intree.Generate(cfg, o)
			if err != nil {
				return err
			}
			if out == "-" || out == "" {
				return intree.WriteYAML(cmd.OutOrStdout(), set.Objects())
			}
			if err := intree.WriteDir(out, set); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "meshgate configuration file (defaults when empty)")
	f.StringVarP(&out, "output", "o", "-", "directory to write one file per rule into, or - for standard output")
	f.BoolVar(&static, "static", false, "name the objects *.static.k8s.io, for the API server's static manifests directory")
	f.BoolVar(&explain, "explain", false, "print which parts of which rules the policies cover, and exit")
	f.StringVar(&namespace, "namespace", "", "meshgate's own namespace: not matched, as the webhook configurations leave it out")
	f.StringVar(&serviceAccount, "service-account", "", "meshgate's own service account (with --namespace): its requests are not matched")
	f.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", nil, "more namespaces the policies never match (repeatable)")
	return cmd
}
