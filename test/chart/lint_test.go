package chart_test

import (
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestLint runs Helm's linter (what `helm lint --strict` runs) over the
// chart for each TLS variant: no errors and no warnings.
func TestLint(t *testing.T) {
	tests := []struct {
		name   string
		values string
	}{
		{name: "cert-manager", values: ""},
		{name: "generated TLS", values: noCertManager},
		{name: "user-provided TLS", values: "certManager: {enabled: false}\ntls: {existingSecret: mine, caBundle: Q0E=}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(chartDir(), values(t, tt.values), releaseNS, kubeVersion)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				} else {
					t.Logf("lint: %s", m)
				}
			}
		})
	}
}
