package check

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshgate/meshgate/internal/check/schematest"
	"github.com/meshgate/meshgate/internal/policy"
)

// sarifLog is the part of a SARIF log GitHub code scanning needs.
type sarifLog struct {
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string `json:"name"`
				Rules []struct {
					ID               string `json:"id"`
					HelpURI          string `json:"helpUri"`
					ShortDescription struct {
						Text string `json:"text"`
					} `json:"shortDescription"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID  string `json:"ruleId"`
			Level   string `json:"level"`
			Message struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
		} `json:"results"`
		Invocations []struct {
			ExecutionSuccessful        bool `json:"executionSuccessful"`
			ToolExecutionNotifications []struct {
				Level string `json:"level"`
			} `json:"toolExecutionNotifications"`
		} `json:"invocations"`
	} `json:"runs"`
}

func TestSARIF(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	tests := []struct {
		name        string
		opts        Options
		wantResults map[string]string // uri:line -> level
		wantOK      bool
	}{
		{
			name:        "enforce findings are errors at their file and line",
			opts:        Options{Files: []string{cli + "/enforce", cli + "/list"}},
			wantResults: map[string]string{"testdata/cli/enforce/vs.yaml:12": "error", "testdata/cli/list/list.yaml:17": "error"},
			wantOK:      true,
		},
		{
			name:        "warnings are warnings",
			opts:        Options{Files: []string{cli + "/enforce"}, ConfigFile: cli + "/warn.yaml"},
			wantResults: map[string]string{"testdata/cli/enforce/vs.yaml:12": "warning"},
			wantOK:      true,
		},
		{
			name:        "no findings still give a valid log with an empty results list",
			opts:        Options{Files: []string{cli + "/clean"}},
			wantResults: map[string]string{},
			wantOK:      true,
		},
		{
			name:        "input errors are tool notifications and the run is not successful",
			opts:        Options{Files: []string{cli + "/broken"}},
			wantResults: map[string]string{"testdata/cli/broken/bad.yaml:21": "error"},
			wantOK:      false,
		},
		{
			name:        "standard input",
			opts:        Options{Files: []string{"-"}, Stdin: mustOpen(t, cli+"/enforce/vs.yaml")},
			wantResults: map[string]string{"stdin:12": "error"},
			wantOK:      true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Format = FormatSARIF
			tt.opts.WorkDir = wd
			r := runCheck(t, tt.opts)
			require.NoError(t, r.err)
			schematest.ValidateSARIF(t, []byte(r.stdout))

			var log sarifLog
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &log))
			assert.Equal(t, "2.1.0", log.Version)
			require.Len(t, log.Runs, 1)
			run := log.Runs[0]
			assert.Equal(t, "meshgate", run.Tool.Driver.Name)
			ids := map[string]bool{}
			for _, rule := range run.Tool.Driver.Rules {
				ids[rule.ID] = true
				assert.NotEmpty(t, rule.HelpURI)
				assert.NotEmpty(t, rule.ShortDescription.Text)
			}
			assert.Len(t, ids, len(policy.Rules()), "every rule is described")
			assert.NotNil(t, run.Results, "GitHub needs results, even empty")
			got := map[string]string{}
			for _, res := range run.Results {
				assert.True(t, ids[res.RuleID], "result rule %s is described", res.RuleID)
				assert.NotEmpty(t, res.Message.Text)
				require.Len(t, res.Locations, 1)
				pl := res.Locations[0].PhysicalLocation
				got[pl.ArtifactLocation.URI+":"+strconv.Itoa(pl.Region.StartLine)] = res.Level
			}
			assert.Equal(t, tt.wantResults, got)
			require.Len(t, run.Invocations, 1)
			assert.Equal(t, tt.wantOK, run.Invocations[0].ExecutionSuccessful)
			if !tt.wantOK {
				assert.NotEmpty(t, run.Invocations[0].ToolExecutionNotifications)
			}
		})
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestSchemaRejectsInvalidSARIF proves the validation can fail.
func TestSchemaRejectsInvalidSARIF(t *testing.T) {
	for _, path := range schematest.SARIF {
		assert.Error(t, schematest.Validate(t, path, []byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{}},"results":[{"level":"fatal","message":{"text":"x"}}]}]}`)), path)
	}
}
