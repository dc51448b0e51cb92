// Package registry_test proves that a rule is one value: a rule registered
// here, and nowhere else, is run by the engine, registered with the API server
// (webhook configurations, and so the chart), listed in the CLI's JUnit and
// SARIF reports, and its World kind is cached and granted. It also keeps the
// docs' rule index in step with the registry.
package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshgate/meshgate/internal/check"
	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world"
	"github.com/meshgate/meshgate/internal/world/cached"
	"github.com/meshgate/meshgate/webhook"
)

const (
	fakeRule  = "widget-color"
	fakeGroup = "example.meshgate.io"
	// gadgets are the World kind the fake rule reads.
	gadgetKind policy.WorldKind = "example.meshgate.io/Gadget"
)

var widgetGK = schema.GroupKind{Group: fakeGroup, Kind: "Widget"}

// registerFakeRule registers a mutation that paints Widgets blue and reads
// Gadgets from the World, for the duration of the test; it returns how often
// the rule's function was called.
func registerFakeRule(t *testing.T) *atomic.Int32 {
	t.Helper()
	calls := &atomic.Int32{}
	policy.Declare(policy.Decl[policy.ObjectMeta]{
		KindDecl: policy.KindDecl{
			Name: gadgetKind, APIKinds: []policy.APIKind{{Group: fakeGroup, Kind: "Gadget", Resource: "gadgets", CRD: "gadgets." + fakeGroup}},
			Lookups: policy.ByKey, Words: "gadgets", MetadataOnly: true,
		},
		Decode: func(o metav1.Object) (policy.ObjectMeta, error) {
			return policy.ObjectMeta{Namespace: o.GetNamespace(), Name: o.GetName()}, nil
		},
	})
	restore := policy.RegisterScoped(policy.Rule{
		ID:       fakeRule,
		Summary:  "widgets are blue",
		Mutation: true,
		Default:  policy.Warn,
		Reads:    []policy.WorldKind{gadgetKind},
		Reviews: []policy.Review{{
			Kinds: []policy.Kind{{
				Group: fakeGroup, Kind: "Widget", Resource: "widgets", Versions: []string{"v1"},
				Operations: []policy.Operation{policy.Create, policy.Update},
			}},
			Check: policy.ObjectFunc(func(_ context.Context, obj *unstructured.Unstructured, tg policy.Target, _ policy.World, cfg *policy.Config) (policy.Report, error) {
				calls.Add(1)
				rep := tg.NewReport()
				labels := field.NewPath("metadata", "labels")
				color := labels.Key("color")
				switch c := obj.GetLabels()["color"]; c {
				case "blue":
				case "":
					rep.SetKey(fakeRule, labels, obj.GetLabels(), "color", "blue", "widgets are blue")
				default:
					rep.Find(fakeRule, cfg.Mode(fakeRule), color, "a %s widget stays %s", c, c)
				}
				return rep, nil
			}),
		}},
	})
	t.Cleanup(func() {
		restore()
		policy.Undeclare(gadgetKind)
	})
	return calls
}

func widget(color string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": fakeGroup + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "shop", "labels": map[string]any{}},
	}}
	if color != "" {
		u.SetLabels(map[string]string{"color": color})
	}
	return u
}

