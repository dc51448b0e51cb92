package webhook

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/policy"
)

func finding(msg string) policy.Finding {
	return policy.Finding{
		Rule: policy.ServicePortName, Mode: policy.Warn, Field: "spec.ports[0].name", Message: msg,
		Object: policy.ObjectRef{APIVersion: "v1", Kind: "Service", Namespace: "apps", Name: "web"},
	}
}

func TestWarningsFitTheAPIServerLimits(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name  string
		in    []policy.Finding
		check func(t *testing.T, out []string)
	}{
		{"none", nil, func(t *testing.T, out []string) { assert.Nil(t, out) }},
		{"one short warning is the finding's line", []policy.Finding{finding("rename it")}, func(t *testing.T, out []string) {
			assert.Equal(t, []string{"[service-port-name] Service apps/web: spec.ports[0].name: rename it"}, out)
		}},
		{"a long warning is not cut while the total fits", []policy.Finding{finding(long)}, func(t *testing.T, out []string) {
			require.Len(t, out, 1)
			assert.True(t, strings.HasSuffix(out[0], long))
		}},
		{"control characters become spaces", []policy.Finding{finding("line one\nline two\ttab\x00")}, func(t *testing.T, out []string) {
			require.Len(t, out, 1)
			assert.False(t, strings.ContainsFunc(out[0], unicode.IsControl), out[0])
			assert.Contains(t, out[0], "line one line two tab")
		}},
		{"invalid UTF-8 is replaced", []policy.Finding{finding("bad \xff byte")}, func(t *testing.T, out []string) {
			assert.True(t, utf8.ValidString(out[0]))
		}},
		{"duplicates are sent once", []policy.Finding{finding("same"), finding("same")}, func(t *testing.T, out []string) {
			assert.Len(t, out, 1)
		}},
		{"past 4096 runes each is cut to 256 and the rest summarised", manyFindings(40, long), func(t *testing.T, out []string) {
			total := 0
			for _, w := range out {
				n := utf8.RuneCountInString(w)
				assert.LessOrEqual(t, n, WarningItemRunes)
				total += n
			}
			assert.LessOrEqual(t, total, WarningTotalRunes)
			assert.True(t, strings.HasSuffix(out[0], "…"), "a cut is visible")
			assert.Contains(t, out[len(out)-1], "more warnings not shown")
			assert.Less(t, len(out), 40)
		}},
		{"past 4096 runes but few enough after cutting: all kept, cut", manyFindings(12, long), func(t *testing.T, out []string) {
			require.Len(t, out, 12)
			for _, w := range out {
				assert.Equal(t, WarningItemRunes, utf8.RuneCountInString(w))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, Warnings(tc.in)) })
	}
}

func manyFindings(n int, msg string) []policy.Finding {
	out := make([]policy.Finding, n)
	for i := range out {
		out[i] = finding(fmt.Sprintf("%d %s", i, msg))
	}
	return out
}

func TestDenialMessage(t *testing.T) {
	one := []policy.Finding{finding("first")}
	assert.Equal(t, "[service-port-name] Service apps/web: spec.ports[0].name: first", DenialMessage(one))
	two := append(one, finding("second\nline"))
	assert.Equal(t, "2 problems:\n[service-port-name] Service apps/web: spec.ports[0].name: first\n[service-port-name] Service apps/web: spec.ports[0].name: second line", DenialMessage(two))
}

func TestParseTLSVersion(t *testing.T) {
	for in, want := range map[string]uint16{"": 0x0304, "1.2": 0x0303, "1.3": 0x0304, "VersionTLS12": 0x0303, "VersionTLS13": 0x0304} {
		got, err := ParseTLSVersion(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"1.1", "1.0", "tls13", "2"} {
		_, err := ParseTLSVersion(bad)
		assert.Error(t, err, bad)
	}
}

// TestDenialCapped: a Service with 20,000 ports Istio cannot read is denied
// through the handler with a message and causes cut to DenialMaxBytes, the
// count of what was left out, and the total still given.
func TestDenialCapped(t *testing.T) {
	ports := make([]any, 20000)
	for i := range ports {
		ports[i] = map[string]any{"name": fmt.Sprintf("web%d", i), "port": int64(1000 + i)}
	}
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "wide", "namespace": "apps"},
		"spec":     map[string]any{"selector": map[string]any{"app": "wide"}, "ports": ports},
	}}
	hook := newHook(t, Validating, HandlerOptions{World: defaultWorld(t)})
	start := time.Now()
	_, resp := post(t, hook, reviewOf(t, svc, admissionv1.Create, "apps"))
	t.Logf("20,000-port denial: %d bytes, %d causes, %s", len(resp.Result.Message), len(resp.Result.Details.Causes), time.Since(start))
	require.False(t, resp.Allowed)
	msg := resp.Result.Message
	assert.LessOrEqual(t, len(msg), DenialMaxBytes)
	// Port 3306 (1000+2306) is TCP whatever its name: 19,999 problems.
	assert.True(t, strings.HasPrefix(msg, "19999 problems:\n"), msg[:40])
	assert.Contains(t, msg, `"web0"`)
	lines := strings.Split(msg, "\n")
	shown := len(lines) - 2
	assert.Greater(t, shown, 10)
	assert.Equal(t, fmt.Sprintf("[meshgate] %d more problems not shown: run `meshgate check` on the object to see them all", 19999-shown), lines[len(lines)-1])
	assert.Len(t, resp.Result.Details.Causes, shown)
}

func TestDenialMessageCutsOneHugeFinding(t *testing.T) {
	huge := finding(strings.Repeat("é", DenialMaxBytes))
	msg := DenialMessage([]policy.Finding{huge})
	assert.LessOrEqual(t, len(msg), DenialMaxBytes)
	assert.True(t, utf8.ValidString(msg))
	assert.True(t, strings.HasSuffix(msg, "…"), msg[len(msg)-10:])
	two := DenialMessage([]policy.Finding{finding("short"), huge})
	assert.LessOrEqual(t, len(two), DenialMaxBytes)
	assert.Contains(t, two, "short")
}
