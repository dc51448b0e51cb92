package check

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/check/benchcorpus"
)

// BenchmarkCheck10k is the CLI's performance target: a generated corpus of
// 10,000 mixed objects read, positioned, reviewed and reported as JSON. One
// iteration is one `meshgate check -f corpus -o json`; the target is 0.25 s
// wall and 0.4 s CPU on 2 idle cores (see docs/performance.md, and
// hack/bench-check.sh for the end-to-end command with peak memory).
func BenchmarkCheck10k(b *testing.B) {
	dir := b.TempDir()
	n, err := benchcorpus.Write(dir, 10000)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ReportMetric(float64(n), "objects")
	for b.Loop() {
		code, err := Run(context.Background(), Options{Files: []string{dir}, Format: FormatJSON, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil || code == ExitBadInput {
			b.Fatalf("check failed: code %d, %v", code, err)
		}
	}
}

// BenchmarkCheckFormats measures rendering each report format for 1,000 objects.
func BenchmarkCheckFormats(b *testing.B) {
	dir := b.TempDir()
	_, err := benchcorpus.Write(dir, 1000)
	require.NoError(b, err)
	for _, format := range Formats {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Run(context.Background(), Options{Files: []string{dir}, Format: format, Stdout: io.Discard, Stderr: io.Discard, Color: ColorNever}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBenchCorpus(t *testing.T) {
	dir := t.TempDir()
	n, err := benchcorpus.Write(dir, 2000)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 2000)
	r := runCheck(t, Options{Files: []string{dir}, Format: FormatJSON})
	require.NoError(t, r.err)
	rep := decodeJSON(t, r.stdout)
	require.Empty(t, rep.Errors, "the corpus is valid input")
	require.Equal(t, n, rep.Summary.Objects)
	kinds := map[string]bool{}
	for _, c := range rep.Changes {
		kinds[c.Object.Kind+"/"+c.Rule] = true
	}
	for _, f := range rep.Findings {
		kinds[f.Object.Kind+"/"+f.Rule] = true
	}
	for _, want := range []string{"Deployment/edge-proxy-istio-certs", "Mapping/mapping-istio-tls", "Service/service-port-protocol", "Service/service-port-name", "VirtualService/virtualservice-gateway-ref", "Mapping/mapping-tls-context"} {
		require.True(t, kinds[want], "the corpus exercises %s (got %v)", want, kinds)
	}
}
