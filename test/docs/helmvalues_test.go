/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package docs

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// helmValues is the Helm chart's values table; `make docs` (and `make
// helm`) write it with helm-docs from dist/chart/values.yaml.
const helmValues = "docs/reference/helm-values.md"

// TestHelmValuesAreGenerated regenerates the values table with `make
// helm-values HELM_VALUES=...` (helm-docs from bin/) and fails when the
// committed docs/reference/helm-values.md differs: values.yaml changed and `make
// helm` was not run, or the table was edited by hand. Then every value has
// a description: helm-docs lists a value without a "# --" comment (or with
// one it misreads) with an empty one, which users would find unexplained.
func TestHelmValuesAreGenerated(t *testing.T) {
	text := sameAsGenerated(t, helmValues, "helm-values", "HELM_VALUES")
	keys := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Key |") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		key := strings.TrimSpace(cells[0])
		keys[strings.Split(key, ".")[0]] = true
		if len(cells) < 4 || strings.TrimSpace(cells[len(cells)-1]) == "" {
			t.Errorf("%s:%d: value %s has no description: give it a \"# --\" comment in hack/helmchart/static/values.yaml.gotmpl (no \" --\" inside it), then `make helm`",
				helmValues, i+1, key)
		}
	}
	// Every section of values.yaml is in the table: helm-docs did not skip
	// the chart or a part of it.
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(strings.Join(readDoc(t, "dist/chart/values.yaml"), "\n")), &tree); err != nil {
		t.Fatal(err)
	}
	for section := range tree {
		if !keys[section] {
			t.Errorf("%s has no value of the section %s of dist/chart/values.yaml", helmValues, section)
		}
	}
}
