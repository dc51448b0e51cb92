package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/internal/native"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/webhook"
)

// newPoliciesCommand writes the rules' in-tree admission policies (see
// docs/native-policies.md).
func newPoliciesCommand() *cobra.Command {
	var (
		configPath, out, namespace, serviceAccount string
		static, explain                            bool
		o                                          native.Options
	)
	cmd := &cobra.Command{
		Use:   "policies [--config FILE] [-o DIR|-] [--static] [--explain]",
		Short: "Write the in-tree admission policies (ValidatingAdmissionPolicy, MutatingAdmissionPolicy) for a configuration",
		Long: `Write, for the configuration given (the file meshgate serve and meshgate check
read), the ValidatingAdmissionPolicies and MutatingAdmissionPolicies
(admissionregistration.k8s.io/v1) with their bindings that let the API server
apply the rules, or the parts of rules, that need nothing but the object and
its namespace, without calling meshgate. A rule in mode enforce is bound with
action Deny, in mode warn with Warn; a rule that is off gets no binding.

-o - (the default) writes one YAML stream to standard output; -o DIR writes
one file per rule, <rule-id>.yaml. --static names the objects *.static.k8s.io,
for the API server's static manifests directory. --explain prints, instead,
which part of which rule the policies cover. See docs/native-policies.md.`,
		Example: `  meshgate policies --config meshgate.yaml | kubectl apply -f -
  meshgate policies --config meshgate.yaml --namespace meshgate-system -o policies/
  meshgate policies --static -o /etc/kubernetes/admission/
  meshgate policies --explain`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if explain {
				return native.Explain(cmd.OutOrStdout())
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
			set, err := native.Generate(cfg, o)
			if err != nil {
				return err
			}
			if out == "-" || out == "" {
				return native.WriteYAML(cmd.OutOrStdout(), set.Objects())
			}
			if err := native.WriteDir(out, set); err != nil {
				return fmt.Errorf("policies: %w", err)
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