func TestAFakeRuleIsSeenEverywhere(t *testing.T) {
	before := engine.New(nil)
	require.False(t, before.Handles(widgetGK), "no rule reviews Widgets yet")
	calls := registerFakeRule(t)

	t.Run("engine dispatch", func(t *testing.T) {
		e := engine.New(nil)
		require.True(t, e.Handles(widgetGK))
		assert.Equal(t, []string{fakeRule}, e.Rules(widgetGK))
		res, err := e.Review(context.Background(), engine.Input{Object: widget("")}, world.NewMemory(""))
		require.NoError(t, err)
		require.Len(t, res.Changes, 1)
		assert.Equal(t, fakeRule, res.Changes[0].Rule)
		assert.Equal(t, "blue", res.Object.GetLabels()["color"])
		res, err = e.Review(context.Background(), engine.Input{Object: widget("red")}, world.NewMemory(""))
		require.NoError(t, err)
		require.Len(t, res.Findings, 1)
		assert.Equal(t, policy.Warn, res.Findings[0].Mode, "the rule's default mode")
	})

	t.Run("off is decided once: the rule is never called", func(t *testing.T) {
		cfg := policy.DefaultConfig()
		require.Equal(t, policy.Warn, cfg.Mode(fakeRule), "the configuration knows the rule and its default")
		cfg.Rules[fakeRule] = policy.Off
		e := engine.New(cfg)
		assert.False(t, e.Handles(widgetGK))
		n := calls.Load()
		res, err := e.Review(context.Background(), engine.Input{Object: widget("")}, world.NewMemory(""))
		require.NoError(t, err)
		assert.False(t, res.Changed())
		assert.Equal(t, n, calls.Load(), "an off rule's function is not called")
	})

	t.Run("webhook configurations and the chart", func(t *testing.T) {
		m, v := webhook.Configurations(webhook.RegistrationOptions{ClientConfig: webhook.URLClientConfig("https://127.0.0.1:9443", nil)})
		want := admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{fakeGroup}, APIVersions: []string{"v1"}, Resources: []string{"widgets"},
				Scope: m.Webhooks[0].Rules[0].Scope},
		}
		assert.Contains(t, m.Webhooks[0].Rules, want, "a mutation's kind is sent to the mutating webhook")
		assert.Contains(t, v.Webhooks[0].Rules, want, "and to the validating one")
		chart, err := webhook.Chart()
		require.NoError(t, err)
		assert.Contains(t, string(chart), "- widgets\n", "the chart's webhook rules are generated from the registry")
		assert.Contains(t, string(chart), "- gadgets\n", "the chart's ClusterRole is generated from the World kinds the rules read")
	})

	t.Run("World kinds: informers and RBAC", func(t *testing.T) {
		var kinds []policy.WorldKind
		for _, k := range policy.WorldKindsRead() {
			kinds = append(kinds, k.Kind)
		}
		assert.Contains(t, kinds, gadgetKind, "the server caches what a rule reads")
		informers := cached.New(nil, nil, cached.Options{}).Informers()
		assert.Contains(t, informers, schema.GroupKind{Group: fakeGroup, Kind: "Gadget"}, "the World's informers")
		assert.Equal(t, []string{fakeRule}, policy.RulesReading(gadgetKind))
		var granted []string
		for _, r := range webhook.ClusterRoleRules() {
			for _, res := range r.Resources {
				granted = append(granted, r.APIGroups[0]+"/"+res)
			}
		}
		assert.Contains(t, granted, fakeGroup+"/gadgets")
	})

	t.Run("JUnit and SARIF rule lists", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "widget.yaml")
		require.NoError(t, os.WriteFile(path, []byte("apiVersion: example.meshgate.io/v1\nkind: Widget\nmetadata: {name: w, namespace: shop, labels: {color: red}}\n"), 0o644))
		run := func(format string) string {
			var out, errOut bytes.Buffer
			_, err := check.Run(context.Background(), check.Options{Files: []string{path}, Format: format, WorkDir: dir,
				Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
			require.NoError(t, err, errOut.String())
			return out.String()
		}
		assert.Contains(t, run(check.FormatJUnit), `classname="meshgate.`+fakeRule+`"`)
		var sarif struct {
			Runs []struct {
				Tool struct {
					Driver struct {
						Rules []struct {
							ID string `json:"id"`
						} `json:"rules"`
					} `json:"driver"`
				} `json:"tool"`
			} `json:"runs"`
		}
		require.NoError(t, json.Unmarshal([]byte(run(check.FormatSARIF)), &sarif))
		require.Len(t, sarif.Runs, 1)
		var ids []string
		for _, r := range sarif.Runs[0].Tool.Driver.Rules {
			ids = append(ids, r.ID)
		}
		assert.Contains(t, ids, fakeRule)
	})
}

// TestTheDocsIndexTheRules keeps docs/rules.md and the README's rule table in
// step with the registry: every registered rule has a section and a row whose
// kind (mutation or validation) and default agree, and there is no section or
// row for a rule that does not exist.
func TestTheDocsIndexTheRules(t *testing.T) {
	rulesDoc, err := os.ReadFile("../../docs/rules.md")
	require.NoError(t, err)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)

	sections := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^## ([a-z0-9-]+) \((mutation|validation)`).FindAllStringSubmatch(string(rulesDoc), -1) {
		sections[m[1]] = m[2]
	}
	rows := map[string][2]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| (mutation|validation)[^|]*\\| ([^|]+) \\|").FindAllStringSubmatch(string(readme), -1) {
		rows[m[1]] = [2]string{m[2], strings.TrimSpace(m[3])}
	}
	var ids []string
	for _, r := range policy.Rules() {
		ids = append(ids, r.ID)
		kind := "validation"
		if r.Mutation {
			kind = "mutation"
		}
		assert.Equal(t, kind, sections[r.ID], "docs/rules.md needs a section \"## %s (%s: ...)\"", r.ID, kind)
		row, ok := rows[r.ID]
		if assert.True(t, ok, "README.md's rule table needs a row for %s", r.ID) {
			assert.Equal(t, kind, row[0], "README.md: %s", r.ID)
			if r.Mutation {
				assert.True(t, strings.HasPrefix(row[1], "on"), "README.md: mutation %s is on by default, not %q", r.ID, row[1])
			} else {
				assert.Equal(t, string(r.Default), row[1], "README.md: %s's default", r.ID)
			}
		}
	}
	require.NotEmpty(t, ids, "the rules register themselves when the engine is linked")
	for id := range sections {
		assert.True(t, slices.Contains(ids, id), "docs/rules.md documents %s, which is not a rule", id)
	}
	for id := range rows {
		assert.True(t, slices.Contains(ids, id), "README.md lists %s, which is not a rule", id)
	}
}
