package main

import (
	"github.com/meshgate/meshgate/webhook"
)

// generatedDir is the chart's directory of generated files.
const generatedDir = "generated"

// Files returns every file generated into the chart, by path relative to the
// chart's directory.
func Files() (map[string][]byte, error) {
	rules, err := webhook.Chart()
	if err != nil {
		return nil, err
	}
	inTree, err := InTree()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		generatedDir + "/rules.yaml":   rules,
		generatedDir + "/in-tree.yaml": inTree,
	}, nil
}
